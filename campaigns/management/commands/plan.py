"""manage.py plan [--now ISO] — one planning pass over the 24 hours after now (DESIGN.md)."""

import json

from django.core.management.base import BaseCommand
from django.utils import timezone

from campaigns.planner import plan
from optimus_site.dbutils import ensure_schema, parse_moment


class Command(BaseCommand):
    help = "Plan the next 24 hours of notifications: whether, what and when, for every customer. Safe to rerun."

    def add_arguments(self, parser):
        parser.add_argument("--now", help="the planning clock, ISO 8601 (default: now)")
        parser.add_argument("--first-id", type=int, help="only customers with an id from this one")
        parser.add_argument("--last-id", type=int, help="only customers with an id up to this one")

    def handle(self, *args, **options):
        ensure_schema(self.stderr)
        now = parse_moment(options["now"], "--now") if options["now"] else timezone.now()
        report = plan(now=now, first_id=options["first_id"], last_id=options["last_id"])
        self.stdout.write(json.dumps(report.as_dict(), indent=2))
        self.stdout.write(
            self.style.SUCCESS(f"planned {report.planned} notifications for {report.customers} customers")
        )
