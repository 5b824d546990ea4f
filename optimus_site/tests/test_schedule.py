"""Beat's default schedule (optimus_site.schedule): written after migrate, only where missing."""

import pytest
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from optimus_site.celery import app
from optimus_site.schedule import SCHEDULE, ensure_beat_schedule

pytestmark = pytest.mark.django_db


def test_migrate_wrote_the_default_schedule():
    rows = {task.name: task for task in PeriodicTask.objects.filter(name__in=[name for name, *_ in SCHEDULE])}
    assert set(rows) == {name for name, *_ in SCHEDULE}
    train = rows["Train every night"]
    assert train.task == "recommender.train" and train.enabled
    assert (train.crontab.minute, train.crontab.hour, str(train.crontab.timezone)) == ("30", "2", "UTC")
    assert rows["Dispatch every minute"].interval.every == 60


def test_every_scheduled_task_is_registered():
    app.loader.import_default_modules()
    assert {task for _, task, *_ in SCHEDULE} <= set(app.tasks)


def test_rerunning_creates_nothing_and_keeps_operator_edits():
    plan = PeriodicTask.objects.get(name="Plan every hour")
    plan.enabled = False
    plan.crontab = CrontabSchedule.objects.create(minute="45", hour="*", timezone="UTC")
    plan.save()
    count = PeriodicTask.objects.count()

    assert ensure_beat_schedule() == []
    call_command("migrate", verbosity=0)  # post_migrate runs it again

    assert PeriodicTask.objects.count() == count
    plan.refresh_from_db()
    assert not plan.enabled and plan.crontab.minute == "45"


def test_a_missing_row_is_created_again():
    PeriodicTask.objects.filter(name="Clean up every night").delete()
    assert ensure_beat_schedule() == ["Clean up every night"]
    assert PeriodicTask.objects.get(name="Clean up every night").task == "campaigns.cleanup"
