"""Shared fixtures. Named personas, as in healthchecks' hc/test.py, so permission tests read like
stories: alice is the superuser, mia is a marketer, charlie is staff with no permissions."""

import pytest
from django.contrib.auth.models import Group, User

from tests.factories import CustomerFactory


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
