"""Writes about the catalog and behaviour."""

from collections.abc import Iterable

from optimus_site.bulk import ensure_external_ids
from recommender.models import Category, Item


def items_ensure(*, external_ids: Iterable[str], cache: dict[str, int]) -> int:
    """Fills `cache` with {external_id: pk} for every id, creating the unknown ones; returns how
    many were created. New items are created (available, no title yet)."""
    return ensure_external_ids(Item, external_ids, cache)


def categories_ensure(*, external_ids: Iterable[str], cache: dict[str, int]) -> int:
    """Fills `cache` with {external_id: pk} for every id, creating the unknown ones; returns how
    many were created. New categories are created at the root."""
    return ensure_external_ids(Category, external_ids, cache)
