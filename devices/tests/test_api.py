"""The devices API (DESIGN.md, "REST API"): authentication, customers (upsert, token, erasure), device registration."""

import uuid

import pytest
from django.utils import timezone

from campaigns.models import Feedback, Notification
from devices.models import ApiKey, Customer, CustomerToken, Device
from devices.tests.test_push_destinations import browser_keys
from recommender.models import CustomerProfile, Event
from tests.api import API, assert_error, client_with, now_iso, sent_notification
from tests.factories import CustomerFactory, CustomerProfileFactory, ItemFactory

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
        ({"timezone": "localtime"}, "timezone"),
        ({"timezone": "Factory"}, "timezone"),
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
    CustomerProfileFactory(
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
        # Real keys: made-up ones are refused first since issue 17, and this case is about the scheme.
        (
            {
                "platform": "webpush",
                "token": "http://insecure",
                "keys": dict(zip(("p256dh", "auth"), browser_keys(), strict=True)),
            },
            "token",
        ),
        ({"platform": "fcm", "token": "t", "timezone": "Nowhere/Land"}, "timezone"),
        ({"platform": "fcm"}, "token"),
    ],
)
def test_device_registration_validation(ana, body, field):
    error = assert_error(ana.post(f"{API}/devices", body, format="json"), 400, "invalid")
    assert any(name.startswith(field) for name in error["fields"]), error


@pytest.mark.django_db
def test_webpush_device_registration(ana):
    # A real subscription: a known push service and a P-256 key (issue 17 refuses made-up ones).
    p256dh, auth = browser_keys()
    body = {
        "platform": "webpush",
        "token": "https://fcm.googleapis.com/fcm/send/sub-1",
        "keys": {"p256dh": p256dh, "auth": auth},
    }
    assert ana.post(f"{API}/devices", body, format="json").status_code == 201
    from push_notifications.models import WebPushDevice

    assert WebPushDevice.objects.get().p256dh == p256dh


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["localtime", "Factory", "Mars/Olympus"])
def test_device_registration_refuses_zones_that_are_not_real_places(ana, zone):
    response = ana.post(f"{API}/devices", {"platform": "fcm", "token": "tok-ana", "timezone": zone}, format="json")
    assert "timezone" in assert_error(response, 400, "invalid")["fields"]
