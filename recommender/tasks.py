"""Celery tasks of the recommender (queue `train`)."""

import logging

from celery import shared_task
from django.core.cache import cache
from django.utils.dateparse import parse_datetime

from recommender.training import model_train

log = logging.getLogger(__name__)

TRAIN_LOCK = "lock:recommender.train"
TRAIN_LOCK_SECONDS = 6 * 3600  # a crashed run frees the lock after this at the latest


@shared_task(name="recommender.train", acks_late=True)  # queue `train`: see CELERY_TASK_ROUTES
def train(now: str | None = None, since: str | None = None) -> int | None:
    """Fits every model (see recommender.training). One run at a time: a run that finds another in
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
