"""Helpers for the REST API tests of every app: the base path, clients with credentials, the error shape."""

import datetime as dt

from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Notification
from tests.factories import NotificationFactory

API = "/api/v1"


def now_iso(delta: dt.timedelta = dt.timedelta()) -> str:
    return (timezone.now() + delta).isoformat()


def client_with(header: str | None) -> APIClient:
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def sent_notification(customer, **kwargs) -> Notification:
    return NotificationFactory(customer=customer, status=Notification.Status.SENT, sent_at=timezone.now(), **kwargs)


def item_row(external_id="sku-1", **overrides) -> dict:
    row = {"external_id": external_id, "title": "Mug", "price": 4.5, "category": "kitchen", "available": True}
    row.update(overrides)
    return row
