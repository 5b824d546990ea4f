"""Celery tasks of the recommender app (the training run itself is campaigns.tasks.train)."""

from celery import shared_task

from recommender.training import artifacts_forget_erased


# Not "recommender.*": that routes to the `train` queue, where a long training run would hold an
# erasure back for its whole length.
@shared_task(name="erasure.forget_in_models")
def forget_in_models() -> int:
    """Removes the customers erased since the last clean-up from every saved model file."""
    return artifacts_forget_erased()
