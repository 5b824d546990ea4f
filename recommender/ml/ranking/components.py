"""Every component of the ranking fitted with fixed parameters: the person's own history, popularity and
trend, item-item correlation, EASE and LightFM — what both the validation fit and the final refit run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from recommender.ml.data import Interactions, ItemCatalog
from recommender.ml.ease import EaseParams, fit_ease
from recommender.ml.factorization import LightfmParams, fit_lightfm, item_feature_matrix, user_feature_matrix
from recommender.ml.itemknn import KnnParams, fit_item_correlation
from recommender.ml.ranking.scoring import EXCLUDE, INCLUDE, FittedRecommender
from recommender.ml.ranking_signals import popularity, user_item_history, user_profile

UserFeatures = pd.DataFrame | Callable[[pd.DataFrame], pd.DataFrame] | None
POPULARITY = {"pop_all": None, "pop_month": 30.0, "pop_recent": 7.0}  # name -> half-life (days)


@dataclass(frozen=True)
class FitOptions:
    k: int = 10
    validation_days: float | None = None  # default: 15% of the period, between 1 and 28 days
    max_validation_users: int = 3000
    tune: bool = True
    lightfm: bool = True
    ease: bool = True
    ease_max_items: int = 4000
    knn: bool = True
    lightfm_params: LightfmParams = LightfmParams()
    max_epochs: int = 40
    block_elements: int = 8_000_000
    seed: int = 0


@dataclass(frozen=True)
class Choices:
    knn: KnnParams
    ease: EaseParams
    lightfm: LightfmParams

    def as_dict(self) -> dict:
        return {"item_knn": asdict(self.knn), "ease": asdict(self.ease), "lightfm": asdict(self.lightfm)}


def default_weights(fitted: FittedRecommender) -> dict[str, dict[str, float]]:
    """Used only when there is too little data to validate anything."""
    present = set(fitted.signals)
    include = {"hist_count": 1.0, "hist_recent": 0.3, "pop_recent": 0.3, "knn": 0.1, "ease": 0.1, "lightfm": 0.03}
    exclude = {"knn": 1.0, "ease": 1.0, "pop_recent": 0.3, "lightfm": 0.1}
    return {
        INCLUDE: {n: w for n, w in include.items() if n in present},
        EXCLUDE: {n: w for n, w in exclude.items() if n in present},
    }


def fit_signals(
    inter: Interactions,
    params: Choices,
    catalog: ItemCatalog | None,
    user_features: pd.DataFrame | None,
    options: FitOptions,
    timings: dict,
    prefix: str = "",
) -> FittedRecommender:
    """Fits every component with fixed parameters."""

    def timed(name, fn):
        t = time.perf_counter()
        result = fn()
        timings[f"{prefix}{name}_s"] = timings.get(f"{prefix}{name}_s", 0.0) + time.perf_counter() - t
        return result

    available = np.ones(inter.n_items, dtype=bool) if catalog is None else catalog.aligned(inter.item_ids).available
    seen = inter.seen()
    history = timed("history", lambda: user_item_history(inter))
    pops = timed("popularity", lambda: {name: popularity(inter, hl) for name, hl in POPULARITY.items()})
    fitted = FittedRecommender(
        user_ids=inter.user_ids,
        item_ids=inter.item_ids,
        now_ms=inter.now_ms,
        available=available,
        seen=seen,
        history=history,
        profile=user_profile(inter, params.knn.profile_half_life_days),
        popularity=pops,
        block_elements=options.block_elements,
    )
    if options.knn:
        fitted.knn = timed("item_knn", lambda: fit_item_correlation(inter, params.knn, available))
    if options.ease and inter.n_items > 1:
        fitted.ease = timed("ease", lambda: fit_ease(inter, params.ease, seen))
    if options.lightfm:
        fitted.lightfm = timed(
            "lightfm",
            lambda: fit_lightfm(
                inter,
                params.lightfm,
                item_features=item_feature_matrix(inter.item_ids, catalog),
                user_features=user_feature_matrix(inter.user_ids, user_features),
            ),
        )
    return fitted
