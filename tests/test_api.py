"""The REST API (DESIGN.md, "REST API"): auth, scoping, validation, idempotency, erasure.

Personas: the shop's backend holds an API key; ana and ben each hold a customer token for
their own app.
"""

import datetime as dt
import json
import uuid

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Feedback, Notification
from devices.models import ApiKey, Customer, CustomerToken, Device
from devices.services import api_key_create, customer_token_mint
from optimus_site.api.throttling import MobileThrottle, ServerThrottle
from recommender.models import CustomerProfile, Event, Item
from tests.factories import CustomerFactory, ItemFactory, NotificationFactory

API = "/api/v1"


def now_iso(delta: dt.timedelta = dt.timedelta()) -> str:
    return (timezone.now() + delta).isoformat()


def client_with(header: str | None) -> APIClient:
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client


@pytest.fixture
def backend(db) -> APIClient:
    _, plain = api_key_create(name="shop backend")
    return client_with(f"Api-Key {plain}")


@pytest.fixture
def ana(db):
    customer = CustomerFactory(external_id="ana", timezone="Europe/Madrid")
    _, plain = customer_token_mint(customer=customer)
    client = client_with(f"Bearer {plain}")
    client.customer = customer
    return client


@pytest.fixture
def ben(db):
    customer = CustomerFactory(external_id="ben")
    _, plain = customer_token_mint(customer=customer)
    client = client_with(f"Bearer {plain}")
    client.customer = customer
    return client


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def sent_notification(customer, **kwargs) -> Notification:
    return NotificationFactory(customer=customer, status=Notification.Status.SENT, sent_at=timezone.now(), **kwargs)


# --- authentication -----------------------------------------------------------------------

SERVER_CALLS = [
    ("put", f"{API}/customers/x", {}),
    ("post", f"{API}/customers/x/token", {}),
    ("delete", f"{API}/customers/x", None),
    ("post", f"{API}/items/bulk", {"items": []}),
    ("post", f"{API}/events/bulk", {"events": []}),
]
MOBILE_CALLS = [
    ("get", f"{API}/devices", None),
    ("post", f"{API}/devices", {"platform": "fcm", "token": "t"}),
    ("delete", f"{API}/devices/1", None),
    ("post", f"{API}/events", {"events": []}),
    ("get", f"{API}/notifications", None),
    ("post", f"{API}/notifications/1/feedback", {"action": "opened", "at": "2026-01-01T00:00:00Z"}),
    ("get", f"{API}/me/preferences", None),
    ("patch", f"{API}/me/preferences", {}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "url", "body"), SERVER_CALLS + MOBILE_CALLS)
@pytest.mark.parametrize("header", [None, "Api-Key nope", "Bearer abc.def", "Basic Zm9vOmJhcg==", "Bearer"])
def test_missing_or_wrong_credentials_are_401(method, url, body, header):
    response = getattr(client_with(header), method)(url, body, format="json")
    assert_error(response, 401, "unauthenticated")
    assert response.has_header("WWW-Authenticate")


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "url", "body"), MOBILE_CALLS)
def test_an_api_key_does_not_open_the_mobile_api(backend, method, url, body):
    assert_error(getattr(backend, method)(url, body, format="json"), 401, "unauthenticated")


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "url", "body"), SERVER_CALLS)
def test_a_customer_token_does_not_open_the_server_api(ana, method, url, body):
    assert_error(getattr(ana, method)(url, body, format="json"), 401, "unauthenticated")


@pytest.mark.django_db
def test_revoked_credentials_are_401(backend, ana):
    ApiKey.objects.update(revoked_at=timezone.now())
    CustomerToken.objects.update(revoked_at=timezone.now())
    assert (
        "revoked"
        in assert_error(backend.put(f"{API}/customers/x", {}, format="json"), 401, "unauthenticated")["message"]
    )
    assert_error(ana.get(f"{API}/me/preferences"), 401, "unauthenticated")


@pytest.mark.django_db
def test_a_token_with_the_right_prefix_but_wrong_secret_is_401(ana):
    token = CustomerToken.objects.get(customer=ana.customer)
    assert_error(client_with(f"Bearer {token.prefix}.wrong").get(f"{API}/me/preferences"), 401, "unauthenticated")


