"""Benchmark: recommender training and top-k scoring, against a bare matrix product in the same run.

    python bench/recommender.py [--events N] [--users U] [--items I] [--factors F] [--repeat R] [--skip-train]

Cases (each in a fresh process, so peak memory is its own):
- train        fit_recommender on about N interactions (views, carts, purchases) drawn from the
               simulated world (simulation/world.py, `sample_interactions`): validation split,
               every component tuned, blend learned, full refit
- train-refit  the same without tuning (fixed parameters): what a nightly refit costs at least
- scoring      in one process, interleaved, --repeat passes each (best and median reported; the
               ratios are taken pass by pass, so a slow moment of the shared machine hits both):
               matmul   bare numpy U @ V.T for U users × I items × F factors, in blocks of
                        FittedRecommender.rows_per_block rows (float32, V.T contiguous), no top-k:
                        the floor. Like every numpy product it runs on all cores (BLAS threads).
               lightfm  top-10 of the factorisation for every user (product + bias + top-k)
               optimus  top-10 of the served blend: factorisation + item correlation + EASE +
                        history + popularity, include-seen and exclude-seen
               Both use all cores too: a pass this large runs one thread per core, each scoring
               its own blocks start to finish (BLAS held to one thread meanwhile; the blocks
               together within block_elements). "1 thread" is the optimus pass with
               FittedRecommender.scoring_threads = 1, where only the products use every core.
- matmul-full  the same product in one call (needs U × I × 4 bytes of memory; skipped if short)

Prints a table and writes bench/results/recommender.json. Targets (issue 4): training time and
peak memory reported for 1M interactions; top-10 scoring within 3× of the bare product.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "recommender.json"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(case: str, args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from recommender.ml.factorization import Factorization, LightfmParams
    from recommender.ml.ranking import FitOptions, default_weights, fit_recommender
    from simulation.world import sample_interactions

    if case in ("train", "train-refit"):
        events, _ = sample_interactions(args.events, args.events // 5, args.events // 20, seed=1)
        before = peak_rss_mb()
        started = time.perf_counter()
        fitted = fit_recommender(events, options=FitOptions(tune=case == "train"))
        seconds = time.perf_counter() - started
        return {
            "interactions": len(events),
            "users": fitted.n_users,
            "items": fitted.n_items,
            "seconds": round(seconds, 2),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "rss_before_fit_mb": round(before, 1),
            "steps_s": fitted.timings,
            "params": {"lightfm_epochs": fitted.params["lightfm"]["epochs"]},
        }

    rng = np.random.default_rng(0)
    n_users, n_items, f = args.users, args.items, args.factors
    if case == "matmul-full":
        u = rng.standard_normal((n_users, f), dtype=np.float32)
        vt = np.ascontiguousarray(rng.standard_normal((n_items, f), dtype=np.float32).T)
        started = time.perf_counter()
        product = u @ vt
        seconds = time.perf_counter() - started
        return {"seconds": round(seconds, 2), "checksum": float(product[::997, ::991].sum())}

    # Scoring: real signals fitted on the world's events over n_users × (about) n_items, with a
    # random F-factor LightFM attached (training it is the train cases' business). Twice the users
    # asked for are generated (many draw no session), then exactly n_users of those who did.
    events, _ = sample_interactions(n_users * 20, n_users * 2, n_items, seed=2)
    events = events[events["customer"].isin(events["customer"].drop_duplicates().iloc[:n_users])]
    fitted = fit_recommender(events, options=FitOptions(tune=False, lightfm=False))
    fitted.lightfm = Factorization(
        params=LightfmParams(no_components=f),
        user_vectors=rng.standard_normal((fitted.n_users, f), dtype=np.float32) * 0.1,
        item_vectors_t=np.ascontiguousarray(rng.standard_normal((f, fitted.n_items), dtype=np.float32)),
        item_bias=rng.standard_normal(fitted.n_items, dtype=np.float32) * 0.1,
        scale=1.0,
    )
    fitted.weights = default_weights(fitted)
    fitted.weights["include_seen"]["ease"] = 0.1
    users = np.arange(fitted.n_users)
    u = fitted.lightfm.user_vectors
    vt = fitted.lightfm.item_vectors_t
    rows = fitted.rows_per_block(n_items)

    def bare() -> None:
        for start in range(0, len(u), rows):
            u[start : start + rows] @ vt

    def top10(model: str, exclude: bool, threads: int = 0):
        def run():
            fitted.scoring_threads = threads
            try:
                return fitted.recommend(users, 10, exclude_seen=exclude, model=model)
            finally:
                fitted.scoring_threads = 0

        return run

    timed = {
        "matmul": bare,
        "lightfm_include_seen": top10("lightfm", False),
        "lightfm_exclude_seen": top10("lightfm", True),
        "optimus_include_seen": top10("optimus", False),
        "optimus_exclude_seen": top10("optimus", True),
        "optimus_include_seen_1thread": top10("optimus", False, threads=1),
        "optimus_exclude_seen_1thread": top10("optimus", True, threads=1),
    }
    passes: dict[str, list[float]] = {name: [] for name in timed}
    # Interleaved repeats: the machine is shared, so one slow pass says little.
    for _ in range(args.repeat):
        for name, fn in timed.items():
            started = time.perf_counter()
            fn()
            passes[name].append(time.perf_counter() - started)
    top, _ = fitted.recommend(users, 10, model="optimus")
    assert (top >= 0).all()
    return {
        "users": fitted.n_users,
        "items": fitted.n_items,
        "factors": f,
        "rows_per_block": rows,
        "threads": fitted._threads(len(users), fitted.n_items),
        "seconds": {name: round(min(v), 3) for name, v in passes.items()},
        "median_seconds": {name: round(float(np.median(v)), 3) for name, v in passes.items()},
        "passes": {name: [round(x, 3) for x in v] for name, v in passes.items()},
        "optimus_signals": sorted(fitted.weights["include_seen"]),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def run_case(case: str, argv: list[str]) -> dict:
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run(
        [sys.executable, __file__, "--worker", case, *argv], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5, help="scoring passes of each case (best and median kept)")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return

    import numpy as np

    argv = ["--events", str(args.events), "--users", str(args.users), "--items", str(args.items)]
    argv += ["--factors", str(args.factors), "--repeat", str(args.repeat)]
    results: dict = {}
    cases = ([] if args.skip_train else ["train", "train-refit"]) + ["scoring"]
    full_bytes = args.users * args.items * 4
    if os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") > 2 * full_bytes:
        cases.append("matmul-full")
    for case in cases:
        print(f"running {case}…", file=sys.stderr, flush=True)
        results[case] = run_case(case, argv)

    lines = []
    for case in ("train", "train-refit"):
        r = results.get(case)
        if r and "error" not in r:
            lines.append(
                f"{case:12s} {r['interactions']:>9,} interactions ({r['users']:,} users, {r['items']:,} items): "
                f"{r['seconds']:7.1f} s, peak {r['peak_rss_mb']:,.0f} MB"
            )
    scoring = results["scoring"]
    if "error" in scoring:
        lines.append(f"scoring failed: {scoring['error']}")
    else:
        sec, med, passes = scoring["seconds"], scoring["median_seconds"], scoring["passes"]
        shape = f"{scoring['users']:,} users × {scoring['items']:,} items × {args.factors} factors"
        lines.append(
            f"matmul       bare U @ V.T in blocks of {scoring['rows_per_block']} rows, {shape}: "
            f"median {med['matmul']:5.2f} s, best {sec['matmul']:5.2f} s"
        )
        if "seconds" in results.get("matmul-full", {}):
            lines.append(f"matmul-full  the same product in one call: {results['matmul-full']['seconds']:6.2f} s")
        ratios, best_ratios = {}, {}
        for name in passes:
            if name == "matmul":
                continue
            # Median over passes of (this case / the bare product of the same pass).
            per_pass = [a / b for a, b in zip(passes[name], passes["matmul"], strict=True)]
            ratios[name] = round(float(np.median(per_pass)), 2)
            best_ratios[name] = round(sec[name] / sec["matmul"], 2)
            model, mode = name.split("_", 1)
            mode = mode.replace("_1thread", ", 1 thread")
            lines.append(
                f"{model:12s} top-10, {mode:22s}: median {med[name]:5.2f} s, {ratios[name]:4.2f}× the bare product "
                f"(median of per-pass ratios; best {sec[name]:5.2f} s = {best_ratios[name]:4.2f}× the best bare)"
            )
        scoring["vs_matmul"] = ratios
        scoring["vs_matmul_best"] = best_ratios
    print("\n".join(lines))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "arguments": vars(args) | {"worker": None},
                "results": results,
                "summary": lines,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
