"""blast, seed and optimus on several simulated worlds: does optimus keep winning when the world's
assumptions change? (issue 7: "other worlds … optimus must keep beating blast and seed there").

    python bench/worlds.py [--users 1000] [--days 14] [--seed 3] [--jobs 2] [--only NAME ...]
                           [--reuse-baselines RESULTS.json]

`--reuse-baselines` takes the blast and seed runs from an earlier results file measured with the same
arguments and world overrides, instead of running them again: for a change to optimus alone, which must
leave them exactly as they were (check that on one world by running it in full).

Each world overrides a few parameters of simulation/world.py (the rest stay at their
defaults); nothing in the product is set per world — optimus has to learn each one from its
feedback. Every (world, policy) pair is one `manage.py simulate` run in its own process and its
own SQLite file, exactly as a user would run it. Prints a table with the verdicts and writes
bench/results/worlds.json.

Verdicts per world (the issue's targets against blast, and against seed):
  sends ≤ 50 % of blast, CTR ≥ 2× blast, opens ≥ blast, opt-outs ≤ 50 % of blast,
  CTR > seed, opt-outs < seed (or both zero).
"""

import argparse
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
sys.path.insert(0, str(ROOT))  # the project's packages before bench/ (bench/recommender.py is a script)
RESULTS = ROOT / "bench" / "results" / "worlds.json"
POLICIES = ("blast", "seed", "optimus")

# Each a different guess about people, none of them the product's assumptions.
WORLDS = {
    "default": ({}, "the simulator's defaults"),
    "tolerant": (
        {"tolerance_median": 12.0, "fatigue_per_push": 0.04, "annoyance_per_push": 0.002},
        "pushes hurt much less: tolerance 12 a week, fatigue 0.04 per push",
    ),
    "sensitive": (
        {"tolerance_median": 2.5, "fatigue_per_push": 0.25, "annoyance_per_push": 0.01},
        "pushes hurt more: tolerance 2.5 a week, fatigue 0.25 per push",
    ),
    "habitless": (
        {"open_timing_effect": 0.1, "activity_floor": 0.3, "peak_width_hours": 3.0},
        "the hour barely matters: flat, wide activity profiles",
    ),
    "eager": (
        {"open_base_mean": 0.15, "open_relevance": 0.6},
        "three times the base open rate, content matters more",
    ),
    "sparse": (
        {"activity_median": 0.4, "session_views_mean": 2.0},
        "a third of the behaviour to learn from",
    ),
    "apathetic": (
        {"open_base_mean": 0.015},
        "a third of the base open rate: most pushes are worth less than they cost",
    ),
    "content-blind": (
        {"open_relevance": 0.0, "relevance_purchase": 0.1},
        "which items a push shows does not change whether it is opened",
    ),
    "quick-to-quit": (
        {"tolerance_median": 1.5, "opt_out_base": 0.002, "annoyance_per_push": 0.02},
        "people opt out after very few pushes",
    ),
}


