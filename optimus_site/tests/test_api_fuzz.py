"""Fuzzing the whole API from its own OpenAPI schema (schemathesis): whatever a client sends,
no 5xx, and every response matches the documented status codes, content type and shape.

Examples per operation: FUZZ_EXAMPLES (default 30) in positive mode, FUZZ_NEGATIVE_EXAMPLES
(default 15) in negative mode (wrong types, missing fields, unknown keys, out-of-range values),
bounded so CI stays fast.
"""

import os
import uuid

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from devices.services import api_key_create, customer_token_mint
from optimus_site.wsgi import application
from tests.factories import CustomerFactory, ItemFactory, NotificationFactory

SERVER_PREFIXES = ("/api/v1/customers", "/api/v1/items", "/api/v1/events/bulk")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Input the schema calls invalid must be refused with a 4xx: that holds only if the schema says
# exactly what the API accepts (patterns, lengths, enums, required fields, unknown keys).
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]
# Batches keep their good rows: a bad row is reported in a 2xx answer's per-row errors (DESIGN.md),
# so only the envelope is checked there, not "invalid means 4xx".
BATCH_PATHS = ("/api/v1/events", "/api/v1/events/bulk", "/api/v1/items/bulk", "/api/v1/me/feedback")


def error_shape(response) -> None:
    """Every answer under /api/v1/ is JSON; every 4xx is in the project's error shape."""
    if response.status_code == 204:  # no content, so no content type
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), (response.status_code, response.headers)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str), body


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


def fuzz(schema, credentials, mode, max_examples: int, checks: list) -> list[str]:
    tested = []
    for operation in operations(schema):
        # The fuzzer must reach the code behind authentication, so it sends valid credentials
        # for the operation's kind of caller; the per-app test_api.py files cover what happens without.
        kind = "server" if operation.path.startswith(SERVER_PREFIXES) else "mobile"
        header = {"Authorization": credentials[kind]}
        operation_checks = [c for c in checks if c is not negative_data_rejection or operation.path not in BATCH_PATHS]

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=max_examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case):
            case_checks = operation_checks  # noqa: B023 (called right below)
            # Unknown query parameters are ignored, as HTTP APIs usually do (caches, tracking tags);
            # unknown keys in a JSON body are refused (see the serializers).
            if set(case.query or {}) - {parameter.name for parameter in operation.query}:  # noqa: B023
                case_checks = [c for c in case_checks if c is not negative_data_rejection]
            response = case.call_and_validate(headers=header, checks=case_checks)  # noqa: B023
            error_shape(response)

        call()
        tested.append(f"{operation.method.upper()} {operation.path}")
    return tested


# Driven with Hypothesis directly rather than schemathesis' pytest plugin, whose lazy fixture
# loading does not work with pytest 9.
def test_api_never_fails_and_always_answers_as_documented(api_schema, credentials, settings):
    settings.ALLOWED_HOSTS = ["*"]
    tested = fuzz(api_schema, credentials, GenerationMode.POSITIVE, int(os.environ.get("FUZZ_EXAMPLES", "30")), CHECKS)
    assert len(tested) >= 13, tested


def test_api_refuses_what_its_schema_calls_invalid(api_schema, credentials, settings):
    settings.ALLOWED_HOSTS = ["*"]
    examples = int(os.environ.get("FUZZ_NEGATIVE_EXAMPLES", "15"))
    tested = fuzz(api_schema, credentials, GenerationMode.NEGATIVE, examples, NEGATIVE_CHECKS)
    assert len(tested) >= 13, tested


def test_schema_says_request_bodies_refuse_unknown_fields(api_schema):
    # StrictSerializer answers 400 to an unknown key; the schema must say so, or clients (and the
    # negative fuzzer) believe unknown keys are fine.
    components = api_schema.raw_schema["components"]["schemas"]
    for name in (
        "CustomerUpsertInputRequest",
        "DeviceRegisterInputRequest",
        "FeedbackInputRequest",
        "PatchedPreferencesRequest",
    ):
        assert components[name].get("additionalProperties") is False, name


def test_schema_gives_the_locale_pattern_the_api_enforces(api_schema):
    import re

    locale = api_schema.raw_schema["components"]["schemas"]["CustomerUpsertInputRequest"]["properties"]["locale"]
    tag, blank = locale["oneOf"]  # a language tag, or "" to clear it
    assert blank == {"type": "string", "maxLength": 0}
    pattern = re.compile(tag["pattern"])
    assert all(pattern.search(tag) for tag in ("en", "de-DE", "zh_Hant_TW"))
    assert not any(pattern.search(tag) for tag in ("e", "12", "en--GB", "en GB"))