# --- customers ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_customer_upsert_creates_then_updates(backend):
    response = backend.put(f"{API}/customers/c-1", {"timezone": "Asia/Tokyo", "locale": "ja-JP"}, format="json")
    assert response.status_code == 201
    assert response.json()["timezone"] == "Asia/Tokyo"
    response = backend.put(f"{API}/customers/c-1/", {"attributes": {"tier": "gold"}}, format="json")
    assert response.status_code == 200
    customer = Customer.objects.get(external_id="c-1")
    assert (customer.timezone, customer.locale, customer.attributes) == ("Asia/Tokyo", "ja-JP", {"tier": "gold"})


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezon": "UTC"}, "timezon"),
        ({"attributes": [1, 2]}, "attributes"),
        ({"locale": "not a locale!"}, "locale"),
        ({"attributes": {"blob": "x" * 9000}}, "attributes"),
    ],
)
def test_customer_upsert_rejects_bad_fields_clearly(backend, body, field):
    error = assert_error(backend.put(f"{API}/customers/c-1", body, format="json"), 400, "invalid")
    assert field in error["fields"]
    assert not Customer.objects.filter(external_id="c-1").exists()


@pytest.mark.django_db
def test_minted_token_opens_the_mobile_api_for_that_customer_only(backend):
    response = backend.post(f"{API}/customers/c-7/token")
    assert response.status_code == 201
    token = response.json()["token"]
    app = client_with(f"Bearer {token}")
    assert app.get(f"{API}/me/preferences").status_code == 200
    assert CustomerToken.objects.get().customer.external_id == "c-7"
    assert token not in CustomerToken.objects.get().hashed_secret

    assert backend.delete(f"{API}/customers/c-7/token").status_code == 204
    assert_error(app.get(f"{API}/me/preferences"), 401, "unauthenticated")


@pytest.mark.django_db
def test_erasure_removes_everything_about_the_customer_and_is_idempotent(backend, ana):
    customer = ana.customer
    item = ItemFactory()
    ana.post(f"{API}/devices", {"platform": "fcm", "token": "tok-ana"}, format="json")
    ana.post(f"{API}/events", {"events": [{"event_id": str(uuid.uuid4()), "type": "view", "item_id": item.external_id,
                                            "at": now_iso()}]}, format="json")  # fmt: skip
    notification = sent_notification(customer)
    ana.post(f"{API}/notifications/{notification.pk}/feedback", {"action": "opened", "at": now_iso()}, format="json")
    CustomerProfile.objects.create(
        customer=customer, recency_score=5, frequency_score=1, monetary_score=1, computed_at=timezone.now()
    )
    other = CustomerFactory()
    other_notification = sent_notification(other)

    assert backend.delete(f"{API}/customers/ana").status_code == 204
    from push_notifications.models import GCMDevice

    assert not Customer.objects.filter(external_id="ana").exists()
    for model in (CustomerToken, Device, GCMDevice, Event, Notification, Feedback, CustomerProfile):
        assert not model.objects.exclude(pk__in=[other_notification.pk] if model is Notification else []).exists(), (
            model
        )
    assert Notification.objects.get() == other_notification
    assert backend.delete(f"{API}/customers/ana").status_code == 204


# --- catalog and server events ---------------------------------------------------------------


def item_row(external_id="sku-1", **overrides) -> dict:
    row = {"external_id": external_id, "title": "Mug", "price": 4.5, "category": "kitchen", "available": True}
    row.update(overrides)
    return row


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


# --- devices ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_device_registration_is_idempotent_per_token_and_follows_a_new_owner(ana, ben):
    body = {"platform": "fcm", "token": "shared-phone", "app_version": "1.0", "timezone": "Europe/Lisbon"}
    first = ana.post(f"{API}/devices", body, format="json")
    assert first.status_code == 201
    again = ana.post(f"{API}/devices/", {**body, "app_version": "1.1"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    ana.customer.refresh_from_db()
    assert ana.customer.timezone == "Europe/Lisbon"

    moved = ben.post(f"{API}/devices", body, format="json")
    assert moved.json()["id"] == first.json()["id"]
    from push_notifications.models import GCMDevice

    assert GCMDevice.objects.get().user == ben.customer
    assert ana.get(f"{API}/devices").json() == []
    assert [d["id"] for d in ben.get(f"{API}/devices").json()] == [first.json()["id"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"platform": "blackberry", "token": "t"}, "platform"),
        ({"platform": "apns", "token": "a" * 201}, "token"),
        ({"platform": "webpush", "token": "https://push.example/abc"}, "keys"),
        ({"platform": "webpush", "token": "http://insecure", "keys": {"p256dh": "k", "auth": "a"}}, "token"),
        ({"platform": "fcm", "token": "t", "timezone": "Nowhere/Land"}, "timezone"),
        ({"platform": "fcm"}, "token"),
    ],
)
def test_device_registration_validation(ana, body, field):
    error = assert_error(ana.post(f"{API}/devices", body, format="json"), 400, "invalid")
    assert any(name.startswith(field) for name in error["fields"]), error


