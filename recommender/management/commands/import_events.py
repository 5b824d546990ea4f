"""Loads behaviour events (and optionally the catalog) from RetailRocket-layout files.

    manage.py import_events events.csv.gz --items items.csv --categories category_tree.csv

Catalog files are loaded first, so events find their items. Each bad row is reported on stderr
as `file:line: reason`; the good rows still load. Re-running with the same files adds nothing.
"""

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from optimus_site.dbutils import ensure_schema
from recommender.importers import BadRow, Importer, ImportFileError, file_size


class Command(BaseCommand):
    help = "Import behaviour events (RetailRocket events.csv layout, optionally gzipped) and catalog files."

    def add_arguments(self, parser):
        parser.add_argument("events", help="events.csv[.gz]: timestamp,visitorid,event,itemid,transactionid[,amount]")
        parser.add_argument("--item-properties", help="item_properties.csv[.gz]: timestamp,itemid,property,value")
        parser.add_argument("--categories", help="category_tree.csv: categoryid,parentid")
        parser.add_argument("--items", help="items.csv: itemid,title,price,…")
        parser.add_argument("--chunk-size", type=int, default=5000, help="rows per database transaction")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")

    def handle(self, *args, **options):
        ensure_schema(self.stderr)
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1")
        importer = Importer(on_bad_row=self.report_bad_row, chunk_size=options["chunk_size"])
        # A bar is only for a person watching a terminal: in a file its carriage returns glue the
        # bad-row lines to it.
        self.bar_shown = not options["no_progress"] and sys.stderr.isatty()
        steps = [
            # (label, file, importer, what its rows add)
            ("categories", options["categories"], importer.import_categories, "categories"),
            ("items", options["items"], importer.import_items, "items"),
            ("item properties", options["item_properties"], importer.import_item_properties, "items"),
            ("events", options["events"], importer.import_events, "events"),
        ]
        started = time.monotonic()
        summaries = []
        for label, path, run, noun in steps:
            if not path:
                continue
            try:
                size = file_size(path)
            except OSError as exc:
                raise CommandError(f"{path}: cannot open ({exc.strerror})") from None
            with tqdm(
                total=size, unit="B", unit_scale=True, desc=label, file=sys.stderr, disable=not self.bar_shown
            ) as bar:
                importer.progress = bar.update
                try:
                    report = run(path)
                except ImportFileError as exc:
                    raise CommandError(str(exc)) from None
            summaries.append(f"{label}: {report.summary(noun)}")
        elapsed = time.monotonic() - started
        for line in summaries:
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"Import finished in {elapsed:.1f} s"))

    def report_bad_row(self, bad: BadRow) -> None:
        if self.bar_shown and self.stderr.isatty():
            tqdm.write(f"bad row {bad}", file=sys.stderr)  # above the bar, not glued to it
        else:
            self.stderr.write(f"bad row {bad}")
