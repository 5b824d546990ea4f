"""Offline evaluation of the recommender from an events file; no database needed.

    manage.py evaluate_recommender events.csv.gz --test-days 28 --json out.json [--exclude-seen]

Protocol (DESIGN.md): cutoff = max(timestamp) − N days; train = before it, test = from it; test
users have events on both sides; relevant = the user's distinct test items (any event type);
candidates = items seen in train. Everything that is tuned is tuned on the last N days of train.
"""

import json
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Evaluate the recommender offline on an events file (RetailRocket layout, optionally gzipped). "
        "Reports popularity, recent_popularity, history (include-seen only), item_knn, ease, lightfm and "
        "optimus (what Optimus serves). With --exclude-seen each user's train items are removed from their "
        "candidates while relevant stays every distinct test item, seen or not (the reading that reproduces "
        "the reference numbers of issue 4)."
    )

    def add_arguments(self, parser):
        parser.add_argument("events", help="events.csv[.gz]: timestamp,visitorid,event,itemid,transactionid[,amount]")
        parser.add_argument("--test-days", type=float, required=True, help="length of the test period, in days")
        parser.add_argument("--k", type=int, default=10, help="list length (default 10)")
        parser.add_argument(
            "--exclude-seen",
            action="store_true",
            help="remove each user's train items from their candidates (relevant still counts them)",
        )
        parser.add_argument("--json", required=True, dest="json_out", help="where to write the results")
        parser.add_argument("--items", help="optional items.csv (itemid, price, categoryid…): item side features")
        parser.add_argument(
            "--item-properties", help="optional item_properties.csv[.gz]: categoryid and available, as of the cutoff"
        )
        parser.add_argument("--categories", help="optional category_tree.csv: parents of categories")
        parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    def handle(self, *args, **options):
        from recommender.ml.data import load_catalog, load_events, time_split
        from recommender.ml.evaluation import evaluate_recommender

        if options["test_days"] <= 0 or options["k"] < 1:
            raise CommandError("--test-days must be positive and --k at least 1")
        started = time.monotonic()

        def progress(message: str) -> None:
            if not options["quiet"]:
                sys.stderr.write(f"[{time.monotonic() - started:6.1f}s] {message}\n")

        try:
            events = load_events(options["events"])
            catalog = None
            if options["items"] or options["item_properties"]:
                catalog = load_catalog(
                    items=options["items"],
                    item_properties=options["item_properties"],
                    categories=options["categories"],
                    as_of_ms=time_split(events, options["test_days"]).cutoff_ms,
                )
            report = evaluate_recommender(
                events,
                test_days=options["test_days"],
                k=options["k"],
                exclude_seen=options["exclude_seen"],
                catalog=catalog,
                progress=progress,
            )
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(str(exc)) from None
        Path(options["json_out"]).write_text(json.dumps(report.as_json(), indent=2))
        split = report.split
        self.stdout.write(
            f"{split['test_users']} test users, {split['items']} candidate items, {split['train_events']} train events"
            f" ({'exclude' if options['exclude_seen'] else 'include'} seen)"
        )
        self.stdout.write(report.table())
        self.stdout.write(self.style.SUCCESS(f"Wrote {options['json_out']} in {time.monotonic() - started:.1f} s"))