@pytest.mark.django_db
def test_webpush_device_registration(ana):
    body = {
        "platform": "webpush",
        "token": "https://push.example/sub/1",
        "keys": {"p256dh": "p" * 87, "auth": "a" * 22},
    }
    assert ana.post(f"{API}/devices", body, format="json").status_code == 201
    from push_notifications.models import WebPushDevice

    assert WebPushDevice.objects.get().p256dh == "p" * 87


# --- the 404 matrix: another customer's objects are never visible --------------------------


@pytest.mark.django_db
def test_another_customers_objects_answer_404_never_their_data(ana, ben):
    ben_device = ben.post(f"{API}/devices", {"platform": "fcm", "token": "ben-phone"}, format="json").json()["id"]
    ben_notification = sent_notification(ben.customer)
    calls = [
        ("delete", f"{API}/devices/{ben_device}", None),
        ("post", f"{API}/notifications/{ben_notification.pk}/feedback", {"action": "opened", "at": now_iso()}),
        ("delete", f"{API}/devices/999999", None),
        ("post", f"{API}/notifications/999999/feedback", {"action": "opened", "at": now_iso()}),
    ]
    for method, url, body in calls:
        assert_error(getattr(ana, method)(url, body, format="json"), 404, "not_found")
    assert Device.objects.filter(pk=ben_device).exists()
    assert not Feedback.objects.exists()
    assert ana.get(f"{API}/notifications").json()["results"] == []


# --- inbox and feedback -----------------------------------------------------------------------


@pytest.mark.django_db
def test_inbox_lists_own_sent_notifications_newest_first_with_feedback(ana):
    old = sent_notification(ana.customer, scheduled_for=timezone.now() - dt.timedelta(days=2), item_ids=["sku-1"])
    new = sent_notification(ana.customer, scheduled_for=timezone.now() - dt.timedelta(hours=1))
    NotificationFactory(customer=ana.customer, status=Notification.Status.PLANNED)  # not yet sent: invisible
    ana.post(f"{API}/notifications/{old.pk}/feedback", {"action": "opened", "at": now_iso()}, format="json")

    body = ana.get(f"{API}/notifications?page_size=1").json()
    assert body["count"] == 2 and body["next"]
    assert [n["id"] for n in body["results"]] == [new.pk]
    second = ana.get(f"{API}/notifications?page=2&page_size=1").json()["results"][0]
    assert second["id"] == old.pk and second["item_ids"] == ["sku-1"] and second["opened_at"]
    assert second["type"] == "product-recommendation"
    assert_error(ana.get(f"{API}/notifications?page=9"), 404, "not_found")


@pytest.mark.django_db
def test_feedback_is_recorded_once_with_its_context(ana):
    notification = sent_notification(ana.customer)
    url = f"{API}/notifications/{notification.pk}/feedback"
    body = {
        "action": "dismissed",
        "at": now_iso(),
        "context": {"battery": 42, "charging": False, "network": "cellular", "app_state": "killed", "os": "iOS 19"},
    }
    first = ana.post(url, body, format="json")
    assert first.status_code == 201 and first.json()["duplicate"] is False
    repeat = ana.post(url, body, format="json")
    assert repeat.status_code == 200 and repeat.json()["duplicate"] is True
    feedback = Feedback.objects.get()
    assert (feedback.battery, feedback.charging, feedback.network, feedback.app_state, feedback.os) == (
        42,
        False,
        "cellular",
        "killed",
        "iOS 19",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "liked", "at": "2026-01-01T00:00:00Z"}, "action"),
        ({"action": "opened"}, "at"),
        ({"action": "opened", "at": "2026-01-01T00:00:00Z", "context": {"battery": 140}}, "context.battery"),
        ({"action": "opened", "at": "2026-01-01T00:00:00Z", "context": {"network": "5g"}}, "context.network"),
        ({"action": "opened", "at": "2026-01-01T00:00:00Z", "context": {"gps": "x"}}, "context.gps"),
    ],
)
def test_feedback_validation(ana, body, field):
    notification = sent_notification(ana.customer)
    error = assert_error(
        ana.post(f"{API}/notifications/{notification.pk}/feedback", body, format="json"), 400, "invalid"
    )
    assert field in error["fields"]


