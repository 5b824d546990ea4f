"""Offline evaluation of send-time policies on an events file; no database needed.

    manage.py evaluate_timing ../shared/data/online_retail/events.csv.gz --test-days 28 --json timing.json

Writes {"split": {...}, "models": {NAME: {"hit_rate", "user_days"}}, "optimus": {"policy", "validation"}}.
The protocol is in recommender/ml/timing_eval.py.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Evaluate send-time policies (hit = an event at the chosen hour or the next) on an events file."

    def add_arguments(self, parser):
        parser.add_argument("events", help="events.csv[.gz] in the RetailRocket layout")
        parser.add_argument("--test-days", type=int, required=True, help="the last N days are the test period")
        parser.add_argument("--json", required=True, help="where to write the results")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        from recommender.ml.timing_eval import evaluate_file

        if options["test_days"] < 1:
            raise CommandError("--test-days must be at least 1")
        try:
            result = evaluate_file(options["events"], options["test_days"], seed=options["seed"])
        except (OSError, ValueError) as exc:
            raise CommandError(f"{options['events']}: {exc}") from None
        Path(options["json"]).write_text(json.dumps(result, indent=2) + "\n")
        models = result["models"]
        width = max(map(len, models))
        for name, row in sorted(models.items(), key=lambda item: -item[1]["hit_rate"]):
            self.stdout.write(f"{name:<{width}}  {row['hit_rate']:.4f}")
        self.stdout.write(
            f"{result['split']['user_days']} user-days of {result['split']['test_users']} test users; "
            f"optimus policy: {result['optimus']['policy']}; written to {options['json']}"
        )
