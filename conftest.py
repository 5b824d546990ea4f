"""Shared fixtures. Named personas, as in healthchecks' hc/test.py, so permission tests read like
stories: alice is the superuser, mia is a marketer, charlie is staff with no permissions."""

import importlib

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


# The rows the migrations seed (segments, types and policies, the Marketers group and its rights,
# offers), in the order the migrations write them.
SEED_FUNCTIONS = [
    ("recommender.migrations.0002_seed_segments", "seed_segments"),
    ("campaigns.migrations.0002_seed_types_and_policies", "seed"),
    ("campaigns.migrations.0003_marketers_group", "create_group"),
    ("campaigns.migrations.0009_marketers_steer_sending", "grant"),
    ("campaigns.migrations.0010_offers_and_second_approver", "mark_types_promising_an_offer"),
]


@pytest.fixture(autouse=True)
def _seeded_rows_after_a_flush(request):
    """A transactional test (threads, a live server) ends by flushing every table, seeded rows
    included, and serialized_rollback cannot bring them back once the flush re-created the content
    types. So a transactional test that starts without them runs the seed migrations' functions
    again: each test sees the database a fresh migrate leaves, whatever ran before it."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if not transactional:
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps

    from recommender.models import Segment

    if not Segment.objects.exists():
        for module, function in SEED_FUNCTIONS:
            getattr(importlib.import_module(module), function)(apps, None)