# --- preferences ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_preferences_round_trip(ana):
    assert ana.get(f"{API}/me/preferences").json() == {
        "opt_out": False,
        "quiet_hours": None,
        "timezone": "Europe/Madrid",
        "muted_types": [],
    }
    body = {"quiet_hours": {"start": "22:00", "end": "07:30"}, "muted_types": ["satisfaction-survey"], "opt_out": True}
    response = ana.patch(f"{API}/me/preferences", body, format="json")
    assert response.status_code == 200
    assert response.json()["quiet_hours"] == {"start": "22:00", "end": "07:30"}
    ana.customer.refresh_from_db()
    assert ana.customer.opt_out and ana.customer.opted_out_at is not None
    assert ana.customer.is_quiet_at(dt.datetime(2026, 7, 1, 21, 0, tzinfo=dt.UTC))  # 23:00 in Madrid
    response = ana.patch(f"{API}/me/preferences", {"quiet_hours": None, "opt_out": False}, format="json")
    assert response.json()["quiet_hours"] is None and response.json()["opt_out"] is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Europe/Nowhere"}, "timezone"),
        ({"muted_types": ["no-such-type"]}, "muted_types"),
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours.start"),
        ({"quiet_hours": {"start": "07:00", "end": "07:00"}}, "quiet_hours"),
        ({"opt_out": "perhaps"}, "opt_out"),
        ({"volume": 11}, "volume"),
    ],
)
def test_preferences_validation(ana, body, field):
    error = assert_error(ana.patch(f"{API}/me/preferences", body, format="json"), 400, "invalid")
    assert field in error["fields"], error


# --- throttling, unknown paths, docs ----------------------------------------------------------


@pytest.mark.django_db
def test_throttling_per_token_answers_429_with_retry_after(ana, ben, monkeypatch):
    monkeypatch.setattr(MobileThrottle, "THROTTLE_RATES", {"mobile": "3/minute", "server": "3/minute"})
    for _ in range(3):
        assert ana.get(f"{API}/me/preferences").status_code == 200
    response = ana.get(f"{API}/me/preferences")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert ben.get(f"{API}/me/preferences").status_code == 200  # another token has its own budget


@pytest.mark.django_db
def test_throttling_per_api_key(backend, monkeypatch):
    monkeypatch.setattr(ServerThrottle, "THROTTLE_RATES", {"mobile": "1/minute", "server": "1/minute"})
    assert backend.put(f"{API}/customers/a", {}, format="json").status_code == 201
    assert_error(backend.put(f"{API}/customers/a", {}, format="json"), 429, "throttled")


@pytest.mark.django_db
def test_unknown_api_paths_answer_in_the_error_shape(ana):
    assert_error(ana.get(f"{API}/nothing/here"), 404, "not_found")
    assert_error(ana.put(f"{API}/me/preferences", {}, format="json"), 405, "method_not_allowed")


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_served(client):
    schema = client.get(f"{API}/schema/?format=json")
    assert schema.status_code == 200
    spec = json.loads(schema.content)
    assert spec["openapi"].startswith("3.")
    paths = set(spec["paths"])
    for path in (
        "/api/v1/customers/{external_id}",
        "/api/v1/customers/{external_id}/token",
        "/api/v1/items/bulk",
        "/api/v1/events/bulk",
        "/api/v1/devices",
        "/api/v1/devices/{device_id}",
        "/api/v1/events",
        "/api/v1/notifications",
        "/api/v1/notifications/{notification_id}/feedback",
        "/api/v1/me/preferences",
    ):
        assert path in paths, path
    assert {"ApiKey", "CustomerToken"} <= set(spec["components"]["securitySchemes"])
    assert client.get(f"{API}/docs/").status_code == 200


@pytest.mark.django_db
def test_unpaired_surrogates_are_a_client_error_but_emoji_are_fine(backend):
    body = '{"items": [{"external_id": "a\\udb5b", "title": "x", "price": 1, "category": "c", "available": true}]}'
    response = backend.generic("POST", f"{API}/items/bulk", body, content_type="application/json")
    assert_error(response, 400, "malformed_json")
    body = (
        '{"items": [{"external_id": "mug-\\ud83d\\ude00", "title": "x", "price": 1, "category": "c", '
        '"available": true}]}'
    )
    response = backend.generic("POST", f"{API}/items/bulk", body, content_type="application/json")
    assert response.json()["accepted"] == 1
    assert Item.objects.filter(external_id="mug-😀").exists()


@pytest.mark.django_db
def test_external_ids_are_exact_case_and_spaces_count(backend):
    rows = [item_row("SKU-1"), item_row("sku-1"), item_row("sku-1 ")]
    body = backend.post(f"{API}/items/bulk", {"items": rows[:2]}, format="json").json()
    assert body["accepted"] == 2
    assert Item.objects.count() == 2
