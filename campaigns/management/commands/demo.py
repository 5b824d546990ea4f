"""Sets up the demo on the default SQLite database: migrate, load the Online Retail data, create a
demo admin login, and print what is there. Safe to rerun: the import adds nothing the second time.

The README's main command runs this and then serves the admin.
"""

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from campaigns.models import Campaign, NotificationType, SegmentPolicy
from devices.models import Customer
from optimus_site.data import shared_data_dir
from recommender.models import Category, Event, Item, Segment

DEMO_USER, DEMO_PASSWORD = "admin", "admin"  # noqa: S105 (demo only; refused when DEBUG is off)


class Command(BaseCommand):
    help = "Prepare the demo: migrate, import the Online Retail sample, create the admin/admin login."

    def add_arguments(self, parser):
        parser.add_argument("--skip-import", action="store_true", help="do not load the sample data")

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("the demo creates an admin/admin login, so it only runs with DEBUG on")
        started = time.monotonic()
        self.step("Migrating the database")
        call_command("migrate", verbosity=0)

        if not options["skip_import"]:
            try:
                data = shared_data_dir()
            except FileNotFoundError as exc:
                raise CommandError(str(exc)) from None
            self.step(f"Importing the Online Retail sample from {data}")
            call_command(
                "import_events",
                str(data / "online_retail" / "events.csv.gz"),
                "--items",
                str(data / "online_retail" / "items.csv"),
                "--categories",
                str(data / "category_tree.csv"),
                stdout=self.stdout,
                stderr=self.stderr,
            )

        User = get_user_model()
        if not User.objects.filter(username=DEMO_USER).exists():
            User.objects.create_superuser(DEMO_USER, "admin@example.com", DEMO_PASSWORD)
            self.step(f"Created the demo login {DEMO_USER} / {DEMO_PASSWORD}")

        self.step("What is in the database")
        for label, n in (
            ("customers", Customer.objects.count()),
            ("items", Item.objects.count()),
            ("categories", Category.objects.count()),
            ("events", Event.objects.count()),
            ("segments", Segment.objects.count()),
            ("segment policies", SegmentPolicy.objects.count()),
            ("notification types", NotificationType.objects.count()),
            ("campaigns", Campaign.objects.count()),
        ):
            self.stdout.write(f"  {label:20} {n:>10,}")
        self.stdout.write(self.style.SUCCESS(f"Demo ready in {time.monotonic() - started:.0f} s"))

    def step(self, message: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {message}"))
