"""manage.py train [--since DATE] [--now ISO] — fits every model from the database (DESIGN.md)."""

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.training import model_train
from optimus_site.dbutils import ensure_schema, parse_moment


class Command(BaseCommand):
    help = (
        "Fit every model from the database (recommender, RFM segments, send-time model), store a model "
        "version with its validation metrics and artifact, and write every customer's profile."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="ignore events before this date or time (UTC unless it has an offset)")
        parser.add_argument("--now", help="the run's clock, ISO 8601 (default: now); events after it are ignored")
        parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    def handle(self, *args, **options):
        ensure_schema(self.stderr)
        now = parse_moment(options["now"], "--now") if options["now"] else timezone.now()
        since = parse_moment(options["since"], "--since") if options["since"] else None
        if since is not None and since >= now:
            raise CommandError(f"--since ({since.isoformat()}) must be before --now ({now.isoformat()})")
        started = time.monotonic()

        def progress(message: str) -> None:
            if not options["quiet"]:
                sys.stderr.write(f"[{time.monotonic() - started:6.1f}s] {message}\n")

        result = model_train(now=now, since=since, progress=progress)
        version = result.version
        validation = version.metrics.get("recommender", {})
        self.stdout.write(
            f"model version {version.pk}: {version.n_events} events, {version.n_items} items, "
            f"{result.profiles} customer profiles in {result.seconds:.1f} s"
        )
        for model, scores in validation.get("ndcg@10", {}).items():
            cells = ", ".join(f"{mode} {value:.4f}" for mode, value in scores.items())
            self.stdout.write(f"  validation ndcg@10 {model:18s} {cells}")
        self.stdout.write(self.style.SUCCESS(f"artifact: {version.artifact}"))
