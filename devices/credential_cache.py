"""A shared cache of API keys and customer tokens, so that authenticating a request costs one
cache round trip instead of a database query.

Only used when the cache is shared by every process (CACHE_URL=redis://…, which sets
CREDENTIAL_CACHE_SECONDS): a revocation must stop the credential everywhere at once, and an
in-process cache in another gunicorn worker would not hear about it.

Why a generation and not just "delete the entry": a request that missed the cache reads the row
from the database and then caches it. If a revocation commits between that read and that write,
deleting the entry before (or even after) the commit does not help: the request writes the old,
active row back after the delete. So each credential has a *generation* — a random token in the
cache — and an entry is stored together with the generation read *before* the database query.
Every change (revoke, save, delete — cascades from an erased customer included) sets a new
generation once its transaction has committed, and an entry whose generation is not the current
one is ignored. A request that starts after the change's call returned therefore never trusts a
row read before the change: revocation takes effect on the next request, under any interleaving.

What is cached is the credential row only, never the customer: customer data is read fresh.
"""

import secrets

from django.conf import settings
from django.core.cache import cache
from django.db import transaction


def _key(model, prefix: str) -> str:
    return f"credential:{model._meta.label_lower}:{prefix}"


def _generation_key(model, prefix: str) -> str:
    return f"credential-generation:{model._meta.label_lower}:{prefix}"


def enabled() -> bool:
    return settings.CREDENTIAL_CACHE_SECONDS > 0


def generation(model, prefix: str) -> str:
    """The credential's current generation, created if there is none yet. Read it before reading
    the row from the database, and hand it to `put`."""
    key = _generation_key(model, prefix)
    current = cache.get(key)
    if current is None:
        cache.add(key, secrets.token_hex(8), timeout=None)  # add: a concurrent change's new one wins
        current = cache.get(key)
    return current


def get(model, prefix: str):
    """The cached credential with this prefix, or None when not cached (or cached before its last
    change)."""
    if not enabled():
        return None
    row_key, generation_key = _key(model, prefix), _generation_key(model, prefix)
    found = cache.get_many([row_key, generation_key])
    entry, current = found.get(row_key), found.get(generation_key)
    if not isinstance(entry, tuple) or current is None or entry[0] != current:
        return None
    return entry[1]


def put(credential, generation: str | None) -> None:
    """Caches `credential` as read from the database after `generation` was read."""
    if enabled() and generation is not None:
        cache.set(
            _key(type(credential), credential.prefix), (generation, credential), settings.CREDENTIAL_CACHE_SECONDS
        )


def forget(model, prefixes) -> None:
    """Drops cached rows whose data went stale (last_used_at) — not a change a request must not miss."""
    if enabled() and (keys := [_key(model, prefix) for prefix in prefixes]):
        cache.delete_many(keys)


def changed(model, prefixes) -> None:
    """Call inside the transaction that changes (revokes, edits, deletes) these credentials, or after
    the write outside one: once the change has committed, every row cached before is ignored. The
    generation changes twice — at once, and again after the commit, for the requests that read the
    old row between the two."""
    if not enabled():
        return
    prefixes = list(prefixes)
    if not prefixes:
        return

    def new_generation() -> None:
        cache.set_many({_generation_key(model, prefix): secrets.token_hex(8) for prefix in prefixes}, timeout=None)
        cache.delete_many([_key(model, prefix) for prefix in prefixes])

    new_generation()  # at once too: this process's own next request must not wait for the commit
    transaction.on_commit(new_generation)
