"""The default beat schedule, as django-celery-beat rows: operators see and change it in the admin
(Periodic tasks). Times are UTC. Created only where missing, so an operator's edits survive."""

from django.db import migrations

SCHEDULE = [
    # name, task, crontab (minute, hour) or interval seconds, description
    ("Train every night", "recommender.train", ("30", "2"), "Fits every model from the data; queue train."),
    ("Plan every hour", "campaigns.plan", ("5", "*"), "Plans the next 24 hours, sharded by customer id; queue plan."),
    ("Dispatch every minute", "campaigns.dispatch", 60, "Sends what is due and retries what waited; queue send."),
    ("Clean up every night", "campaigns.cleanup", ("15", "3"), "Removes dead devices and old deliveries."),
]


def create(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    for name, task, when, description in SCHEDULE:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        if isinstance(when, int):
            interval, _ = IntervalSchedule.objects.get_or_create(every=when, period="seconds")
            PeriodicTask.objects.create(name=name, task=task, interval=interval, description=description)
        else:
            minute, hour = when
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
            )
            PeriodicTask.objects.create(name=name, task=task, crontab=crontab, description=description)


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_ in SCHEDULE]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0005_sending_switch"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
