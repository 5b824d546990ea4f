"""The offline evaluation protocol behind `evaluate_recommender` (see DESIGN.md, "Management commands").

cutoff = max(timestamp) − test_days; train = before, test = from the cutoff; test users have events
on both sides; relevant = the user's distinct test items, any event type; candidates = items seen
in train (minus items the catalog says were unavailable at the cutoff, when one is given).

--exclude-seen removes each user's train items from that user's candidates; relevant stays every
distinct test item, seen or not (a re-bought item then counts in recall and in the ideal DCG but
cannot be hit). This is the reading that reproduces the reference numbers in issue 4.

Every model is fitted on train only; anything tuned is tuned on a validation split carved from
the end of train (the same protocol, `validation_days` = `test_days`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from recommender.ml.data import ItemCatalog, time_split
from recommender.ml.metrics import ranking_metrics
from recommender.ml.ranking import EXCLUDE, INCLUDE, FitOptions, fit_recommender

# Which timings make up each model's fit_s (tuning on validation included).
FIT_TIMINGS = {
    "popularity": ["fit_popularity_s"],
    "recent_popularity": ["fit_popularity_s"],
    "history": ["fit_history_s"],
    "item_knn": ["tune_item_knn_s", "fit_item_knn_s"],
    "ease": ["tune_ease_s", "fit_ease_s"],
    "lightfm": ["tune_lightfm_s", "fit_lightfm_s"],
}
METRIC_ORDER = ("precision", "recall", "ndcg", "hit_rate")


@dataclass
class EvaluationReport:
    k: int
    exclude_seen: bool
    split: dict
    models: dict[str, dict[str, float]]
    validation: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"split": self.split, "models": self.models, "validation": self.validation}

    def table(self) -> str:
        keys = [f"{m}@{self.k}" for m in METRIC_ORDER] + ["coverage", "fit_s", "score_s"]
        lines = [f"{'model':18s}" + "".join(f"{key:>13s}" for key in keys)]
        ranked = sorted(self.models.items(), key=lambda kv: -kv[1][f"ndcg@{self.k}"])
        for name, metrics in ranked:
            lines.append(f"{name:18s}" + "".join(f"{metrics[key]:13.4f}" for key in keys))
        return "\n".join(lines)


def activity_features(events: pd.DataFrame) -> pd.DataFrame:
    """User side features derivable from events alone: activity band and which event types a
    user produces. (`train` passes richer ones: segment, platform, locale.)"""
    per_user = events.groupby("customer").agg(items=("item", "nunique"))
    band = np.minimum(np.floor(np.log2(per_user["items"].to_numpy())), 8).astype(int)
    frames = [pd.DataFrame({"customer": per_user.index, "feature": [f"activity:{b}" for b in band]})]
    for kind in ("addtocart", "transaction"):
        users = events.loc[events["type"] == kind, "customer"].unique()
        frames.append(pd.DataFrame({"customer": users, "feature": f"does:{kind}"}))
    return pd.concat(frames, ignore_index=True)


def evaluate_recommender(
    events: pd.DataFrame,
    *,
    test_days: float,
    k: int = 10,
    exclude_seen: bool = False,
    catalog: ItemCatalog | None = None,
    options: FitOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvaluationReport:
    say = progress or (lambda message: None)
    split = time_split(events, test_days)
    if split.train.empty or not len(split.test_users):
        raise ValueError(f"no test users: need users with events both before and after the cutoff ({test_days} days)")
    options = replace(options or FitOptions(), k=k, validation_days=test_days)
    say(f"split: cutoff {split.cutoff_ms}, {len(split.train)} train events, {len(split.test_users)} test users")
    fitted = fit_recommender(
        split.train,
        catalog=catalog,
        user_features=activity_features,
        now_ms=split.cutoff_ms,
        options=options,
        progress=say,
    )
    relevant, n_relevant = split.relevance(fitted.item_ids)
    users = fitted.user_positions(split.test_users)
    n_candidates = int(fitted.available.sum())
    models = {}
    # Own history ranks only seen items: with them excluded it is recent popularity by another name.
    for model in [m for m in fitted.models() if not (exclude_seen and m == "history")]:
        started = time.perf_counter()
        top, _ = fitted.recommend(users, k, exclude_seen=exclude_seen, model=model)
        score_s = time.perf_counter() - started
        metrics = ranking_metrics(top, relevant, n_relevant, k, n_candidates)
        fit_s = (
            fitted.timings["total_s"]
            if model == "optimus"
            else sum(fitted.timings.get(key, 0.0) for key in FIT_TIMINGS.get(model, []))
        )
        metrics.update(fit_s=round(fit_s, 3), score_s=round(score_s, 3))
        models[model] = {key: (round(v, 6) if isinstance(v, float) else v) for key, v in metrics.items()}
        say(f"{model}: ndcg@{k} {metrics[f'ndcg@{k}']:.4f}")
    mode = EXCLUDE if exclude_seen else INCLUDE
    return EvaluationReport(
        k=k,
        exclude_seen=exclude_seen,
        split={
            "cutoff_ms": split.cutoff_ms,
            "train_events": len(split.train),
            "test_users": len(split.test_users),
            "items": n_candidates,
        },
        models=models,
        validation=fitted.validation | {"params": fitted.params, "weights": fitted.weights.get(mode, {})},
    )
