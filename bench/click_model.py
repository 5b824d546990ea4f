"""Click model at scale: fit on 100,000 simulated people's pushes (capped at the most recent 300,000),
then score 24 candidate hours for each of them — what the planner asks per pass.

    python bench/click_model.py [--users 100000]

The population is the planted one of campaigns/tests/test_click.py (hour-of-week profiles, base propensity,
fatigue). Prints a table and writes bench/results/click_model.json.
"""

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "click_model.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "optimus_site.settings")
    import django

    django.setup()
    from recommender.ml.click import ClickModel, PushHistory
    from tests.test_click import DAY, NOW_MS, planted

    started = time.perf_counter()
    world, hours, history, profiles = planted(n_users=args.users)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    model = ClickModel.fit(hours, history, now_ms=NOW_MS, profiles=profiles)
    fit_s = time.perf_counter() - started
    month = NOW_MS - 30 * DAY
    sends, feedback = history.sends, history.feedback
    recent = PushHistory(sends[sends["sent_ms"] >= month], feedback[feedback["at_ms"] >= month])
    users = np.repeat(np.arange(world.n_users), 24)
    candidates = np.random.default_rng(0).integers(0, 168, len(users))
    started = time.perf_counter()
    model.predict(users, "offer", candidates, now_ms=NOW_MS, history=recent)
    predict_s = time.perf_counter() - started
    result = {
        "users": args.users,
        "pushes": len(history.sends),
        "chosen": model.family,
        "fit_s": round(fit_s, 1),
        "pairs_scored": len(users),
        "predict_s": round(predict_s, 1),
        "pairs_per_s": round(len(users) / predict_s),
        "test_metrics": {name: entry["test"] for name, entry in model.metrics["models"].items()},
    }
    print(f"world built in {build_s:.1f} s: {args.users:,} people, {len(history.sends):,} pushes")
    print(f"{'step':28} {'seconds':>8} {'per second':>12}")
    print(f"{'fit (chosen: ' + str(model.family) + ')':28} {fit_s:>8.1f}")
    print(f"{'score 24 hours per person':28} {predict_s:>8.1f} {result['pairs_per_s']:>12,}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "click_model",
                "when": dt.datetime.now(tz=dt.UTC).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "results": result,
            },
            indent=2,
            default=str,
        )
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
