"""The API as a whole (DESIGN.md, "REST API"): another customer's objects are never visible, throttling,
unknown paths, the OpenAPI schema and docs, text and id edge cases."""

import json

import pytest

from campaigns.models import Feedback
from devices.models import Device
from optimus_site.api.throttling import MobileThrottle, ServerThrottle
from recommender.models import Item
from tests.api import API, assert_error, item_row, now_iso, sent_notification

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
def test_the_schema_answers_json_by_default_like_the_rest_of_the_api(client):
    plain = client.get(f"{API}/schema/")
    assert plain.status_code == 200 and json.loads(plain.content)["openapi"].startswith("3.")
    assert_error(client.post(f"{API}/schema/"), 405, "method_not_allowed")  # JSON, not YAML
    yaml = client.get(f"{API}/schema/?format=yaml")
    assert yaml.status_code == 200 and yaml.content.startswith(b"openapi:")


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
