"""manage.py simulate --users N --days D --seed S --policy {blast,seed,optimus} [--world F.json] --json OUT

The closed loop on a simulated population (simulation/simulator.py). Runs on an empty database
(or one holding only an earlier simulation), e.g. DATABASE_URL=sqlite:///sim.sqlite3.
"""

import datetime as dt
import json
import logging
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from optimus_site.dbutils import ensure_schema, parse_moment
from simulation.report import write_report
from simulation.simulator import POLICIES, Simulation
from simulation.world import World, WorldParams

DEFAULT_START = "2024-03-04"  # a Monday; history and simulation both lie in the past, as imports require


class Command(BaseCommand):
    help = (
        "Simulate the closed loop on a population with known ground truth: phones that open, dismiss, "
        "ignore, buy and opt out; the policy (blast, seed or optimus) decides what they get."
    )

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=2000)
        parser.add_argument("--days", type=int, default=14)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--policy", choices=POLICIES, required=True)
        parser.add_argument("--world", help="world.json: parameters overriding the defaults (see simulation/world.py)")
        parser.add_argument("--items", type=int, help="catalog size (default: the world's)")
        parser.add_argument("--start", default=DEFAULT_START, help="first simulated day (UTC)")
        parser.add_argument("--json", dest="json_out", required=True, help="where to write the results")
        parser.add_argument(
            "--report", metavar="DIR", help="add this run to the HTML report in DIR (policies side by side)"
        )
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, **options):
        if options["users"] < 1 or options["days"] < 1 or options["seed"] < 0:
            raise CommandError("--users and --days must be at least 1, --seed at least 0")
        overrides = {"n_users": options["users"]}
        if options["items"]:
            overrides["n_items"] = options["items"]
        try:
            params = WorldParams.from_json(options["world"] or {}, **overrides)
        except (OSError, ValueError, TypeError) as exc:
            raise CommandError(f"--world: {exc}") from None
        start = parse_moment(options["start"], "--start")
        if start + dt.timedelta(days=options["days"]) > dt.datetime.now(tz=dt.UTC):
            raise CommandError("the simulated period must lie in the past (--start)")
        ensure_schema(self.stderr)
        began = time.monotonic()

        def progress(message: str) -> None:
            if not options["quiet"]:
                sys.stderr.write(f"[{time.monotonic() - began:6.1f}s] {message}\n")

        # The log backend reports every push at INFO: tens of thousands of lines in a simulation.
        logging.getLogger("campaigns.push.log").setLevel(logging.WARNING)
        world = World.generate(params, options["seed"])
        try:
            result = Simulation(
                world, policy=options["policy"], days=options["days"], start=start, progress=progress
            ).run()
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        out = result.as_json()
        Path(options["json_out"]).write_text(json.dumps(out, indent=2))
        if options["report"]:
            page = write_report(options["report"], out)
            self.stdout.write(f"report: {page}")
        summary = {k: out[k] for k in ("sends", "deliveries", "opens", "ctr", "dismissals", "opt_outs", "purchases",
                                       "sends_per_user_week")}  # fmt: skip
        self.stdout.write(json.dumps(summary))
        self.stdout.write(self.style.SUCCESS(f"{options['policy']}: wrote {options['json_out']} in {out['seconds']} s"))
