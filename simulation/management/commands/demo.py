"""The README's main job on the embedded default (SQLite, no servers): the whole loop.

    migrate → generate a seeded world and its behaviour history → for `blast`, then `optimus`:
    import, train, plan, dispatch through the log backend, phones answer → effectiveness summary
    and report → the admin/admin login (scripts/demo.sh then serves the admin, dashboard filled).

Safe to rerun: the simulation starts from its own empty state each time. Optionally loads the
real Online Retail sample instead (--online-retail), into its own database (see scripts/demo.sh).
"""

import json
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from campaigns.models import Notification
from devices.models import Customer
from optimus_site.data import shared_data_dir
from recommender.models import Event, ModelVersion

DEMO_USER, DEMO_PASSWORD = "admin", "admin"  # noqa: S105 (demo only; refused when DEBUG is off)
COMPARED = ("sends", "opens", "ctr", "dismissals", "opt_outs", "purchases", "sends_per_user_week")


class Command(BaseCommand):
    help = "Run the whole loop on a simulated population (blast vs optimus) and prepare the admin."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=1000)
        parser.add_argument("--days", type=int, default=7)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--report", default="demo-report", help="where the effectiveness report goes")
        parser.add_argument("--online-retail", action="store_true", help="also import the Online Retail sample")

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("the demo creates an admin/admin login, so it only runs with DEBUG on")
        started = time.monotonic()
        self.step("Migrating the database")
        call_command("migrate", verbosity=0)

        # The real sample goes into its own database (scripts/demo.sh picks the file): the simulation
        # refuses a database holding real customers, and mixing both catalogues by id would lie.
        if options["online_retail"]:
            try:
                data = shared_data_dir()
            except FileNotFoundError as exc:
                raise CommandError(str(exc)) from None
            self.step(f"Importing the Online Retail sample from {data}")
            call_command(
                "import_events", str(data / "online_retail" / "events.csv.gz"),
                "--items", str(data / "online_retail" / "items.csv"),
                "--categories", str(data / "category_tree.csv"),
                stdout=self.stdout, stderr=self.stderr,
            )  # fmt: skip

        else:
            report = Path(options["report"])
            results = {}
            for policy in ("blast", "optimus"):
                self.step(
                    f"Simulating {options['users']:,} people for {options['days']} days with policy `{policy}` "
                    "(world → import → train → plan → dispatch → phones answer)"
                )
                out = report / f"{policy}-run.json"
                report.mkdir(parents=True, exist_ok=True)
                call_command(
                    "simulate",
                    "--users", str(options["users"]), "--days", str(options["days"]), "--seed", str(options["seed"]),
                    "--policy", policy, "--json", str(out), "--report", str(report), "--quiet",
                    stdout=self.stdout,
                )  # fmt: skip
                results[policy] = json.loads(out.read_text())

            self.step("Effectiveness: the same people, the same days")
            self.stdout.write(f"  {'':22}{'blast':>12}{'optimus':>12}")
            for key in COMPARED:
                a, b = results["blast"][key], results["optimus"][key]
                fmt = (
                    (lambda v: f"{v:.1%}")
                    if key == "ctr"
                    else (lambda v: f"{v:,.2f}" if isinstance(v, float) else f"{v:,}")
                )
                self.stdout.write(f"  {key:22}{fmt(a):>12}{fmt(b):>12}")
            blast, optimus = results["blast"], results["optimus"]
            if blast["sends"] and blast["ctr"]:
                self.stdout.write(
                    f"  optimus sent {optimus['sends'] / blast['sends']:.0%} of blast's pushes at "
                    f"{optimus['ctr'] / blast['ctr']:.1f}× its click-through rate"
                )
            self.stdout.write(f"  report: {(report / 'index.html').resolve()}")

        User = get_user_model()
        if not User.objects.filter(username=DEMO_USER).exists():
            User.objects.create_superuser(DEMO_USER, "admin@example.com", DEMO_PASSWORD)
            self.step(f"Created the demo login {DEMO_USER} / {DEMO_PASSWORD}")

        self.step("What is in the database")
        for label, n in (
            ("customers", Customer.objects.count()),
            ("events", Event.objects.count()),
            ("model versions", ModelVersion.objects.count()),
            ("notifications", Notification.objects.count()),
        ):
            self.stdout.write(f"  {label:20} {n:>10,}")
        self.stdout.write(self.style.SUCCESS(f"Demo ready in {time.monotonic() - started:.0f} s"))

    def step(self, message: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {message}"))


def _shown(key: str, value) -> str:
    if key == "ctr":
        return f"{value:.1%}"
    return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
