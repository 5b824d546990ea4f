"""Writes about customers and their credentials."""

from collections.abc import Iterable

from django.db import transaction

from devices.models import ApiKey, Customer
from optimus_site.bulk import ensure_external_ids


def customers_ensure(*, external_ids: Iterable[str], cache: dict[str, int]) -> int:
    """Fills `cache` with {external_id: pk} for every id, creating the unknown ones; returns how
    many were created. New customers are created with default settings."""
    return ensure_external_ids(Customer, external_ids, cache)


@transaction.atomic
def api_key_create(*, name: str) -> tuple[ApiKey, str]:
    """Creates a server API key. Returns the key and its plain value, which is never stored."""
    plain, prefix, hashed = ApiKey.generate()
    key = ApiKey.objects.create(name=name, prefix=prefix, hashed_secret=hashed)
    return key, plain
