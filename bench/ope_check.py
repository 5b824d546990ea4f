"""Off-policy evaluation checked in the simulator (issue 18, item 4): is a candidate policy's estimate, made
from the optimus policy's log, close to what the candidate does when it is run for real?

    python bench/ope_check.py [--users 300] [--days 14] [--seeds 1 2 3] [--jobs 2]
                              [--candidates exploration=0 exploration=0.3 no-type-bandit fixed-frequency=1]

Per seed: one `simulate --policy optimus` run with today's settings is the log; `evaluate_policy` estimates
each candidate from it; then each candidate is simulated for real on the same seed with the setting that
makes the product behave like it (PLAN_EXPLORATION, PLAN_TYPE_BANDIT, PLAN_FREQUENCY_AT_MOST,
PLAN_DISMISS_COST). A check is
one (seed, candidate, method, outcome): IPS and DR totals of opens, dismissals and sends against the real
totals, SNIPS's opens and dismissals per send against the real rates. It passes when the real number is
inside the estimate's 95 % interval; the target is ≥ 90 % of checks. Opt-outs are listed apart: the
estimate counts those blamed on a push (campaigns.policy), the simulator all of them.

seed-like and blast-like have no product setting that runs them exactly, so they are estimated only.
Every run is one `manage.py simulate` in its own process and SQLite file, as bench/worlds.py does. Writes
bench/results/ope_check.json.
"""

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "ope_check.json"
START = "2024-03-04"  # the simulate command's default start
# The settings that make the product run a candidate for real (the rest stay at today's defaults).
RUNNABLE = {
    "exploration=0": {"PLAN_EXPLORATION": "0"},
    "exploration=0.3": {"PLAN_EXPLORATION": "0.3"},
    "no-type-bandit": {"PLAN_TYPE_BANDIT": "false"},
    "fixed-frequency=1": {"PLAN_FREQUENCY_AT_MOST": "1"},
    "fixed-frequency=2": {"PLAN_FREQUENCY_AT_MOST": "2"},
    "dismiss-cost=0.5": {"PLAN_DISMISS_COST": "0.5"},
}
ESTIMATED_ONLY = ("seed-like", "blast-like")
TOTALS = ("opens", "dismissals", "sends")
Z_95 = 1.959963984540054
RATES = ("opens", "dismissals")


def simulate(name: str, seed: int, settings: dict, args, tmp: Path) -> tuple[dict, Path]:
    database = tmp / f"{name}-{seed}.sqlite3"
    out = tmp / f"{name}-{seed}.json"
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{database}", PUSH_BACKEND="log", **settings)
    env.pop("CELERY_BROKER_URL", None)
    command = [sys.executable, "manage.py", "simulate", "--users", str(args.users), "--days", str(args.days)]
    command += ["--seed", str(seed), "--policy", "optimus", "--start", START, "--json", str(out), "--quiet"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"simulate {name} seed {seed}: {done.stderr[-1500:]}")
    result = json.loads(out.read_text())
    return {k: result[k] for k in ("sends", "opens", "dismissals", "opt_outs", "ctr")}, database


def estimate(database: Path, candidate: str, args) -> dict:
    until = dt.date.fromisoformat(START) + dt.timedelta(days=args.days)
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{database}")
    env.pop("CELERY_BROKER_URL", None)
    command = [sys.executable, "manage.py", "evaluate_policy", "--candidate", candidate, "--json"]
    command += ["--since", START, "--until", until.isoformat()]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"evaluate_policy {candidate}: {done.stderr[-1500:]}")
    return json.loads(done.stdout)


def checks(evaluation: dict, real: dict) -> list[dict]:
    """One check per (method, outcome). `inside`: the real number is inside the estimate's 95 % interval.
    `agrees`: the two differ by less than 1.96 standard errors of the difference — the real run is itself
    one draw (its opens are a sum of coin flips), so even a perfect estimator's interval holds the real
    number less than 95 % of the time when the two are about equally noisy."""
    found = []
    sends = real["sends"]

    def check(method: str, outcome: str, truth: float, real_se: float) -> None:
        cell = evaluation["estimates"][method][outcome]
        if cell["low"] is None:
            found.append(
                {"method": method, "outcome": outcome, "real": truth, **cell, "inside": False, "agrees": False}
            )
            return
        estimate_se = (cell["high"] - cell["low"]) / (2 * Z_95)
        agrees = abs(cell["value"] - truth) <= Z_95 * (estimate_se**2 + real_se**2) ** 0.5
        inside = cell["low"] <= truth <= cell["high"]
        found.append({"method": method, "outcome": outcome, "real": truth, **cell, "inside": inside, "agrees": agrees})

    for method in ("ips", "dr"):
        for outcome in TOTALS:
            # A total of coin flips, one per send; the number of sends is taken as fixed (unknown spread).
            rate = real[outcome] / sends if sends else 0.0
            check(method, outcome, real[outcome], (sends * rate * (1 - rate)) ** 0.5 if outcome != "sends" else 0.0)
    for outcome in RATES:
        rate = real[outcome] / sends if sends else 0.0
        check("snips", outcome, rate, (rate * (1 - rate) / sends) ** 0.5 if sends else 0.0)
    return found


