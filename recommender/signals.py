"""An erased customer is removed from the saved model files too, not only from the database."""

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from devices.models import Customer
from recommender.models import ModelErasure


@receiver(post_delete, sender=Customer)
def customer_erased(sender, instance: Customer, **kwargs) -> None:
    # Recorded in the erasure's own transaction, so a lost task loses nothing: the next clean-up (or
    # the end of the next training run) still finds it. The clean-up runs once the erasure commits.
    ModelErasure.objects.get_or_create(customer_pk=instance.pk)
    # robust: a broker that is down must not turn a done erasure into an error for the caller.
    transaction.on_commit(_queue_clean_up, robust=True)


def _queue_clean_up() -> None:
    # Here, not at the top: the task module imports the training code (pandas, scikit-learn), which
    # a process that never erases anyone need not load when the app starts.
    from recommender.tasks import forget_in_models

    forget_in_models.delay()
