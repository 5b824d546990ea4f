"""The recommender API (DESIGN.md, "REST API"): catalog and server events, mobile events."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from devices.models import Customer
from recommender.models import Event, Item
from tests.api import API, assert_error, item_row, now_iso
from tests.factories import ItemFactory

# --- catalog and server events ---------------------------------------------------------------


@pytest.mark.django_db
def test_items_bulk_creates_updates_and_reports_each_row(backend):
    response = backend.post(
        f"{API}/items/bulk",
        {"items": [item_row(), item_row("sku-2", parent_category="home"), item_row("sku-3", price="abc")]},
        format="json",
    )
    body = response.json()
    assert response.status_code == 200
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    assert body["rejected"] == [{"index": 2, "error": "price 'abc' is not a number"}]
    assert Item.objects.get(external_id="sku-2").category.parent.external_id == "home"

    body = backend.post(
        f"{API}/items/bulk", {"items": [item_row(), item_row("sku-2", available=False)]}, format="json"
    ).json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert Item.objects.get(external_id="sku-2").available is False


@pytest.mark.django_db
def test_items_bulk_rejects_repeats_within_a_batch_and_oversized_batches(backend):
    body = backend.post(f"{API}/items/bulk", {"items": [item_row(), item_row()]}, format="json").json()
    assert body["rejected"][0]["index"] == 1 and "repeats row 0" in body["rejected"][0]["error"]
    error = assert_error(
        backend.post(f"{API}/items/bulk", {"items": [item_row()] * 1001}, format="json"), 400, "invalid"
    )
    assert "at most 1000" in error["message"]


@pytest.mark.django_db
def test_server_events_create_customers_reject_unknown_items_and_are_idempotent(backend):
    ItemFactory(external_id="sku-9")
    events = [
        {"customer_id": "c-1", "type": "transaction", "item_id": "sku-9", "amount": "19.90", "at": now_iso()},
        {"customer_id": "c-2", "type": "view", "item_id": "nope", "at": now_iso()},
        {"customer_id": 42, "type": "app_open", "at": now_iso()},
    ]
    body = backend.post(f"{API}/events/bulk", {"events": events}, format="json").json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    assert body["rejected"][0]["index"] == 1 and "unknown item_id 'nope'" in body["rejected"][0]["error"]
    assert set(Customer.objects.values_list("external_id", flat=True)) == {"c-1", "42"}

    again = backend.post(f"{API}/events/bulk", {"events": events}, format="json").json()
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    assert Event.objects.count() == 2


# --- mobile events ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_mobile_events_store_valid_rows_and_explain_the_rest(ana):
    item = ItemFactory(external_id="sku-1")
    good = {"event_id": str(uuid.uuid4()), "type": "view", "item_id": "sku-1", "at": now_iso()}
    rows = [
        good,
        {"event_id": str(uuid.uuid4()), "type": "app_open", "at": now_iso()},
        {"event_id": "not-a-uuid", "type": "view", "item_id": "sku-1", "at": now_iso()},
        {"event_id": str(uuid.uuid4()), "type": "view", "item_id": "sku-1", "at": now_iso(dt.timedelta(hours=2))},
        {"event_id": str(uuid.uuid4()), "type": "view", "item_id": "sku-1", "at": "1999-12-31T23:00:00Z"},
        {"event_id": str(uuid.uuid4()), "type": "view", "item_id": "sku-1", "at": "2026-01-01T10:00:00"},
        {"event_id": str(uuid.uuid4()), "type": "app_open", "item_id": "sku-1", "at": now_iso()},
        {"event_id": str(uuid.uuid4()), "type": "purchase", "item_id": "sku-1", "at": now_iso()},
        {"event_id": str(uuid.uuid4()), "type": "transaction", "item_id": "sku-1", "amount": True, "at": now_iso()},
        {"event_id": str(uuid.uuid4()), "type": "view", "item_id": "sku-1", "at": now_iso(), "colour": "red"},
        "not an object",
        good,  # repeated inside the same batch
    ]
    body = ana.post(f"{API}/events", {"events": rows}, format="json").json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["accepted", "accepted"] + ["rejected"] * 9 + ["duplicate"]
    errors = {r["index"]: r["error"] for r in body["rejected"]}
    assert "not a UUID" in errors[2]
    assert "in the future" in errors[3]
    assert "before 2000" in errors[4]
    assert "no time zone" in errors[5]
    assert "app_open event has no item_id" in errors[6]
    assert "type 'purchase'" in errors[7]
    assert "amount must be a number" in errors[8]
    assert "unknown field(s): colour" in errors[9]
    assert "JSON object" in errors[10]
    assert Event.objects.filter(customer=ana.customer).count() == 2
    assert Event.objects.get(type="view").item == item

    again = ana.post(f"{API}/events", {"events": [good]}, format="json").json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        [],
        {"events": "nope"},
        {"events": [], "extra": 1},
        {"events": [{"type": "app_open"}] * 501},
    ],
)
def test_mobile_event_batches_of_the_wrong_shape_are_400(ana, body):
    assert_error(ana.post(f"{API}/events", body, format="json"), 400, "invalid")


@pytest.mark.django_db
def test_malformed_json_and_oversized_bodies(ana, settings):
    response = ana.generic("POST", f"{API}/events", "{not json", content_type="application/json")
    assert_error(response, 400, "malformed_json")
    settings.API_MAX_BODY_BYTES = 1000
    assert_error(ana.post(f"{API}/events", {"events": [], "pad": "x" * 2000}, format="json"), 413, "too_large")
    response = ana.generic("POST", f"{API}/events", "events=1", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.django_db
def test_mobile_event_fields_of_the_wrong_json_type_are_rejected_per_row(ana):
    ItemFactory(external_id="sku-1")

    def row(**overrides):
        return {"event_id": str(uuid.uuid4()), "type": "view", "item_id": "sku-1", "at": now_iso(), **overrides}

    bad = [
        row(type=["view"]),
        row(type={"view": 1}),
        row(item_id={"id": "sku-1"}),
        row(type="transaction", amount=[1]),
        row(at=1765101600),
        row(at="2026-12-07T10:00:00Z\u0000"),
        row(event_id=[str(uuid.uuid4())]),
        row(context=["a"]),
    ]
    body = ana.post(f"{API}/events", {"events": [row(), *bad]}, format="json").json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == list(range(1, len(bad) + 1))
    assert Event.objects.filter(customer=ana.customer).count() == 1


@pytest.mark.django_db
def test_server_event_fields_of_the_wrong_json_type_are_rejected_per_row(backend):
    good = {"customer_id": "c-1", "type": "app_open", "at": now_iso()}
    bad = [
        {**good, "type": ["app_open"]},
        {**good, "type": {"a": 1}},
        {**good, "customer_id": {"id": 1}},
        {**good, "event_id": ["e-1"]},
        {**good, "at": "2026-12-07T10:00:00Z\x00"},
    ]
    body = backend.post(f"{API}/events/bulk", {"events": [good, *bad]}, format="json").json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == list(range(1, len(bad) + 1))
    assert "type must be" in body["rejected"][0]["error"]


@pytest.mark.django_db
def test_item_prices_that_do_not_fit_the_column_are_rejected_on_create_and_update(backend):
    body = backend.post(f"{API}/items/bulk", {"items": [item_row(price="1e10"), item_row("sku-2")]}, format="json")
    body = body.json()
    assert body["accepted"] == 1 and body["rejected"][0]["index"] == 0 and "price" in body["rejected"][0]["error"]
    assert not Item.objects.filter(external_id="sku-1").exists()

    response = backend.post(f"{API}/items/bulk", {"items": [item_row("sku-2", price=10**10)]}, format="json")
    assert response.status_code == 200
    assert "price" in response.json()["rejected"][0]["error"]
    assert Item.objects.get(external_id="sku-2").price == Decimal("4.50")

    # Found by the fuzzer: below 10^10, but 10^10 once rounded to cents (a 500 from the database).
    for price in (9999999999.999996, "9999999999.995"):
        response = backend.post(f"{API}/items/bulk", {"items": [item_row("sku-2", price=price)]}, format="json")
        assert response.status_code == 200 and "out of range" in response.json()["rejected"][0]["error"]
    assert Item.objects.get(external_id="sku-2").price == Decimal("4.50")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("url", "http://127.0.0.1:8000/admin"),
        ("url", "http://localhost/x"),
        ("image_url", "http://169.254.169.254/latest/meta-data/"),
        ("image_url", "http://[::1]/a.png"),
        ("url", "https://10.0.0.1/a"),
        ("url", "https://192.168.1.10/a"),
        ("url", "https://shop.example/a\r\nSet-Cookie: x=1"),
        ("image_url", "file:///etc/passwd"),
        ("url", "javascript:alert(1)"),
    ],
)
def test_item_urls_to_internal_hosts_are_rejected_per_row_and_good_rows_kept(backend, field, url):
    good = item_row("sku-2", url="https://shop.example/p/2", image_url="https://cdn.shop.example/2.png")
    body = backend.post(f"{API}/items/bulk", {"items": [item_row(**{field: url}), good]}, format="json").json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 0 and field in body["rejected"][0]["error"], body
    assert not Item.objects.filter(external_id="sku-1").exists()
    assert Item.objects.get(external_id="sku-2").url == "https://shop.example/p/2"
