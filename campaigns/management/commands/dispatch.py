"""manage.py dispatch [--now ISO] — sends everything due at or before now (DESIGN.md).

Without a broker the sending happens in this process. With one, batches go to Celery workers on
the `send` queue and the command returns when they are done (or --timeout passes: then it says how
many notifications are unconfirmed and exits 1; none is lost, a later dispatch reclaims them)."""

import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.dispatcher import SendReport, dispatch
from campaigns.models import Notification
from optimus_site.dbutils import ensure_schema, parse_moment


class Command(BaseCommand):
    help = "Send every notification due at or before now; returns when the provider calls have finished."

    def add_arguments(self, parser):
        parser.add_argument("--now", help="the sending clock, ISO 8601 (default: now)")
        parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for workers (with a broker)")

    def handle(self, *args, **options):
        ensure_schema(self.stderr)
        now = parse_moment(options["now"], "--now") if options["now"] else timezone.now()
        if settings.CELERY_TASK_ALWAYS_EAGER:
            report = dispatch(now=now)
        else:
            from campaigns.tasks import send_batch

            pending = []

            def send(batch):
                pending.append((batch, send_batch.delay(batch, now.isoformat())))

            report = dispatch(now=now, send=send)
            deadline = time.monotonic() + options["timeout"]
            unconfirmed = []
            for batch, result in pending:
                answer = _wait(result, deadline, self.stderr)
                if answer is None:
                    unconfirmed += batch
                else:
                    report.add(SendReport(**_fields(answer)))
            if unconfirmed:
                self.stdout.write(json.dumps(report.as_dict(), indent=2))
                waiting = Notification.objects.filter(
                    pk__in=unconfirmed, status__in=(Notification.Status.QUEUED, Notification.Status.SENDING)
                ).count()
                raise CommandError(
                    f"{len(unconfirmed)} notifications were handed to workers without an answer within "
                    f"{options['timeout']:g} s (workers busy or down, or the broker lost their batches); "
                    f"{waiting} of them are still waiting to be sent: the dispatcher claims them again "
                    f"{settings.SEND_CLAIM_TIMEOUT_S} s after they were handed out, and sends only what "
                    "the provider has not accepted."
                )
        self.stdout.write(json.dumps(report.as_dict(), indent=2))
        self.stdout.write(self.style.SUCCESS(f"sent {report.sent} notifications ({report.delivered} deliveries)"))


def _wait(result, deadline: float, log) -> dict | None:
    """The batch's report, or None when it did not come by the deadline. A broker that goes away
    (restarting) is waited for, not a reason to stop: its workers may well be sending."""
    from celery.exceptions import TimeoutError as CeleryTimeoutError
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError

    while (left := deadline - time.monotonic()) > 0:
        try:
            answer = result.get(timeout=left, propagate=False)
        except CeleryTimeoutError:
            return None
        # The Redis result backend reconnects by itself for a while, then gives up (a RuntimeError
        # from its drainer, or the connection error itself): the broker may be back by the next try.
        except (OperationalError, RedisConnectionError, ConnectionError, RuntimeError) as exc:
            log.write(f"lost the broker while waiting for the workers ({exc}); trying again")
            time.sleep(min(1.0, max(left, 0)))
            continue
        if result.failed():
            log.write(f"a send batch failed in its worker: {answer!r}")
            return None
        return answer
    return None


def _fields(data: dict) -> dict:
    from collections import Counter

    return {**data, "suppressed": Counter(data.get("suppressed", {}))}
