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


# --- The documented production setup (README, "Running in production") -------------------------

PRODUCTION_ENV = {
    "OPTIMUS_ENV": "production",
    "DEBUG": "false",
    "SECRET_KEY": "k3J9-vQ2_pL8zR5tW1yX6nB4mC7dF0gH2jK5lP8qS3uV6wY9aZ",
    "ALLOWED_HOSTS": "optimus.example.com",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_PROXY_SSL_HEADER": "true",
    "DJANGO_SETTINGS_MODULE": "optimus_site.settings",
}


def run_production(args: list[str], **extra) -> subprocess.CompletedProcess:
    env = dict(os.environ, **PRODUCTION_ENV, **extra)
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300)


def test_check_deploy_is_clean_with_the_documented_settings():
    result = run_production(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_static_files_are_served_with_debug_off(tmp_path):
    # Admin CSS and the Swagger UI's JavaScript, through the WSGI app itself after collectstatic.
    static_root = str(tmp_path / "static")
    collected = run_production(["manage.py", "collectstatic", "--noinput"], STATIC_ROOT=static_root)
    assert collected.returncode == 0, collected.stderr
    code = (
        "import django; django.setup()\n"
        "from django.contrib.staticfiles.storage import staticfiles_storage as s\n"
        "from django.test import Client\n"
        "c = Client(HTTP_HOST='optimus.example.com', HTTP_X_FORWARDED_PROTO='https')\n"
        "for name in ('admin/css/base.css', 'drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js'):\n"
        "    r = c.get(s.url(name), secure=True)\n"
        "    print(name, r.status_code, r.get('Cache-Control', ''))\n"
    )
    served = run_production(["-c", code], STATIC_ROOT=static_root)
    assert served.returncode == 0, served.stderr
    lines = served.stdout.split("\n")
    assert lines[0].startswith("admin/css/base.css 200 max-age="), served.stdout
    assert lines[1].startswith("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js 200"), served.stdout
