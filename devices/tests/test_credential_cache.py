"""With a shared cache (CACHE_URL=redis://…), credentials are served from Redis — and every way
of revoking or deleting one still stops it on the very next request."""

import threading

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Notification
from devices import credential_cache
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


# --- Under concurrency (issue 17, item 1) ---------------------------------------------------------


def revoke_token_by_api(key: str, customer_id: str) -> None:
    assert client_with(f"Api-Key {key}").delete(f"{API}/customers/{customer_id}/token").status_code in (200, 204)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("credential", "revoke"),
    [
        pytest.param("token", lambda key, c: revoke_token_by_api(key, c.external_id), id="token, server API"),
        pytest.param("token", lambda key, c: CustomerToken.objects.filter(customer=c).revoke(), id="token, admin"),
        pytest.param("token", lambda key, c: CustomerToken.objects.filter(customer=c).delete(), id="token deleted"),
        pytest.param("key", lambda key, c: ApiKey.objects.filter(name="racing").revoke(), id="API key, admin"),
    ],
)
def test_a_request_racing_a_revocation_cannot_put_the_old_row_back(shared_cache, monkeypatch, credential, revoke):
    """A request reads the still-active row from the database; the revocation commits and returns;
    only then does the request write what it read to the cache. The next request must be refused."""
    customer = CustomerFactory(external_id="racer")
    _, token = customer_token_mint(customer=customer)
    _, racing_key = api_key_create(name="racing")
    _, admin_key = api_key_create(name="operator")
    # Used a moment ago: the racing request does not stamp last_used_at (which would drop the entry).
    CustomerToken.objects.update(last_used_at=timezone.now())
    ApiKey.objects.update(last_used_at=timezone.now())
    header, url = (
        (f"Bearer {token}", f"{API}/devices")
        if credential == "token"
        else (f"Api-Key {racing_key}", f"{API}/items/bulk")
    )

    in_the_gap, go_on = threading.Event(), threading.Event()
    real_put = credential_cache.put

    def put_after_the_revocation(*args):
        if threading.current_thread().name == "racer":
            in_the_gap.set()
            go_on.wait(10)
        real_put(*args)

    monkeypatch.setattr(credential_cache, "put", put_after_the_revocation)
    statuses = []

    def race() -> None:
        try:
            client = client_with(header)
            response = client.get(url) if credential == "token" else client.post(url, {"items": []}, format="json")
            statuses.append(response.status_code)
        finally:
            connections.close_all()

    racer = threading.Thread(target=race, name="racer")
    racer.start()
    try:
        assert in_the_gap.wait(10), "the racing request never reached the cache"
        revoke(admin_key, customer)
    finally:
        go_on.set()
        racer.join(10)
    assert statuses == [200]  # it started before the revocation: let in
    again = client_with(header)
    response = again.get(url) if credential == "token" else again.post(url, {"items": []}, format="json")
    assert response.status_code == 401


@pytest.mark.django_db(transaction=True)
def test_revocation_holds_for_every_request_started_after_it_under_load(shared_cache):
    """Four threads use a token as fast as they can while it is revoked: every request that started
    after revoke() returned is refused."""
    customer = CustomerFactory(external_id="busy")
    _, token = customer_token_mint(customer=customer)
    revoked_at: list[float] = []
    late_successes: list[float] = []
    stop = threading.Event()

    def hammer() -> None:
        import time

        client = client_with(f"Bearer {token}")
        try:
            while not stop.is_set():
                started = time.monotonic()
                ok = client.get(f"{API}/devices").status_code == 200
                if ok and revoked_at and started > revoked_at[0]:
                    late_successes.append(started)
        finally:
            connections.close_all()

    import time

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    CustomerToken.objects.filter(customer=customer).revoke()
    revoked_at.append(time.monotonic())
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(10)
    assert late_successes == []
