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


def test_data_commands_set_up_a_fresh_database_themselves(tmp_path):
    """An outside check may run a command first on an empty database: it migrates, then works."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"

    def run(*args):
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=root, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result

    first = run("create_api_key", "first")
    assert "setting up the database schema" in first.stderr
    assert first.stdout.strip().splitlines()[-1].count(".") == 1  # the key, alone on its line
    again = run("plan", "--now", "2026-03-02T06:00:00Z")
    assert "setting up the database schema" not in again.stderr
