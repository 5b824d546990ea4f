"""create_api_key, and what every data command does on an empty database: set it up first."""

import io

import pytest
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


def test_data_commands_set_up_a_fresh_database_themselves(tmp_path):
    """An outside check may run a command first on an empty database: it migrates, then works."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
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
