"""Under /api/v1/ every answer is JSON in the API's error shape, and bad input is a clear 4xx that
keeps the batch's good rows (issue 17, item 8) — including what Django refuses before any view."""

import io
import json
import uuid

import pytest
from django.test import Client, override_settings

from devices.services import api_key_create, customer_token_mint
from recommender.models import Event
from tests.factories import CustomerFactory, ItemFactory

API = "/api/v1"


@pytest.fixture
def app(db):
    customer = CustomerFactory(external_id="probe")
    ItemFactory(external_id="sku-1")
    _, token = customer_token_mint(customer=customer)
    _, key = api_key_create(name="shop")
    client = Client(raise_request_exception=False, enforce_csrf_checks=True)
    client.mobile = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    client.server = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
    return client


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def event(**fields) -> dict:
    return {"event_id": str(uuid.uuid4()), "type": "view", "item_id": "sku-1", "at": "2026-12-01T10:00:00Z", **fields}


def json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    return response.json()["error"]


def post(client, path, body, headers, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(API + path, data, content_type="application/json", **headers, **extra)


@pytest.mark.parametrize("depth", [11, 33, 60])
def test_a_deeply_nested_context_rejects_its_row_and_keeps_the_others(app, depth):
    body = {"events": [event(context=nested(depth)), event(context=nested(3))]}
    reply = post(app, "/events", body, app.mobile)
    assert reply.status_code == 200, reply.content
    assert reply.json()["rejected"] == [{"index": 0, "error": "context must be nested at most 10 levels deep"}]
    assert Event.objects.count() == 1  # accepted means stored


def test_deeply_nested_customer_attributes_are_refused(app):
    reply = app.put(
        API + "/customers/c-1", json.dumps({"attributes": nested(40)}), content_type="application/json", **app.server
    )
    assert "attributes" in json_error(reply, 400)["fields"]


@pytest.mark.parametrize("depth", [100, 5000])
def test_a_body_nested_hundreds_of_levels_is_a_json_400(app, depth):
    error = json_error(post(app, "/events", "[" * depth + "]" * depth, app.mobile), 400)
    assert error["code"] == "malformed_json" and "nested deeper" in error["message"]


@override_settings(DEBUG=False)
def test_a_body_over_djangos_own_limit_is_a_json_413(app):
    body = json.dumps({"events": [event(context={"x": "a" * 3_000_000})]})
    assert json_error(post(app, "/events", body, app.mobile), 413)["code"] == "too_large"


def test_a_chunked_body_is_read_not_taken_for_empty(app):
    body = json.dumps({"opt_out": True}).encode()
    reply = app.generic(
        "PATCH", API + "/me/preferences", b"", **app.mobile,
        CONTENT_TYPE="application/json", HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True},
    )  # fmt: skip
    assert reply.status_code == 200, reply.content
    assert reply.json()["opt_out"] is True


def test_a_chunked_body_the_server_cannot_end_is_refused_not_dropped(app):
    reply = app.generic(
        "PATCH", API + "/me/preferences", b"", **app.mobile,
        CONTENT_TYPE="application/json", HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(b'{"opt_out": true}')},
    )  # fmt: skip
    assert json_error(reply, 411)["code"] == "length_required"


def test_a_chunked_body_over_the_limit_is_a_413(app, settings):
    settings.API_MAX_BODY_BYTES = 100
    reply = app.generic(
        "POST", API + "/events", b"", **app.mobile,
        CONTENT_TYPE="application/json", HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(b" " * 500), "wsgi.input_terminated": True},
    )  # fmt: skip
    assert json_error(reply, 413)["code"] == "too_large"


@override_settings(DEBUG=False)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/nope", "/nope/", "/customers", "/items/bulk/extra"])
def test_any_method_on_an_unknown_api_path_is_a_json_404(app, method, path):
    reply = getattr(app, method)(API + path, "{}", content_type="application/json", **app.mobile)
    assert json_error(reply, 404)["code"] == "not_found"


@override_settings(DEBUG=False, ALLOWED_HOSTS=["api.shop.example"])
def test_a_disallowed_host_is_a_json_400(app):
    reply = app.get(API + "/me/preferences", HTTP_HOST="evil.example", **app.mobile)
    assert json_error(reply, 400)["code"] == "bad_host"


@override_settings(DEBUG=False)
def test_too_many_query_parameters_is_a_json_400(app):
    query = "&".join(f"p{i}=1" for i in range(1500))
    reply = app.get(f"{API}/notifications?{query}", **app.mobile)
    assert json_error(reply, 400)["code"] == "too_many_parameters"


@override_settings(DEBUG=False, ALLOWED_HOSTS=["api.shop.example"])
def test_the_admin_keeps_djangos_pages(app):
    reply = app.get("/admin/", HTTP_HOST="evil.example")
    assert reply.status_code == 400 and reply["Content-Type"].startswith("text/html")
