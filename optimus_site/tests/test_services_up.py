"""The suite is meant to run on MariaDB and Redis (see README). These tests fail, rather than
skip, when it is pointed elsewhere, so CI can never pass while quietly testing on SQLite."""

import pytest
from django.conf import settings
from django.db import connection


@pytest.mark.django_db
def test_suite_runs_on_mysql():
    assert connection.vendor == "mysql", "run the tests through the README command (MariaDB)"
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@character_set_database, @@sql_mode")
        charset, sql_mode = cursor.fetchone()
    assert charset == "utf8mb4"
    assert "STRICT_TRANS_TABLES" in sql_mode


def test_celery_round_trip_through_redis():
    """A real worker, consuming from the real Redis broker, answers a task."""
    from celery.contrib.testing.worker import start_worker

    from optimus_site.celery import app, ping

    assert settings.CELERY_BROKER_URL.startswith("redis://"), "set CELERY_BROKER_URL (README test command)"
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        assert ping.delay().get(timeout=20) == "pong"


@pytest.mark.django_db
def test_health_check_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
