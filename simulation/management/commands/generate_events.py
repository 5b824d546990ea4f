"""A synthetic behaviour log drawn from a seeded simulated world (simulation/world.py).

    manage.py generate_events data/sim --users 10000 --items 5000 --days 60 --seed 1 [--world F.json]

Writes events.csv.gz, item_properties.csv.gz, category_tree.csv, items.csv (the import layout of
DESIGN.md, for `import_events` and `evaluate_recommender`), customers.csv (visitorid, timezone)
and world.json (parameters and seed: `World.load` rebuilds the same population). No database.
"""

import datetime as dt
import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

DEFAULT_START = "2024-01-01T00:00:00Z"
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
# import_events accepts history up to a day ahead of its clock; a log ending later would be rejected.
FUTURE_SLACK = dt.timedelta(days=1)


class Command(BaseCommand):
    help = (
        "Generate a RetailRocket-layout event log from a seeded simulated population (tastes over a "
        "category tree, local-time activity profiles, view → cart → purchase funnel, repeat purchases)."
    )

    def add_arguments(self, parser):
        parser.add_argument("out_dir", help="directory to write the files to (created if missing)")
        parser.add_argument("--users", type=int, help="number of people (default: the world's n_users, 10000)")
        parser.add_argument("--items", type=int, help="number of items (default: the world's n_items, 5000)")
        parser.add_argument("--days", type=float, default=60.0, help="length of the log in days (default 60)")
        parser.add_argument("--seed", type=int, help="seed of the population and the log (default: world.json's, or 0)")
        parser.add_argument("--world", help="JSON file of world parameters overriding the defaults (or a world.json)")
        parser.add_argument("--start", help=f"start of the log, ISO 8601 (default {DEFAULT_START}; naive = UTC)")

    def handle(self, *args, **options):
        from simulation.world import World, WorldParams, write_dataset

        started = time.monotonic()
        for name in ("users", "items"):
            if options[name] is not None and options[name] < 1:
                raise CommandError(f"--{name} must be at least 1")
        if not options["days"] > 0:
            raise CommandError("--days must be positive")
        start = self.parse_start(options["start"] or DEFAULT_START)
        end = start + dt.timedelta(days=options["days"])
        if end > dt.datetime.now(tz=dt.UTC) + FUTURE_SLACK:
            raise CommandError(
                f"the log would end in the future ({end:%Y-%m-%d %H:%M} UTC) and import_events would reject "
                "those events: choose an earlier --start or fewer --days"
            )

        source: dict = {}
        if options["world"]:
            try:
                source = json.loads(Path(options["world"]).read_text())
            except OSError as exc:
                raise CommandError(f"{options['world']}: cannot read ({exc.strerror})") from None
            except json.JSONDecodeError as exc:
                raise CommandError(f"{options['world']}: not valid JSON ({exc})") from None
        overrides = {k: options[v] for k, v in (("n_users", "users"), ("n_items", "items")) if options[v] is not None}
        try:
            params = WorldParams.from_json(source, **overrides)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        seed = options["seed"] if options["seed"] is not None else source.get("seed", 0)
        if not isinstance(seed, int) or seed < 0:
            raise CommandError(f"the seed must be a non-negative integer, got {seed!r}")

        world = World.generate(params, seed)
        # The log has its own stream, so the population stays the same whatever the dates.
        log = world.sample_events(int(start.timestamp() * 1000), options["days"], rng=[seed, 1])
        extra = {"start": start.isoformat().replace("+00:00", "Z"), "days": options["days"], "events": len(log.events)}
        try:
            paths = write_dataset(options["out_dir"], world, log, extra=extra)
        except OSError as exc:
            raise CommandError(f"{options['out_dir']}: cannot write ({exc.strerror})") from None
        self.summary(world, log)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {', '.join(p.name for p in paths.values())} to {options['out_dir']} in {elapsed:.1f} s"
            )
        )

    @staticmethod
    def parse_start(text: str) -> dt.datetime:
        try:
            start = dt.datetime.fromisoformat(text)
        except ValueError:
            raise CommandError(f"--start {text!r} is not an ISO 8601 date or time") from None
        start = start.replace(tzinfo=dt.UTC) if start.tzinfo is None else start.astimezone(dt.UTC)
        if start < EARLIEST:
            raise CommandError("--start must be 2000-01-01 or later")
        return start

    def summary(self, world, log) -> None:
        import numpy as np

        events = log.events
        counts = events["event"].value_counts()
        buys = events[events["event"] == "transaction"]

        def when(ms: int) -> str:
            return f"{dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC):%Y-%m-%d %H:%M} UTC"

        rows = [
            ("users", f"{world.n_users:,}", f"{events['visitorid'].nunique():,} with events, {len(world.zones)} zones"),
            ("items", f"{world.n_items:,}", f"{events['itemid'].nunique():,} with events"),
            ("categories", f"{len(world.category_ids):,}", f"{(np.diff(world.leaf_start) > 0).sum():,} hold items"),
            ("sessions", f"{len(log.sessions):,}", ""),
            ("events", f"{len(events):,}", ""),
        ]
        rows += [(f"  {kind}", f"{counts.get(kind, 0):,}", "") for kind in ("view", "addtocart", "transaction")]
        rows.append(("transactions", f"{buys['transactionid'].nunique():,}", f"revenue {buys['amount'].sum():,.2f}"))
        if len(events):
            rows.append(("from", when(int(events["timestamp"].min())), ""))
            rows.append(("to", when(int(events["timestamp"].max())), ""))
        for label, value, note in rows:
            self.stdout.write(f"{label:14s}{value:>22s}  {note}".rstrip())
