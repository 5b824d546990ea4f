"""The Celery app. Queues: `train`, `plan`, `send` (see README, "Running in production")."""

import os
import time

from celery import Celery
from celery.signals import before_task_publish

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "optimus_site.settings")


def _lost_broker_is_a_connection_error() -> None:
    """Keeps a worker alive when Redis goes away while it holds unacknowledged messages.

    With celery 5.7 / kombu 5.7 on Redis, a worker that loses its broker connection while tasks run
    (acks_late) or wait in its prefetch buffer dies with "Unrecoverable error: AttributeError:
    'NoneType' object has no attribute 'hostname'" (or 'client'): the consumer detaches the transport
    from the broken connection, then closing the channel (restore the unacknowledged messages) and,
    after reconnecting, acknowledging a finished task on the old channel both ask that detached
    transport for its address. Both callers ignore connection errors, so saying "the connection is
    gone" as one lets the worker reconnect and carry on; the messages stay in Redis's unacked set
    and are delivered again after the visibility timeout (bench/faults.py, scenario 2).
    """
    from kombu.transport import redis as kombu_redis

    connparams = getattr(kombu_redis.Channel, "_connparams", None)
    if connparams is None or getattr(connparams, "optimus_guard", False):
        return  # another kombu: nothing to guard (or already guarded)

    def guarded(self, *args, **kwargs):
        transport = self.connection
        if transport is None or transport.client is None:
            raise kombu_redis.get_redis_ConnectionError()("the broker connection was closed")
        return connparams(self, *args, **kwargs)

    guarded.optimus_guard = True
    kombu_redis.Channel._connparams = guarded


_lost_broker_is_a_connection_error()

app = Celery("optimus")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@before_task_publish.connect
def _stamp_publish_time(headers=None, **kwargs) -> None:
    """Every task message carries when it was published (task.request.published_at, epoch seconds),
    kept when Redis delivers it again: a send batch runs by the dispatcher's clock plus its wait."""
    if headers is not None:
        headers.setdefault("published_at", time.time())


@app.task(name="optimus.ping")
def ping() -> str:
    """Round trip used by the health check and the tests to prove a worker is listening."""
    return "pong"
