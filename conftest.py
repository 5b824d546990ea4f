"""Shared fixtures. Named personas, as in healthchecks' hc/test.py, so permission tests read like
stories: alice is the superuser, mia is a marketer, charlie is staff with no permissions."""

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from devices.services import api_key_create, customer_token_mint
from tests.api import client_with
from tests.factories import CustomerFactory


@pytest.fixture(autouse=True)
def _forget_api_auth_failures():
    """Every test client calls from 127.0.0.1: one test's deliberate bad credentials must not
    throttle the next test's (devices.auth_failures counts them per IP in the cache)."""
    from django.core.cache import cache

    from devices.auth_failures import key_for_ip

    cache.delete(key_for_ip("127.0.0.1"))


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_superuser("alice", "alice@example.com", "password")


@pytest.fixture
def mia(db) -> User:
    user = User.objects.create_user("mia", "mia@example.com", "password", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketers"))
    return user


@pytest.fixture
def charlie(db) -> User:
    return User.objects.create_user("charlie", "charlie@example.com", "password", is_staff=True)


@pytest.fixture
def customer(db):
    return CustomerFactory(external_id="c-100", timezone="Europe/Berlin")


# API personas: the shop's backend holds an API key; ana and ben each hold a customer token for
# their own app.


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
