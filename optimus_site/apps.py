from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _schedule_after_migrate(sender, using: str = "default", **kwargs) -> None:
    # post_migrate is sent once per app with models; the schedule is written once, after beat's.
    if sender.label != "django_celery_beat":
        return
    from optimus_site.schedule import ensure_beat_schedule  # beat's models: not importable before ready()

    ensure_beat_schedule(using=using)


class OptimusSiteConfig(AppConfig):
    """The project itself as an app, so that its beat schedule is written after `migrate`."""

    name = "optimus_site"
    verbose_name = "Optimus"

    def ready(self) -> None:
        post_migrate.connect(_schedule_after_migrate, dispatch_uid="optimus_site.schedule")
