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
def test_demo_runs_the_loop_compares_policies_and_creates_the_login(settings, tmp_path):
    settings.DEBUG = True
    settings.MODEL_ARTIFACT_DIR = tmp_path / "models"
    out = io.StringIO()
    args = ["--users", "120", "--days", "2", "--report", str(tmp_path / "report")]
    call_command("demo", *args, stdout=out)
    text = out.getvalue()
    assert User.objects.get(username="admin").is_superuser
    assert "blast" in text and "optimus" in text and "ctr" in text and "Demo ready" in text
    assert (tmp_path / "report" / "index.html").exists()
    call_command("demo", *args, stdout=io.StringIO())  # rerun is safe
    assert User.objects.filter(username="admin").count() == 1


@pytest.mark.django_db
def test_demo_refuses_to_run_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("demo", stdout=io.StringIO())
