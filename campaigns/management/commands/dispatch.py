"""manage.py dispatch [--now ISO] — sends everything due at or before now (DESIGN.md).

Without a broker the sending happens in this process. With one, batches go to Celery workers on
the `send` queue and the command returns when they are done (or --timeout passes)."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.dispatcher import SendReport, dispatch
from optimus_site.dbutils import ensure_schema
from recommender.management.commands.train import parse_moment


class Command(BaseCommand):
    help = "Send every notification due at or before now; returns when the provider calls have finished."

    def add_arguments(self, parser):
        parser.add_argument("--now", help="the sending clock, ISO 8601 (default: now)")
        parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for workers (with a broker)")

    def handle(self, *args, **options):
        ensure_schema(self.stderr)
        now = parse_moment(options["now"], "--now") if options["now"] else timezone.now()
        if settings.CELERY_TASK_ALWAYS_EAGER:
            report = dispatch(now=now)
        else:
            from campaigns.tasks import send_batch

            pending = []
            report = dispatch(now=now, send=lambda batch: pending.append(send_batch.delay(batch, now.isoformat())))
            for result in pending:
                try:
                    report.add(SendReport(**_fields(result.get(timeout=options["timeout"]))))
                except TimeoutError as exc:
                    raise CommandError(f"workers did not finish within {options['timeout']} s") from exc
        self.stdout.write(json.dumps(report.as_dict(), indent=2))
        self.stdout.write(self.style.SUCCESS(f"sent {report.sent} notifications ({report.delivered} deliveries)"))


def _fields(data: dict) -> dict:
    from collections import Counter

    return {**data, "suppressed": Counter(data.get("suppressed", {}))}
