"""Admin login lockout per username and per client IP, through the real login view and cache."""

import time

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def operator():
    return User.objects.create_superuser("operator", "op@example.org", "right-password-123")


def login(client, username, password):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


@override_settings(LOGIN_LOCKOUT_FAILURES=3, LOGIN_LOCKOUT_WINDOW_S=60)
def test_repeated_failures_lock_the_username_out_even_with_the_right_password(operator, caplog):
    for _ in range(3):
        assert login(Client(REMOTE_ADDR="10.0.0.1"), "operator", "wrong").status_code == 200
    # Another IP, the right password: the username is locked.
    response = login(Client(REMOTE_ADDR="10.0.0.2"), "operator", "right-password-123")
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session
    assert any("locked out" in record.getMessage() for record in caplog.records)


@override_settings(LOGIN_LOCKOUT_FAILURES=3, LOGIN_LOCKOUT_WINDOW_S=60)
def test_repeated_failures_from_one_ip_lock_that_ip_out(operator):
    for name in ["alice", "bob", "carol"]:
        login(Client(REMOTE_ADDR="10.0.0.9"), name, "guess")
    response = login(Client(REMOTE_ADDR="10.0.0.9"), "operator", "right-password-123")
    assert "Too many failed login attempts" in response.content.decode()
    # The username itself has no failures: from another IP it logs in.
    response = login(Client(REMOTE_ADDR="10.0.0.10"), "operator", "right-password-123")
    assert response.status_code == 302


@override_settings(LOGIN_LOCKOUT_FAILURES=3, LOGIN_LOCKOUT_WINDOW_S=6)
def test_login_succeeds_again_after_the_window(operator):
    started = time.monotonic()  # the window starts at the first failure, a bit later
    for _ in range(3):
        login(Client(REMOTE_ADDR="10.0.0.1"), "operator", "wrong")
    assert "Too many failed" in login(Client(REMOTE_ADDR="10.0.0.1"), "operator", "right-password-123").content.decode()
    time.sleep(max(0, started + 8 - time.monotonic()))
    response = login(Client(REMOTE_ADDR="10.0.0.1"), "operator", "right-password-123")
    assert response.status_code == 302, response.content.decode()


@override_settings(LOGIN_LOCKOUT_FAILURES=3, LOGIN_LOCKOUT_WINDOW_S=60)
def test_fewer_failures_than_the_limit_do_not_lock(operator):
    for _ in range(2):
        login(Client(REMOTE_ADDR="10.0.0.1"), "operator", "wrong")
    assert login(Client(REMOTE_ADDR="10.0.0.1"), "operator", "right-password-123").status_code == 302