def run_one(world: str, policy: str, args: argparse.Namespace, tmp: Path) -> dict:
    overrides, _ = WORLDS[world]
    world_file = tmp / f"{world}.json"
    world_file.write_text(json.dumps(overrides))
    out = tmp / f"{world}-{policy}.json"
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp / f'{world}-{policy}.sqlite3'}", PUSH_BACKEND="log")
    env.pop("CELERY_BROKER_URL", None)  # in-process, as the README's main command runs
    command = [sys.executable, "manage.py", "simulate", "--users", str(args.users), "--days", str(args.days)]
    command += ["--seed", str(args.seed), "--policy", policy, "--world", str(world_file), "--json", str(out)]
    started = time.monotonic()
    done = subprocess.run([*command, "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    result = json.loads(out.read_text())
    keep = ("sends", "deliveries", "opens", "ctr", "dismissals", "opt_outs", "purchases", "sends_per_user_week")
    return {k: result[k] for k in keep} | {"seconds": round(time.monotonic() - started, 1)}


def oracle_opens(overrides: dict, args: argparse.Namespace, sends: int) -> int:
    """An optimistic ceiling on the opens any policy could get from `sends` pushes spread evenly over
    the people, from the world's ground truth: every push at the person's best hour of the week,
    showing the item they like most, with no fatigue. Where this is below blast's opens, no policy
    sending that much can match blast's total opens: only more volume could."""
    import numpy as np

    from simulation.world import HOURS_PER_WEEK, World, WorldParams

    world = World.generate(WorldParams.from_json(overrides, n_users=args.users), args.seed)
    p = world.params
    timing = (HOURS_PER_WEEK * world.activity_profile.astype(np.float64)).max(axis=1) ** p.open_timing_effect
    best_item = world.affinity_matrix(np.arange(world.n_users)).max(axis=1)
    best = np.minimum(world.open_base * timing * np.exp(p.open_relevance * best_item), p.open_max)
    return round(sends * float(best.mean()))


def reusable_baselines(args: argparse.Namespace) -> dict:
    """(world, policy) → the blast and seed runs of an earlier results file with the same arguments and the
    same world overrides."""
    earlier = json.loads(args.reuse_baselines.read_text())
    same = {"users": args.users, "days": args.days, "seed": args.seed}
    if earlier.get("arguments") != same:
        raise SystemExit(f"{args.reuse_baselines}: measured with {earlier.get('arguments')}, not {same}")
    reused = {}
    for world, entry in earlier.get("worlds", {}).items():
        if world not in WORLDS or entry.get("overrides") != WORLDS[world][0]:
            continue
        for policy in ("blast", "seed"):
            run = entry.get("runs", {}).get(policy)
            if run and "error" not in run:
                reused[world, policy] = run | {"reused": True}
    return reused


def verdicts(runs: dict) -> dict:
    blast, seed, optimus = runs["blast"], runs["seed"], runs["optimus"]
    return {
        "sends <= 50% of blast": optimus["sends"] <= 0.5 * blast["sends"],
        "ctr >= 2x blast": optimus["ctr"] >= 2 * blast["ctr"],
        "opens >= blast": optimus["opens"] >= blast["opens"],
        "opt-outs <= 50% of blast": optimus["opt_outs"] <= 0.5 * blast["opt_outs"],
        "ctr > seed": optimus["ctr"] > seed["ctr"],
        "opt-outs < seed": optimus["opt_outs"] < seed["opt_outs"] or optimus["opt_outs"] == seed["opt_outs"] == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="simulations run at once")
    parser.add_argument("--only", nargs="+", choices=sorted(WORLDS), help="just these worlds")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"where to write the results ({RESULTS.name})")
    parser.add_argument("--reuse-baselines", type=Path, help="take blast and seed from this earlier results file")
    args = parser.parse_args()
    names = args.only or list(WORLDS)

    reused = reusable_baselines(args) if args.reuse_baselines else {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="optimus-worlds-") as tmp, ThreadPoolExecutor(args.jobs) as pool:
        futures = {
            (w, p): pool.submit(run_one, w, p, args, Path(tmp)) for w in names for p in POLICIES if (w, p) not in reused
        }
        results = {w: {p: reused.get((w, p)) or futures[w, p].result() for p in POLICIES} for w in names}

    lines = [f"{args.users:,} people × {args.days} days, seed {args.seed}", ""]
    header = f"{'world':10s} {'policy':8s} {'sends':>8s} {'opens':>7s} {'CTR':>7s} {'opt-outs':>9s} {'purchases':>10s}"
    lines.append(header)
    report: dict = {}
    all_pass = True
    for world in names:
        runs = results[world]
        for policy in POLICIES:
            r = runs[policy]
            if "error" in r:
                lines.append(f"{world:10s} {policy:8s} FAILED: {r['error'].strip().splitlines()[-1]}")
                continue
            lines.append(
                f"{world:10s} {policy:8s} {r['sends']:8,d} {r['opens']:7,d} {r['ctr']:7.1%} {r['opt_outs']:9,d} "
                f"{r['purchases']:10,d}"
            )
        entry = {"overrides": WORLDS[world][0], "about": WORLDS[world][1], "runs": runs}
        if not any("error" in r for r in runs.values()):
            entry["verdicts"] = verdicts(runs)
            entry["oracle_opens_at_optimus_volume"] = oracle = oracle_opens(
                WORLDS[world][0], args, runs["optimus"]["sends"]
            )
            failed = [name for name, ok in entry["verdicts"].items() if not ok]
            all_pass &= not failed
            lines.append(f"{'':10s} verdict: {'PASS' if not failed else 'FAIL: ' + ', '.join(failed)}")
            lines.append(
                f"{'':10s} an oracle sending optimus's {runs['optimus']['sends']:,} pushes would get at most "
                f"~{oracle:,} opens (blast: {runs['blast']['opens']:,})"
            )
        else:
            all_pass = False
        report[world] = entry
    lines.append("")
    lines.append(f"overall: {'PASS' if all_pass else 'FAIL'} ({time.monotonic() - started:.0f} s)")
    print("\n".join(lines))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "benchmark": "worlds",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "arguments": {"users": args.users, "days": args.days, "seed": args.seed},
                "reused_baselines_from": str(args.reuse_baselines) if args.reuse_baselines else None,
                "worlds": report,
                "pass": all_pass,
                "summary": lines,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
