"""Failed API authentication is throttled per client IP, through the real view and cache."""

import pytest
from django.core.cache import cache
from django.test import override_settings

from devices.models import ApiKey
from devices.services import api_key_create
from tests.api import client_with

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def get(authorization, ip="10.1.0.1"):
    return client_with(authorization).post(f"{API}/customers/c-7/token", REMOTE_ADDR=ip)


@override_settings(API_AUTH_FAILURES=3, API_AUTH_FAILURE_WINDOW_S=60)
def test_bad_keys_from_one_ip_are_throttled_even_before_a_good_key():
    _, good = api_key_create(name="shop backend")
    revoked_key, revoked = api_key_create(name="old")
    ApiKey.objects.filter(pk=revoked_key.pk).revoke()
    for authorization in ["Api-Key nonsense", f"Api-Key {good[:8]}.wrong-secret", f"Api-Key {revoked}"]:
        assert get(authorization).status_code == 401
    response = get(f"Api-Key {good}")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    # Another IP with the good key is not affected.
    assert get(f"Api-Key {good}", ip="10.1.0.2").status_code != 429


@override_settings(API_AUTH_FAILURES=3, API_AUTH_FAILURE_WINDOW_S=60)
def test_fewer_failures_than_the_limit_are_not_throttled():
    _, good = api_key_create(name="shop backend")
    for _ in range(2):
        assert get("Api-Key nonsense").status_code == 401
    assert get(f"Api-Key {good}").status_code != 429
