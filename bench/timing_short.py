"""Send time on short histories (issue 18, item 5): `evaluate_timing --test-days 2` on 9-day logs.

    python bench/timing_short.py [--data DIR] [--users 10000] [--code DIR] [--json OUT]

Builds every log itself, deterministically:
- Online Retail: every 9-day window of `online_retail/events.csv.gz`, back to back from the first day
  (41 windows; the first starts at 00:00 UTC of the log's first day). Purchases only, a few dozen
  repeat customers per window.
- generated: `generate_events` (simulation/world.py, views, carts and purchases, seven time zones),
  --users people × 5000 items × 60 days, seed 1, cut into six back-to-back 9-day windows (they start on
  different weekdays) and into four 14-day windows (each starts on a Monday, so its test days are a
  weekend), and the whole 60-day log with `--test-days 7` as the long-history check.
Each log is written as an events file and evaluated by `recommender.ml.timing_eval.evaluate_file`, what
`manage.py evaluate_timing` runs. Prints a table per log (optimus, mode hour, 12:00, the population's best
hour, and the best fixed hour in hindsight, for information) with the ratios optimus / mode hour and
optimus / best fixed hour (the better of 12:00 and the population's hour), then per group the median of
the per-window ratios and the pooled ratio (all windows' hits over all their user-days). Writes
bench/results/timing_short.json.

Targets: optimus ≥ 1.15 × the mode hour and ≥ 1.0 × the best fixed hour on 9-day windows.
The hit rates are deterministic (fixed seeds, one-threaded fits): a rerun gives the same numbers, so each
log is evaluated once; the load average and CPU time are recorded only to say how long it took.
`--code DIR` evaluates another checkout of the project (e.g. `git archive <commit> | tar -x -C DIR`) on the
same logs, for before / after tables.
"""

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "timing_short.json"
DAY_MS = 86_400_000
WINDOW_DAYS = 9
TEST_DAYS = 2
LONG_TEST_DAYS = 7
GENERATED_DAYS = 60
GENERATED_WINDOWS = 6
TWO_WEEKS = 14


def shared_data_dir() -> Path:
    """OPTIMUS_DATA_DIR, else ../shared/data next to the project, else /work/shared/data (optimus_site/data.py's
    order, without Django)."""
    for candidate in (os.environ.get("OPTIMUS_DATA_DIR"), ROOT.parent / "shared" / "data", "/work/shared/data"):
        if candidate and (Path(candidate) / "online_retail").is_dir():
            return Path(candidate)
    raise SystemExit("shared data not found: pass --data or set OPTIMUS_DATA_DIR")


def windows_of(frame, days: int, count: int | None = None) -> list[tuple[str, object]]:
    """Back-to-back windows of ``days`` from 00:00 UTC of the first day: (first date, rows)."""
    first = int(frame["timestamp"].min()) // DAY_MS
    last = int(frame["timestamp"].max()) // DAY_MS
    out = []
    for start in range(first, last - days + 2, days):
        rows = frame[(frame["timestamp"] >= start * DAY_MS) & (frame["timestamp"] < (start + days) * DAY_MS)]
        out.append((dt.date(1970, 1, 1) + dt.timedelta(days=start), rows))
        if count is not None and len(out) == count:
            break
    return out


def hindsight_fixed_hour(path: Path, test_days: int) -> float:
    """The hit rate of the single best hour for everyone, chosen on the test days themselves (an upper bound
    for any fixed hour; no policy may look at the test)."""
    from recommender.ml.timing_eval import load_events, split_events, window_hits

    test = split_events(load_events(str(path)), test_days).test
    return float(window_hits(test.bits).mean(axis=0).max()) if len(test) else 0.0


def evaluate(path: Path, test_days: int) -> dict:
    from recommender.ml.timing_eval import evaluate_file

    result = evaluate_file(str(path), test_days)
    models = result["models"]
    row = {name: models[name]["hit_rate"] for name in ("optimus", "user_mode_hour", "fixed_hour", "global_best_hour")}
    row["best_fixed_hour"] = max(row["fixed_hour"], row["global_best_hour"])
    row["hindsight_fixed_hour"] = hindsight_fixed_hour(path, test_days)
    row["user_days"] = result["split"]["user_days"]
    row["policy"] = result["optimus"]["policy"]
    row["shrinkage"] = result["optimus"].get("shrinkage")
    for name, base in (("vs_mode_hour", "user_mode_hour"), ("vs_best_fixed_hour", "best_fixed_hour")):
        row[name] = row["optimus"] / row[base] if row[base] else None
    return row


def summary(rows: list[dict]) -> dict:
    """Median of the per-window ratios (windows where the baseline hit at all) and the pooled ratio."""
    days = sum(r["user_days"] for r in rows)
    pooled = {
        name: sum(r[name] * r["user_days"] for r in rows) / days if days else 0.0
        for name in ("optimus", "user_mode_hour", "fixed_hour", "global_best_hour", "best_fixed_hour")
    }
    out = {"windows": len(rows), "user_days": days, "pooled_hit_rate": pooled}
    for name, base in (("vs_mode_hour", "user_mode_hour"), ("vs_best_fixed_hour", "best_fixed_hour")):
        ratios = [r[name] for r in rows if r[name] is not None]
        out[f"median_{name}"] = statistics.median(ratios) if ratios else None
        out[f"pooled_{name}"] = pooled["optimus"] / pooled[base] if pooled[base] else None
        target = 1.15 if name == "vs_mode_hour" else 1.0
        out[f"windows_meeting_{name}"] = sum(1 for r in rows if r[name] is not None and r[name] >= target)
    return out


