"""Beat's default schedule, as django-celery-beat rows: operators see and change it in the admin
(Periodic tasks). Times are UTC.

``ensure_beat_schedule`` runs after every ``migrate`` (``optimus_site.apps``) and creates only the rows
whose name is missing, so an operator's edits survive; to stop a default task, untick "enabled" (a
deleted row comes back at the next migrate).
"""

from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

SCHEDULE = [
    # name, task, crontab (minute, hour) or interval seconds, description
    ("Train every night", "recommender.train", ("30", "2"), "Fits every model from the data; queue train."),
    ("Plan every hour", "campaigns.plan", ("5", "*"), "Plans the next 24 hours, sharded by customer id; queue plan."),
    ("Dispatch every minute", "campaigns.dispatch", 60, "Sends what is due and retries what waited; queue send."),
    ("Clean up every night", "campaigns.cleanup", ("15", "3"), "Removes dead devices and old deliveries."),
]


def ensure_beat_schedule(*, using: str = "default") -> list[str]:
    """Creates the SCHEDULE rows that do not exist yet (by name); returns the names created."""
    created = []
    for name, task, when, description in SCHEDULE:
        if PeriodicTask.objects.using(using).filter(name=name).exists():
            continue
        if isinstance(when, int):
            interval, _ = IntervalSchedule.objects.using(using).get_or_create(every=when, period="seconds")
            PeriodicTask.objects.using(using).create(name=name, task=task, interval=interval, description=description)
        else:
            minute, hour = when
            crontab, _ = CrontabSchedule.objects.using(using).get_or_create(
                minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
            )
            PeriodicTask.objects.using(using).create(name=name, task=task, crontab=crontab, description=description)
        created.append(name)
    return created
