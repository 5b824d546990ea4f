"""Production settings refuse weak secret keys; the real settings module runs in a subprocess."""

import os
import subprocess
import sys

import pytest

EXAMPLE_KEY = "change-me-to-50-random-characters-python-c-import-secrets-print-secrets-token-urlsafe-50"


def load_settings(secret_key):
    env = dict(os.environ, OPTIMUS_ENV="production", DEBUG="false", SECRET_KEY=secret_key, ALLOWED_HOSTS="example.org")
    env["DJANGO_SETTINGS_MODULE"] = "optimus_site.settings"
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("key", [EXAMPLE_KEY, "a" * 60, "abcd" * 20, "x7Gq" * 10])
def test_production_refuses_weak_secret_key(key):
    result = load_settings(key)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_accepts_random_secret_key():
    result = load_settings("k3J9-vQ2_pL8zR5tW1yX6nB4mC7dF0gH2jK5lP8qS3uV6wY9aZ")
    assert result.returncode == 0, result.stderr


def test_https_hardening_comes_from_the_environment():
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="optimus_site.settings",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_SSL_REDIRECT="true",
        SECURE_PROXY_SSL_HEADER="true",
    )
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER)"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "31536000 True ('HTTP_X_FORWARDED_PROTO', 'https')"


def test_production_refuses_to_start_without_allowed_hosts():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="optimus_site.settings", OPTIMUS_ENV="production", DEBUG="false")
    env.update(SECRET_KEY="k3J9-vQ2_pL8zR5tW1yX6nB4mC7dF0gH2jK5lP8qS3uV6wY9aZ", ALLOWED_HOSTS="")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr
