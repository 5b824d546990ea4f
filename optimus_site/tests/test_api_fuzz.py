"""Fuzzing the whole API from its own OpenAPI schema (schemathesis): whatever a client sends,
no 5xx, and every response matches the documented status codes, content type and shape.

Examples per operation: FUZZ_EXAMPLES (default 30), bounded so CI stays fast.
"""

import os
import uuid

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devices.services import api_key_create, customer_token_mint
from optimus_site.wsgi import application
from tests.factories import CustomerFactory, ItemFactory, NotificationFactory

SERVER_PREFIXES = ("/api/v1/customers", "/api/v1/items", "/api/v1/events/bulk")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def wsgi_in_test_transaction(db):
    """Django's test client stops each request from closing the database connection (which would
    abort the test's transaction); schemathesis calls the WSGI app directly, so do the same."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_in_test_transaction):
    return schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)


@pytest.fixture
def credentials(db) -> dict[str, str]:
    # schemathesis asks for fixtures once per operation, inside one database transaction.
    run = uuid.uuid4().hex[:8]
    _, key = api_key_create(name=f"fuzz-{run}")
    customer = CustomerFactory(external_id=f"fuzzy-{run}")
    _, token = customer_token_mint(customer=customer)
    ItemFactory(external_id=f"sku-{run}")
    NotificationFactory(customer=customer, status="sent")
    return {"server": f"Api-Key {key}", "mobile": f"Bearer {token}"}


def operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


# Driven with Hypothesis directly rather than schemathesis' pytest plugin, whose lazy fixture
# loading does not work with pytest 9.
def test_api_never_fails_and_always_answers_as_documented(api_schema, credentials, settings):
    settings.ALLOWED_HOSTS = ["*"]
    tested = []
    for operation in operations(api_schema):
        # The fuzzer must reach the code behind authentication, so it sends valid credentials
        # for the operation's kind of caller; the per-app test_api.py files cover what happens without.
        kind = "server" if operation.path.startswith(SERVER_PREFIXES) else "mobile"
        header = {"Authorization": credentials[kind]}

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=int(os.environ.get("FUZZ_EXAMPLES", "30")),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case):
            case.call_and_validate(headers=header, checks=CHECKS)  # noqa: B023 (called right below)

        call()
        tested.append(f"{operation.method.upper()} {operation.path}")
    assert len(tested) >= 13, tested
