"""The Celery app. Queues: `train`, `plan`, `send` (see README, "Running in production")."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "optimus_site.settings")

app = Celery("optimus")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="optimus.ping")
def ping() -> str:
    """Round trip used by the health check and the tests to prove a worker is listening."""
    return "pong"
