"""Keeps the credential cache honest: once a save or delete of a key or token (a cascade from an
erased customer included) has committed, no row cached before it is used again."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from devices import credential_cache
from devices.models import ApiKey, CustomerToken


@receiver(post_save, sender=ApiKey)
@receiver(post_save, sender=CustomerToken)
@receiver(post_delete, sender=ApiKey)
@receiver(post_delete, sender=CustomerToken)
def credential_changed(sender, instance, **kwargs) -> None:
    credential_cache.changed(sender, [instance.prefix])
