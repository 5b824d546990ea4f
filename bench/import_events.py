"""Benchmark: `import_events` throughput on MariaDB and SQLite, against baselines in the same run.

    python bench/import_events.py [--events FILE] [--mysql-url URL] [--repeat N]

Cases (each in a fresh process and a fresh, migrated database):
- parse only     CSV read + validation, no database: the ceiling for any importer of ours
- orm baseline   the same rows through Django's bulk_create(ignore_conflicts=True), MariaDB
- mariadb        the real importer (`Importer.import_events`) into MariaDB
- mariadb again  the same file re-imported: every row a duplicate, nothing added
- sqlite         the real importer into a SQLite file

Prints a table and writes bench/results/import_events.json. Target (issue 2): >= 20,000 rows/s
on MariaDB on a 2-core machine.
"""

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EVENTS = (
    next(
        (p for p in (ROOT.parent / "shared" / "data", Path("/work/shared/data")) if p.is_dir()),
        ROOT.parent / "shared" / "data",
    )
    / "online_retail"
    / "events.csv.gz"
)
RESULTS = ROOT / "bench" / "results" / "import_events.json"
MYSQL_BENCH_DB = "optimus_bench_import"


def worker(case: str, events: str) -> dict:
    """Runs one case in this process (Django set up from DATABASE_URL) and returns its numbers."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "optimus_site.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from recommender.importers import Importer, parse_event_row, read_rows

    if case != "parse":
        call_command("migrate", verbosity=0)
    bad: list = []
    importer = Importer(on_bad_row=bad.append)

    def run() -> int:
        if case == "parse":
            latest = importer.now + dt.timedelta(days=1)
            n = 0
            for _line, row in read_rows(events, ("timestamp", "visitorid", "event", "itemid")):
                parse_event_row(row, latest)
                n += 1
            return n
        if case == "orm":
            return orm_baseline(events)
        return importer.import_events(events).rows

    started = time.perf_counter()
    rows = run()
    elapsed = time.perf_counter() - started
    result = {"rows": rows, "seconds": round(elapsed, 3), "rows_per_s": round(rows / elapsed)}
    if case == "mysql":
        # Second pass on the same database: all duplicates.
        importer = Importer(on_bad_row=bad.append)
        started = time.perf_counter()
        report = importer.import_events(events)
        again = time.perf_counter() - started
        result["again"] = {
            "rows": report.rows,
            "added": report.added,
            "seconds": round(again, 3),
            "rows_per_s": round(report.rows / again),
        }
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result["bad_rows"] = len(bad)
    return result


def orm_baseline(events: str) -> int:
    """The straightforward ORM way, for comparison: model instances + bulk_create."""
    import datetime as dt

    from devices.services import customers_ensure
    from recommender.importers import chunked, parse_event_row, read_rows
    from recommender.models import Event, EventSource
    from recommender.services import items_ensure

    customers: dict[str, int] = {}
    items: dict[str, int] = {}
    latest = dt.datetime.now(tz=dt.UTC) + dt.timedelta(days=1)
    n = 0
    for chunk in chunked(read_rows(events, ("timestamp", "visitorid", "event", "itemid")), 5000):
        parsed = [parse_event_row(row, latest) for _line, row in chunk]
        customers_ensure(external_ids={p.visitor for p in parsed}, cache=customers)
        items_ensure(external_ids={p.item for p in parsed if p.item}, cache=items)
        Event.objects.bulk_create(
            [
                Event(
                    event_id=p.event_id,
                    customer_id=customers[p.visitor],
                    item_id=items.get(p.item),
                    type=p.type,
                    amount=p.amount,
                    transaction_id=p.transaction_id,
                    occurred_at=p.occurred_at,
                    source=EventSource.IMPORT,
                )
                for p in parsed
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )
        n += len(parsed)
    return n


def run_case(case: str, events: str, database_url: str) -> dict:
    env = dict(os.environ, DATABASE_URL=database_url, DEBUG="false", ALLOWED_HOSTS="localhost")
    env.pop("CELERY_BROKER_URL", None)
    out = subprocess.run(
        [sys.executable, __file__, "--worker", case, "--events", events],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def fresh_mysql(url_base: str) -> str:
    from urllib.parse import urlparse

    import MySQLdb

    u = urlparse(url_base)
    conn = MySQLdb.connect(host=u.hostname, port=u.port or 3306, user=u.username or "root", passwd=u.password or "")
    cur = conn.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {MYSQL_BENCH_DB}")
    cur.execute(f"CREATE DATABASE {MYSQL_BENCH_DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()
    return f"{u.scheme}://{u.netloc}/{MYSQL_BENCH_DB}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", default=str(DEFAULT_EVENTS))
    parser.add_argument("--mysql-url", default="mysql://root:@127.0.0.1:3306")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the best is reported")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, args.events)))
        return

    cases: dict[str, list[dict]] = {}
    for _ in range(args.repeat):
        cases.setdefault("parse only", []).append(run_case("parse", args.events, "sqlite:///:memory:"))
        cases.setdefault("orm baseline (mariadb)", []).append(run_case("orm", args.events, fresh_mysql(args.mysql_url)))
        mysql = run_case("mysql", args.events, fresh_mysql(args.mysql_url))
        cases.setdefault("importer (mariadb)", []).append(mysql)
        cases.setdefault("re-import, all duplicates (mariadb)", []).append(mysql["again"])
        with tempfile.TemporaryDirectory() as tmp:
            cases.setdefault("importer (sqlite)", []).append(
                run_case("sqlite", args.events, f"sqlite:///{tmp}/bench.sqlite3")
            )
    best = {name: max(runs, key=lambda r: r["rows_per_s"]) for name, runs in cases.items()}
    ceiling = best["parse only"]["rows_per_s"]
    orm = best["orm baseline (mariadb)"]["rows_per_s"]

    print(f"\nimport_events benchmark: {args.events} ({best['parse only']['rows']:,} rows), best of {args.repeat}")
    print(f"{'case':40} {'rows/s':>10} {'seconds':>9} {'vs parse':>9} {'vs orm':>8} {'peak MB':>8}")
    for name, r in best.items():
        print(
            f"{name:40} {r['rows_per_s']:>10,} {r['seconds']:>9.2f} {r['rows_per_s'] / ceiling:>9.2f}"
            f" {r['rows_per_s'] / orm:>8.2f} {r.get('peak_rss_mb', '-'):>8}"
        )
    target = best["importer (mariadb)"]["rows_per_s"] >= 20_000
    print(f"\ntarget >= 20,000 rows/s on MariaDB: {'met' if target else 'NOT met'}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "import_events",
                "when": dt.datetime.now(tz=dt.UTC).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "events_file": args.events,
                "repeat": args.repeat,
                "cases": best,
                "target_rows_per_s_mariadb": 20_000,
                "target_met": target,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