def ratio(value: float | None) -> str:
    return f"{value:5.2f}" if value is not None else "    –"


def table(title: str, rows: list[dict]) -> list[str]:
    lines = [
        title,
        f"{'window':12s} {'days':>5s} {'optimus':>8s} {'mode':>6s} {'12:00':>6s} {'pop':>6s} {'hind.':>6s}"
        f" {'×mode':>6s} {'×fixed':>6s}  policy",
    ]
    for r in rows:
        lines.append(
            f"{r['window']:12s} {r['user_days']:5d} {r['optimus']:8.3f} {r['user_mode_hour']:6.3f}"
            f" {r['fixed_hour']:6.3f} {r['global_best_hour']:6.3f} {r['hindsight_fixed_hour']:6.3f}"
            f" {ratio(r['vs_mode_hour']):>6s} {ratio(r['vs_best_fixed_hour']):>6s}  {r['policy']}"
        )
    s = summary(rows)
    p = s["pooled_hit_rate"]
    lines.append(
        f"{'pooled':12s} {s['user_days']:5d} {p['optimus']:8.3f} {p['user_mode_hour']:6.3f} {p['fixed_hour']:6.3f}"
        f" {p['global_best_hour']:6.3f} {'':6s} {ratio(s['pooled_vs_mode_hour']):>6s}"
        f" {ratio(s['pooled_vs_best_fixed_hour']):>6s}"
    )
    lines.append(
        f"{'median':12s} {'':5s} {'':8s} {'':6s} {'':6s} {'':6s} {'':6s} {ratio(s['median_vs_mode_hour']):>6s}"
        f" {ratio(s['median_vs_best_fixed_hour']):>6s}"
        f"  (windows meeting ≥1.15× mode: {s['windows_meeting_vs_mode_hour']}/{s['windows']},"
        f" ≥1.0× fixed: {s['windows_meeting_vs_best_fixed_hour']}/{s['windows']})"
    )
    return lines


def generate(out_dir: Path, users: int) -> Path:
    """`manage.py generate_events` as a user runs it (same seed, byte-identical files)."""
    subprocess.run(
        [sys.executable, "manage.py", "generate_events", str(out_dir), "--users", str(users), "--items", "5000"]
        + ["--days", str(GENERATED_DAYS), "--seed", "1"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "OPTIMUS_ENV": os.environ.get("OPTIMUS_ENV", "test")},
    )
    return out_dir / "events.csv.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", type=Path, default=None, help="the shared data folder (default: as optimus_site/data.py)"
    )
    parser.add_argument("--users", type=int, default=10_000, help="people in the generated log")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose evaluate_timing is measured")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    import pandas as pd

    data = args.data or shared_data_dir()
    started, load_before = time.monotonic(), os.getloadavg()
    groups: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="optimus-timing-short-") as tmp:
        tmp = Path(tmp)
        retail = pd.read_csv(data / "online_retail" / "events.csv.gz")
        generated_path = generate(tmp / "generated", args.users)
        generated = pd.read_csv(generated_path, dtype={"visitorid": str, "transactionid": str})
        sources = {
            "online_retail_9d": windows_of(retail, WINDOW_DAYS),
            "generated_9d": windows_of(generated, WINDOW_DAYS, GENERATED_WINDOWS),
            "generated_14d": windows_of(generated, TWO_WEEKS),
        }
        for group, windows in sources.items():
            groups[group] = []
            for first, rows in windows:
                path = tmp / f"{group}-{first}.csv.gz"
                rows.to_csv(path, index=False)
                groups[group].append({"window": str(first), **evaluate(path, TEST_DAYS)})
        long = {"window": f"{GENERATED_DAYS} days", **evaluate(generated_path, LONG_TEST_DAYS)}

    lines = []
    titles = {
        "online_retail_9d": "Online Retail, 9-day windows, --test-days 2",
        "generated_9d": f"generate_events ({args.users:,} people, seed 1) cut to 9-day windows, --test-days 2",
        "generated_14d": f"the same cut to 14-day windows (tests on a weekend), --test-days {TEST_DAYS}",
    }
    for group, rows in groups.items():
        lines += table(titles[group], rows) + [""]
    lines += table(f"generate_events, the whole {GENERATED_DAYS} days, --test-days {LONG_TEST_DAYS}", [long])[:3]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime
    seconds = time.monotonic() - started
    lines.append("")
    load_after = os.getloadavg()
    lines.append(f"{seconds:.0f} s wall, {cpu_s:.0f} s CPU, load average {load_before[0]:.2f} → {load_after[0]:.2f}")
    print("\n".join(lines))

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=args.code, capture_output=True, text=True
    ).stdout.strip()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "benchmark": "timing_short",
                "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "code": str(args.code),
                "commit": commit or None,
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "arguments": {"users": args.users, "window_days": WINDOW_DAYS, "test_days": TEST_DAYS},
                "deterministic": "hit rates are deterministic; each log evaluated once",
                "seconds": round(seconds, 1),
                "cpu_s": round(cpu_s, 1),
                "load_average": {"before": load_before, "after": load_after},
                "groups": {group: {"summary": summary(rows), "windows": rows} for group, rows in groups.items()},
                "long": long,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
