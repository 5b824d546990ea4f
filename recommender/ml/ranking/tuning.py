"""Hyper-parameters and blend weights chosen on a validation split carved from the end of the training period
(the same protocol as the offline evaluation): each component's parameters first, then the blend weights —
one set for ranking everything, one for new items only. Nothing is chosen on the data it is scored on."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from recommender.ml.data import Interactions, ItemCatalog, time_split
from recommender.ml.ease import Ease, EaseParams, covered_items, fit_ease, gram
from recommender.ml.factorization import (
    Factorization,
    LightfmParams,
    fit_lightfm,
    item_feature_matrix,
    user_feature_matrix,
)
from recommender.ml.itemknn import ItemCorrelation, KnnParams, fit_item_correlation
from recommender.ml.ranking.components import Choices, FitOptions, UserFeatures, fit_signals
from recommender.ml.ranking.scoring import BASELINES, EXCLUDE, INCLUDE, MODES
from recommender.ml.ranking.validation import ValidationSet, validation_days
from recommender.ml.ranking.weights import learn_blend
from recommender.ml.ranking_signals import user_profile


def tune_on_validation(
    events: pd.DataFrame,
    now_ms: int,
    catalog: ItemCatalog | None,
    user_features: UserFeatures,
    options: FitOptions,
    say: Callable[[str], None],
):
    """Chooses hyper-parameters and blend weights on the last `validation_days` of the period."""
    days = validation_days(events, now_ms, options.validation_days)
    split = time_split(events, days) if len(events) else None
    if split is None or len(split.test_users) < 20 or split.train["item"].nunique() < 2:
        say(f"validation: too little data in the last {days:g} days, using default parameters")
        return None
    inter = Interactions.build(split.train, split.cutoff_ms)
    rng = np.random.default_rng(options.seed)
    users = split.test_users
    # Each validation pass scores users × items densely: fewer users on very large catalogs.
    cap = min(options.max_validation_users, max(1000, int(3e8 // max(inter.n_items, 1))))
    if len(users) > cap:
        users = np.sort(rng.choice(users, cap, replace=False))
        split = replace(split, test=split.test[split.test["customer"].isin(users)], test_users=users)
    relevant, n_relevant = split.relevance(inter.item_ids)
    val = ValidationSet(users=inter.user_positions(users), relevant=relevant, n_relevant=n_relevant, k=options.k)
    say(f"validation: last {days:g} days, {len(users)} users, {inter.n_items} items, {len(inter.u)} events")

    timings: dict[str, float] = {}
    base = fit_signals(
        inter,
        Choices(KnnParams(), EaseParams(), options.lightfm_params),
        catalog,
        None,
        replace(options, knn=False, ease=False, lightfm=False),
        timings,
        prefix="tune_",
    )
    results: dict[str, dict] = {}
    knn_params = ease_params = None
    knn = ease = factor = None
    if options.knn:
        t = time.perf_counter()
        knn, knn_params = _tune_knn(inter, base, val)
        timings["tune_item_knn_s"] = time.perf_counter() - t
        say(f"validation: item_knn {knn_params}")
    if options.ease and inter.n_items > 1:
        t = time.perf_counter()
        ease, ease_params = _tune_ease(inter, base, val, options)
        timings["tune_ease_s"] = time.perf_counter() - t
        say(f"validation: ease {ease_params}")
    lightfm_params = options.lightfm_params
    if options.lightfm:
        t = time.perf_counter()
        features = user_features(split.train) if callable(user_features) else user_features
        factor, lightfm_params = _tune_lightfm(inter, base, val, catalog, features, options, say)
        timings["tune_lightfm_s"] = time.perf_counter() - t
    base.knn, base.ease, base.lightfm = knn, ease, factor
    for model in base.models():
        if model != "optimus":
            results[model] = val.ndcg(base, BASELINES[model])

    t = time.perf_counter()
    weights = learn_blend(base, val)
    timings["tune_blend_s"] = time.perf_counter() - t
    base.weights = weights
    results["optimus"] = {mode: val.ndcg(base, weights[mode], (mode,))[mode] for mode in MODES}
    for model, r in results.items():
        say(f"validation ndcg@{options.k}: {model:18s} {r[INCLUDE]:.4f} (all) {r[EXCLUDE]:.4f} (new items)")
    params = Choices(
        knn=knn_params or KnnParams(),
        ease=ease_params or EaseParams(max_items=options.ease_max_items),
        lightfm=lightfm_params,
    )
    validation = {
        "days": days,
        "users": int(len(users)),
        f"ndcg@{options.k}": {m: {mode: round(v, 4) for mode, v in r.items()} for m, r in results.items()},
    }
    return params, weights, validation, timings


def _tune_knn(inter, base, val) -> tuple[ItemCorrelation, KnnParams]:
    """The similarity first (with the default profile), then how recent a profile it reads."""
    best = None
    for params in (KnnParams(), KnnParams(half_life_days=60.0), KnnParams(alpha=0.7)):
        base.knn = fit_item_correlation(inter, params, base.available)
        score = val.ndcg(base, BASELINES["item_knn"], (EXCLUDE,))[EXCLUDE]
        if best is None or score > best[0]:
            best = (score, base.knn, params)
    for days in (7.0, 60.0):
        params = replace(best[2], profile_half_life_days=days)
        base.knn, base.profile = best[1], user_profile(inter, days)
        score = val.ndcg(base, BASELINES["item_knn"], (EXCLUDE,))[EXCLUDE]
        if score > best[0]:
            best = (score, best[1], params)
    best[1].params = best[2]
    base.profile = user_profile(inter, best[2].profile_half_life_days)
    return best[1], best[2]


def _tune_ease(inter, base, val, options) -> tuple[Ease, EaseParams]:
    g = None
    best = None
    for l2 in (1.0, 4.0, 16.0):
        params = EaseParams(l2=l2, max_items=options.ease_max_items)
        if g is None:  # one Gram matrix serves every λ
            g = gram(base.seen, covered_items(base.seen, params.max_items))
        base.ease = fit_ease(inter, params, base.seen, g)
        score = val.ndcg(base, BASELINES["ease"], (EXCLUDE,))[EXCLUDE]
        if best is None or score > best[0]:
            best = (score, base.ease, params)
    return best[1], best[2]


def _tune_lightfm(inter, base, val, catalog, user_features, options, say) -> tuple[Factorization, LightfmParams]:
    """Candidates in order of how often they win: type- and recency-weighted feedback with the item
    features, unweighted, then with the user features, then without the item features. Each trains
    with checkpoints and stops when two checkpoints bring nothing, or as soon as it trails what an
    earlier candidate scored at the same epoch by more than 3% (most losers are clear by epoch 10)."""
    item_features = item_feature_matrix(inter.item_ids, catalog)
    user_feats = user_feature_matrix(inter.user_ids, user_features)
    start = replace(
        options.lightfm_params, epochs=options.max_epochs, item_features=item_features is not None, user_features=False
    )
    candidates = [start, replace(start, weighted=not start.weighted)]
    if user_feats is not None:
        candidates.append("best+user_features")
    if item_features is not None:
        candidates.append("best-item_features")
    checkpoints = [5, 10, 15, 20, 30, 40, 50, 60, 80, 100]
    best: list = [None]
    leader_at: dict[int, float] = {}  # best score any earlier candidate had at each epoch

    for params in candidates:
        if params == "best+user_features":
            params = replace(best[0][2], epochs=options.max_epochs, user_features=True)
        elif params == "best-item_features":
            params = replace(best[0][2], epochs=options.max_epochs, item_features=False)
        history: list[tuple[float, int]] = []

        def keep_going(epoch: int, snapshot: Factorization, params=params, history=history) -> bool:
            base.lightfm = snapshot
            score = val.ndcg(base, BASELINES["lightfm"], (EXCLUDE,))[EXCLUDE]
            history.append((score, epoch))
            if best[0] is None or score > best[0][0]:
                best[0] = (score, snapshot, replace(params, epochs=epoch))
            behind = epoch >= 10 and score < 0.97 * leader_at.get(epoch, 0.0)
            stalled = len(history) >= 3 and max(history[-2:])[0] <= max(history[:-2])[0]
            return not (behind or stalled)

        fit_lightfm(
            inter,
            params,
            item_features=item_features,
            user_features=user_feats,
            checkpoints=checkpoints,
            on_checkpoint=keep_going,
        )
        for score, epoch in history:
            leader_at[epoch] = max(leader_at.get(epoch, 0.0), score)
        say(
            f"validation: lightfm weighted={params.weighted} item_features={params.item_features} "
            f"user_features={params.user_features}: ndcg {max(history)[0]:.4f} (new items) at {max(history)[1]} epochs"
        )
    return best[0][1], best[0][2]
