"""Celery tasks of training, planning and sending (queues `train`, `plan` and `send`, see CELERY_TASK_ROUTES)."""

import datetime as dt
import logging
import time

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaigns import dispatcher, planner
from campaigns.training import model_train

log = logging.getLogger(__name__)

PLAN_SHARDS = 8


def _moment(value: str | None):
    return parse_datetime(value) if value else timezone.now()


@shared_task(name="campaigns.plan")
def plan(now: str | None = None, shards: int = PLAN_SHARDS) -> int:
    """Hourly: splits the customers into id ranges and plans each range in its own task, so that
    several worker hosts share the work. Returns how many shard tasks were sent."""
    moment = _moment(now).isoformat()
    ranges = planner.shard_ranges(shards)
    for first, last in ranges:
        plan_shard.delay(moment, first, last)
    return len(ranges)


@shared_task(name="campaigns.plan_shard", acks_late=True)
def plan_shard(now: str, first_id: int, last_id: int) -> dict:
    return planner.plan(now=_moment(now), first_id=first_id, last_id=last_id).as_dict()


@shared_task(name="campaigns.dispatch")
def dispatch(now: str | None = None) -> int:
    """Every minute: claims what is due and hands it to senders in batches; returns the batches."""
    moment = _moment(now)
    sent = []
    dispatcher.dispatch(now=moment, send=lambda batch: sent.append(send_batch.delay(batch, moment.isoformat())))
    return len(sent)


# acks_late: a worker killed mid-batch leaves the message to be redelivered; the lease on each
# delivery and the notification statuses make the second run send only what was not answered.
@shared_task(name="campaigns.send_batch", bind=True, acks_late=True, reject_on_worker_lost=True)
def send_batch(self, ids: list[int], now: str | None = None) -> dict:
    # The dispatcher's clock plus the time this batch waited in the broker (a backlog, a worker that
    # died holding it): the leases and claims it takes must start when it really sends, or they look
    # expired already to a sender of the same notifications claimed again meanwhile, and a delivery
    # would go out twice (bench/faults.py).
    moment = _moment(now) + _waited(self.request) if now else timezone.now()
    return dispatcher.send_notifications(ids, now=moment).as_dict()


def _waited(request) -> dt.timedelta:
    """Time since the task was published (optimus_site.celery stamps `published_at`; 0 when eager)."""
    published = getattr(request, "published_at", None)
    return dt.timedelta(seconds=max(0.0, time.time() - float(published))) if published else dt.timedelta(0)


@shared_task(name="campaigns.cleanup")
def cleanup() -> dict:
    """Nightly: dead devices and old deliveries (see services.cleanup)."""
    from campaigns.services import cleanup as run

    return run()


TRAIN_LOCK = "lock:recommender.train"
TRAIN_LOCK_SECONDS = 6 * 3600  # a crashed run frees the lock after this at the latest


# The name predates the task's move to campaigns: beat's schedule rows and CELERY_TASK_ROUTES
# ("recommender.*" → queue `train`) refer to it, so it stays.
@shared_task(name="recommender.train", acks_late=True)
def train(now: str | None = None, since: str | None = None) -> int | None:
    """Fits every model (see campaigns.training). One run at a time: a run that finds another in
    progress does nothing and returns None; otherwise returns the new model version's id."""
    if not cache.add(TRAIN_LOCK, "1", TRAIN_LOCK_SECONDS):
        log.warning("train: another run is in progress; skipping this one")
        return None
    try:
        result = model_train(
            now=parse_datetime(now) if now else None,
            since=parse_datetime(since) if since else None,
        )
        return result.version.pk
    finally:
        cache.delete(TRAIN_LOCK)
