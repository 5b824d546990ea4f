"""create_api_key and demo: the commands outside the importer."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from devices.models import ApiKey


@pytest.mark.django_db
def test_create_api_key_prints_the_key_alone_on_the_last_line_and_stores_only_its_hash():
    out = io.StringIO()
    call_command("create_api_key", "shop backend", stdout=out, stderr=io.StringIO())
    plain = out.getvalue().strip().splitlines()[-1]
    key = ApiKey.objects.get(name="shop backend")
    assert plain.startswith(key.prefix + ".")
    assert key.hashed_secret == ApiKey.hash(plain)
    assert plain not in key.hashed_secret
    assert key.matches(plain) and not key.matches(plain + "x")


@pytest.mark.django_db
def test_create_api_key_refuses_a_duplicate_name():
    call_command("create_api_key", "backend", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_api_key", "backend", stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db
def test_demo_creates_the_login_and_reports_counts(settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("demo", "--skip-import", stdout=out)
    assert User.objects.get(username="admin").is_superuser
    assert "segments" in out.getvalue() and "Demo ready" in out.getvalue()
    call_command("demo", "--skip-import", stdout=io.StringIO())  # rerun is safe
    assert User.objects.filter(username="admin").count() == 1


@pytest.mark.django_db
def test_demo_refuses_to_run_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("demo", "--skip-import", stdout=io.StringIO())
