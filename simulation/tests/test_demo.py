"""demo: the whole loop on the embedded default, both policies side by side, and the admin login."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command


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
