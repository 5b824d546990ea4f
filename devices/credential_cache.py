"""A shared cache of API keys and customer tokens, so that authenticating a request costs one
cache read instead of a database query.

Only used when the cache is shared by every process (CACHE_URL=redis://…, which sets
CREDENTIAL_CACHE_SECONDS): a revocation must stop the credential everywhere at once, and an
in-process cache in another gunicorn worker would not hear about it. Every change to a credential
row — save, delete (cascades from an erased customer included) and the bulk ``revoke()`` — drops
its entry, once immediately and once more after the transaction commits, so a request racing the
change cannot put the old row back for longer than that transaction.

What is cached is the credential row only, never the customer: customer data is read fresh.
"""

from django.conf import settings
from django.core.cache import cache
from django.db import transaction


def _key(model, prefix: str) -> str:
    return f"credential:{model._meta.label_lower}:{prefix}"


def enabled() -> bool:
    return settings.CREDENTIAL_CACHE_SECONDS > 0


def get(model, prefix: str):
    """The cached credential with this prefix, or None when not cached."""
    return cache.get(_key(model, prefix)) if enabled() else None


def put(credential) -> None:
    if enabled():
        cache.set(_key(type(credential), credential.prefix), credential, settings.CREDENTIAL_CACHE_SECONDS)


def forget(model, prefixes) -> None:
    if not enabled():
        return
    keys = [_key(model, prefix) for prefix in prefixes]
    if not keys:
        return
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))
