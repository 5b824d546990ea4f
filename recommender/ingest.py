"""Validation of behaviour events and catalog rows arriving through the API, one row at a time.

Rows are checked with plain Python rather than a DRF serializer per row: on the hot path (a
phone's batch of 500 events, a backend's batch of 1000) serializer overhead would dominate the
request. The rules and messages match the importer's where they overlap. A bad row becomes a
per-row error; the rest of the batch is still stored.
"""

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal

from devices.models import EXTERNAL_ID_LENGTH, customer_id_problem
from optimus_site.api.json_limits import MAX_FIELD_DEPTH, json_depth
from optimus_site.api.serializers import parse_client_time
from recommender.models import EventType
from recommender.rows import MAX_AMOUNT, MAX_PRICE, RowError, item_url_check, parse_money

EVENT_TYPES = {t.value for t in EventType}
MAX_CONTEXT_BYTES = 2048
MOBILE_EVENT_FIELDS = {"event_id", "type", "item_id", "amount", "at", "context"}
SERVER_EVENT_FIELDS = {"event_id", "customer_id", "type", "item_id", "amount", "at"}
ITEM_FIELDS = {
    "external_id", "title", "price", "category", "parent_category", "available", "recommendable", "url", "image_url",
}  # fmt: skip
REQUIRED_ITEM_FIELDS = ("external_id", "title", "price", "category", "available")


@dataclass
class ApiEvent:
    event_id: str
    customer: str | None  # external id (server API); None on the mobile API (the caller is the customer)
    type: str
    item: str | None
    amount: Decimal | None
    at: dt.datetime
    context: dict | None


@dataclass
class ApiItem:
    external_id: str
    title: str
    price: Decimal
    category: str
    parent_category: str | None
    available: bool
    recommendable: bool | None  # None: not said; new items get the non-product detection, others keep theirs
    url: str
    image_url: str


def check_fields(row: object, allowed: set[str], required: tuple[str, ...]) -> dict:
    if not isinstance(row, dict):
        raise RowError("must be a JSON object")
    unknown = sorted(set(row) - allowed)
    if unknown:
        raise RowError(f"unknown field(s): {', '.join(unknown)}")
    missing = [name for name in required if row.get(name) is None]
    if missing:
        raise RowError(f"missing field(s): {', '.join(missing)}")
    return row


def external_id(value: object, name: str, max_length: int = EXTERNAL_ID_LENGTH) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowError(f"{name} must be a string")
    text = str(value).strip()
    if not text or len(text) > max_length:
        raise RowError(f"{name} must be 1 to {max_length} characters")
    return text


def decimal_value(value: object, name: str, *, limit: Decimal = MAX_AMOUNT) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RowError(f"{name} must be a number")
    return parse_money(str(value), name, limit=limit)


def event_time(value: object) -> dt.datetime:
    try:
        return parse_client_time(value)
    except ValueError as exc:
        raise RowError(f"at: {exc}") from None


def parse_event(row: object, *, server: bool) -> ApiEvent:
    """Validates one event of a batch. Raises RowError with a message for the developer."""
    required = ("customer_id", "type", "at") if server else ("event_id", "type", "at")
    row = check_fields(row, SERVER_EVENT_FIELDS if server else MOBILE_EVENT_FIELDS, required)
    kind = row["type"]
    if not isinstance(kind, str):
        raise RowError(f"type must be a string, one of {', '.join(sorted(EVENT_TYPES))}")
    if kind not in EVENT_TYPES:
        raise RowError(f"type {kind!r} is not one of {', '.join(sorted(EVENT_TYPES))}")
    item = row.get("item_id")
    if kind == EventType.APP_OPEN:
        if item is not None:
            raise RowError("an app_open event has no item_id")
    else:
        if item is None:
            raise RowError(f"a {kind} event needs an item_id")
        item = external_id(item, "item_id")
    amount = row.get("amount")
    amount = None if amount is None else decimal_value(amount, "amount")
    at = event_time(row["at"])
    context = row.get("context")
    if context is not None and (not isinstance(context, dict) or len(json.dumps(context)) > MAX_CONTEXT_BYTES):
        raise RowError(f"context must be a JSON object of at most {MAX_CONTEXT_BYTES} bytes")
    if context is not None and json_depth(context) > MAX_FIELD_DEPTH:
        raise RowError(f"context must be nested at most {MAX_FIELD_DEPTH} levels deep")
    customer = external_id(row["customer_id"], "customer_id") if server else None
    if customer is not None and (problem := customer_id_problem(customer)):
        raise RowError(f"customer_id {problem}")

    event_id = row.get("event_id")
    if server and event_id is None:
        # No id from the backend: a content hash, so that resending the same batch adds nothing.
        key = "\x1f".join((customer, kind, item or "", str(amount or ""), at.isoformat()))
        event_id = "srv-" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()
    elif server:
        event_id = external_id(event_id, "event_id", max_length=64)
    else:
        if not isinstance(event_id, str):
            raise RowError("event_id must be a UUID string generated by the app")
        try:
            event_id = str(uuid.UUID(event_id))
        except ValueError:
            raise RowError(f"event_id {event_id!r} is not a UUID") from None
    return ApiEvent(event_id, customer, kind, item, amount, at, context)


def parse_item(row: object) -> ApiItem:
    row = check_fields(row, ITEM_FIELDS, REQUIRED_ITEM_FIELDS)
    title = row["title"]
    if not isinstance(title, str) or len(title) > 300:
        raise RowError("title must be a string of at most 300 characters")
    available = row["available"]
    if not isinstance(available, bool):
        raise RowError("available must be true or false")
    recommendable = row.get("recommendable")
    if recommendable is not None and not isinstance(recommendable, bool):
        raise RowError("recommendable must be true or false")
    parent = row.get("parent_category")
    urls = {}
    for name in ("url", "image_url"):
        value = row.get(name) or ""
        if not isinstance(value, str) or len(value) > 500 or (value and not value.startswith(("http://", "https://"))):
            raise RowError(f"{name} must be an http(s) URL of at most 500 characters")
        item_url_check(name, value)
        urls[name] = value
    return ApiItem(
        external_id=external_id(row["external_id"], "external_id"),
        title=title.strip(),
        price=decimal_value(row["price"], "price", limit=MAX_PRICE),
        category=external_id(row["category"], "category", max_length=64),
        parent_category=None if parent is None else external_id(parent, "parent_category", max_length=64),
        available=available,
        recommendable=recommendable,
        **urls,
    )
