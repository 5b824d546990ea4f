"""Writes about the catalog and behaviour."""

import datetime as dt
from collections.abc import Iterable

from django.db import transaction

from devices.models import Customer
from devices.services import customers_ensure
from optimus_site.bulk import BatchResult, ensure_external_ids, insert_ignoring_duplicates
from recommender.ingest import ApiEvent, ApiItem
from recommender.models import Category, Event, Item
from recommender.non_products import looks_like_non_product

EVENT_COLUMNS = [
    "event_id", "customer", "item", "type", "amount", "transaction_id",
    "occurred_at", "received_at", "source", "context",
]  # fmt: skip


def items_ensure(*, external_ids: Iterable[str], cache: dict[str, int]) -> int:
    """Fills `cache` with {external_id: pk} for every id, creating the unknown ones; returns how
    many were created. New items are available and have no title yet."""
    return ensure_external_ids(Item, external_ids, cache)


def categories_ensure(*, external_ids: Iterable[str], cache: dict[str, int]) -> int:
    """Fills `cache` with {external_id: pk} for every id, creating the unknown ones; returns how
    many were created. New categories sit at the root."""
    return ensure_external_ids(Category, external_ids, cache)


def events_record(
    *, events: dict[int, ApiEvent], result: BatchResult, customer: Customer | None = None, source: str
) -> None:
    """Stores validated events (index in the batch → event), marking each accepted, duplicate or
    rejected in `result`. `customer` is the caller on the mobile API; on the server API each
    event names its customer, and unknown customers are created. An unknown item rejects the row.
    """
    if not events:
        return
    item_ids = {e.item for e in events.values() if e.item is not None}
    items = dict(Item.objects.filter(external_id__in=item_ids).values_list("external_id", "id"))
    known = set(
        Event.objects.filter(event_id__in={e.event_id for e in events.values()}).values_list("event_id", flat=True)
    )
    fresh: dict[str, tuple[int, ApiEvent]] = {}
    for index, event in events.items():
        if event.item is not None and event.item not in items:
            result.reject(index, f"unknown item_id {event.item!r}: send it with POST /items/bulk first")
        elif event.event_id in known or event.event_id in fresh:
            result.duplicate(index)
        else:
            fresh[event.event_id] = (index, event)
    if not fresh:
        return
    customers: dict[str, int] = {}
    if customer is None:
        customers_ensure(external_ids={e.customer for _, e in fresh.values()}, cache=customers)
    received_at = dt.datetime.now(tz=dt.UTC)
    # Ignoring duplicates: a concurrent retry of the same batch may have stored some rows
    # between our SELECT and this INSERT; they stay stored once, which is all a retry needs.
    inserted = insert_ignoring_duplicates(
        Event,
        EVENT_COLUMNS,
        [
            (
                e.event_id,
                customer.pk if customer is not None else customers[e.customer],
                None if e.item is None else items[e.item],
                e.type,
                e.amount,
                "",
                e.at,
                received_at,
                source,
                e.context,
            )
            for _, e in fresh.values()
        ],
    )
    if customer is not None and inserted < len(fresh) and not Customer.objects.filter(pk=customer.pk).exists():
        # Erased while this batch waited on their row: MySQL's IGNORE dropped the rows quietly.
        # Say so rather than "accepted" (the API answers 401: the app's token went with them).
        raise Customer.DoesNotExist(f"customer {customer.pk} was erased")
    for index, _ in fresh.values():
        result.accept(index)


@transaction.atomic
def items_upsert(*, items: dict[int, ApiItem], result: BatchResult) -> None:
    """Creates or updates catalog items (index in the batch → item). Unknown categories are
    created; a row that changes nothing counts as a duplicate. A row without `recommendable`
    creates an item recommendable unless it looks like postage or a fee, and leaves an existing
    item's flag as it is (so a correction made in the admin survives the next catalog sync)."""
    if not items:
        return
    categories: dict[str, int] = {}
    categories_ensure(
        external_ids={i.category for i in items.values()}
        | {i.parent_category for i in items.values() if i.parent_category},
        cache=categories,
    )
    parents = {i.category: categories[i.parent_category] for i in items.values() if i.parent_category}
    for category in Category.objects.filter(external_id__in=parents):
        if category.parent_id != parents[category.external_id] and category.pk != parents[category.external_id]:
            category.parent_id = parents[category.external_id]
            category.save(update_fields=["parent"])

    existing = {i.external_id: i for i in Item.objects.filter(external_id__in={i.external_id for i in items.values()})}
    fields = ["title", "price", "available", "recommendable", "category_id", "url", "image_url"]
    now = dt.datetime.now(tz=dt.UTC)
    to_create, to_update = [], []
    for index, row in items.items():
        values = {
            "title": row.title,
            "price": row.price,
            "available": row.available,
            "category_id": categories[row.category],
            "url": row.url,
            "image_url": row.image_url,
        }
        item = existing.get(row.external_id)
        if row.recommendable is not None:
            values["recommendable"] = row.recommendable
        elif item is None:
            values["recommendable"] = not looks_like_non_product(row.external_id, row.title)
        if item is None:
            to_create.append(Item(external_id=row.external_id, **values))
            result.accept(index)
        elif all(getattr(item, name) == value for name, value in values.items()):
            result.duplicate(index)
        else:
            for name, value in values.items():
                setattr(item, name, value)
            item.updated_at = now  # bulk_update skips auto_now
            to_update.append(item)
            result.accept(index)
    Item.objects.bulk_create(to_create, ignore_conflicts=True)
    Item.objects.bulk_update(to_update, [f.removesuffix("_id") for f in fields] + ["updated_at"])
