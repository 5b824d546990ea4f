"""With a shared cache (CACHE_URL=redis://…), credentials are served from Redis — and every way
of revoking or deleting one still stops it on the very next request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Notification
from devices.models import ApiKey, CustomerToken
from devices.services import api_key_create, customer_token_mint
from tests.factories import CustomerFactory, NotificationFactory

API = "/api/v1"


@pytest.fixture
def shared_cache(settings):
    # Real Redis, as in production; a database of its own so nothing else is flushed.
    url = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/14"
    settings.CACHES = {"default": {"BACKEND": "optimus_site.cache.ReusingRedisCache", "LOCATION": url}}
    settings.CREDENTIAL_CACHE_SECONDS = 60
    from django.core.cache import cache

    cache.clear()
    yield cache
    cache.clear()


def client_with(header: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


@pytest.fixture
def ana(db, shared_cache):
    customer = CustomerFactory(external_id="ana")
    token, plain = customer_token_mint(customer=customer)
    client = client_with(f"Bearer {plain}")
    client.customer, client.token = customer, token
    return client


def credential_queries(client, method: str, url: str, body=None) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = getattr(client, method)(url, body, format="json")
    return response.status_code, [q["sql"] for q in queries if "customertoken" in q["sql"] or "apikey" in q["sql"]]


def test_the_second_request_does_not_read_the_credential_from_the_database(ana):
    notification = NotificationFactory(customer=ana.customer, status=Notification.Status.SENT)
    url = f"{API}/notifications/{notification.pk}/feedback"
    status, first = credential_queries(ana, "post", url, {"action": "delivered", "at": timezone.now().isoformat()})
    assert status == 201 and any(sql.lstrip().upper().startswith("SELECT") for sql in first)
    # The first use also stamped last_used_at, which drops the entry once; from then on it is cached.
    ana.post(url, {"action": "opened", "at": timezone.now().isoformat()}, format="json")
    status, third = credential_queries(ana, "post", url, {"action": "dismissed", "at": timezone.now().isoformat()})
    assert status == 201 and third == []


def test_customer_data_is_never_served_stale_from_the_cache(ana):
    assert ana.get(f"{API}/me/preferences").json()["opt_out"] is False
    ana.customer.opt_out = True
    ana.customer.save()
    assert ana.get(f"{API}/me/preferences").json()["opt_out"] is True


def warm(client, url: str) -> None:
    # The first use stamps last_used_at (and drops the entry); the second leaves it cached.
    for _ in range(2):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    "revoke",
    [
        pytest.param(lambda c: CustomerToken.objects.filter(customer=c.customer).revoke(), id="bulk revoke (admin)"),
        pytest.param(lambda c: (c.token.revoke(), c.token.save()), id="edited and saved (admin form)"),
        pytest.param(lambda c: c.token.delete(), id="deleted"),
        pytest.param(lambda c: c.customer.delete(), id="customer erased"),
    ],
)
def test_every_way_of_revoking_a_token_takes_effect_on_the_next_request(ana, revoke):
    warm(ana, f"{API}/devices")
    revoke(ana)
    assert ana.get(f"{API}/devices").status_code == 401


def test_revoking_through_the_server_api_takes_effect_on_the_next_request(ana, db, shared_cache):
    _, key = api_key_create(name="shop backend")
    backend = client_with(f"Api-Key {key}")
    warm(ana, f"{API}/devices")
    assert backend.delete(f"{API}/customers/ana/token").status_code in (200, 204)
    assert ana.get(f"{API}/devices").status_code == 401


def test_a_revoked_api_key_stops_at_once(db, shared_cache):
    _, key = api_key_create(name="shop backend")
    backend = client_with(f"Api-Key {key}")
    for _ in range(2):
        assert backend.post(f"{API}/items/bulk", {"items": []}, format="json").status_code == 200
    ApiKey.objects.all().revoke()
    assert backend.post(f"{API}/items/bulk", {"items": []}, format="json").status_code == 401