def run(args) -> dict:
    report: dict = {"seeds": {}}
    with tempfile.TemporaryDirectory(prefix="optimus-ope-") as tmp, ThreadPoolExecutor(args.jobs) as pool:
        loggers = {seed: pool.submit(simulate, "logger", seed, {}, args, Path(tmp)) for seed in args.seeds}
        real_runs = {
            (seed, name): pool.submit(simulate, name, seed, RUNNABLE[name], args, Path(tmp))
            for seed in args.seeds
            for name in args.candidates
        }
        for seed in args.seeds:
            logged, database = loggers[seed].result()
            entry = {"logger": logged, "candidates": {}}
            for name in (*args.candidates, "logged", *ESTIMATED_ONLY):
                row = {"estimate": estimate(database, name, args)}
                if name in args.candidates:
                    row["real"] = real_runs[seed, name].result()[0]
                entry["candidates"][name] = row
            report["seeds"][str(seed)] = entry
    return report


def collect(directory: Path, args) -> dict:
    """The report from the files of an interrupted run (--from-dir): every seed whose logger finished,
    with the real runs that finished."""
    report: dict = {"seeds": {}}
    for seed in args.seeds:
        logger = directory / f"logger-{seed}.json"
        if not logger.exists():
            continue
        result = json.loads(logger.read_text())
        entry = {
            "logger": {k: result[k] for k in ("sends", "opens", "dismissals", "opt_outs", "ctr")},
            "candidates": {},
        }
        for name in (*args.candidates, "logged", *ESTIMATED_ONLY):
            row = {"estimate": estimate(directory / f"logger-{seed}.sqlite3", name, args)}
            real = directory / f"{name}-{seed}.json"
            if name in args.candidates and real.exists():
                result = json.loads(real.read_text())
                row["real"] = {k: result[k] for k in ("sends", "opens", "dismissals", "opt_outs", "ctr")}
            entry["candidates"][name] = row
        report["seeds"][str(seed)] = entry
    return report


def summarise(report: dict, args) -> list[str]:
    lines = [f"{args.users} people × {args.days} days, seeds {args.seeds}, logger: optimus with today's settings", ""]
    all_checks: list[dict] = []
    for seed, entry in report["seeds"].items():
        for name, row in entry["candidates"].items():
            e = row["estimate"]
            dr_opens, dr_sends = e["estimates"]["dr"]["opens"], e["estimates"]["dr"]["sends"]
            line = (
                f"seed {seed} {name:18s} support {e['support']:6.1%}  DR opens {dr_opens['value']:7.1f} "
                f"[{dr_opens['low']:.1f}, {dr_opens['high']:.1f}]  sends {dr_sends['value']:7.1f} "
                f"[{dr_sends['low']:.1f}, {dr_sends['high']:.1f}]"
            )
            if "real" in row:
                row["checks"] = checks(e, row["real"])
                inside = sum(c["inside"] for c in row["checks"])
                real = row["real"]
                line += f"  real opens {real['opens']} sends {real['sends']}  {inside}/{len(row['checks'])} inside"
                all_checks += [c | {"seed": seed, "candidate": name} for c in row["checks"]]
            lines.append(line)
    lines.append("")
    groups: dict[str, list[dict]] = {}
    for c in all_checks:
        for key in (c["method"], f"{c['method']} {c['outcome']}", c["candidate"]):
            groups.setdefault(key, []).append(c)
    for key, group in sorted(groups.items()):
        inside, agrees = sum(c["inside"] for c in group), sum(c["agrees"] for c in group)
        total = len(group)
        lines.append(
            f"{key:28s} inside {inside:3d}/{total} ({inside / total:4.0%})   agrees {agrees:3d} ({agrees / total:4.0%})"
        )
    n = len(all_checks) or 1
    report["coverage"] = round(sum(c["inside"] for c in all_checks) / n, 4)
    report["agreement"] = round(sum(c["agrees"] for c in all_checks) / n, 4)
    report["checks"] = len(all_checks)
    lines.append(
        f"coverage: the real number inside the estimate's 95 % interval in {report['coverage']:.0%} of "
        f"{len(all_checks)} checks; estimate and real run agree within their joint 95 % interval in "
        f"{report['agreement']:.0%} (target ≥ 90 %)"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--candidates", nargs="+", choices=sorted(RUNNABLE), default=sorted(RUNNABLE))
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--rescore", type=Path, help="score an earlier results file again, without simulating")
    parser.add_argument("--from-dir", type=Path, help="score what an interrupted run left in its temporary directory")
    args = parser.parse_args()
    started = time.monotonic()
    if args.rescore:
        report = json.loads(args.rescore.read_text())
        for key, value in report["arguments"].items():
            setattr(args, key, value)
    elif args.from_dir:
        report = collect(args.from_dir, args)
    else:
        report = run(args)
    lines = summarise(report, args)
    lines.append(f"({time.monotonic() - started:.0f} s)")
    print("\n".join(lines))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report |= {
        "benchmark": "ope_check",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "arguments": {"users": args.users, "days": args.days, "seeds": args.seeds, "candidates": args.candidates},
        "pass": report["coverage"] >= 0.9,
        "summary": lines,
    }
    args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
