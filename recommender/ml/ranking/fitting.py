"""`fit_recommender`: tune on a validation split (``tuning.py``), then refit every component on the whole
period with what validation chose (``components.py``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

import pandas as pd

from recommender.ml.data import Interactions, ItemCatalog
from recommender.ml.ease import EaseParams
from recommender.ml.itemknn import KnnParams
from recommender.ml.ranking.components import Choices, FitOptions, UserFeatures, default_weights, fit_signals
from recommender.ml.ranking.scoring import FittedRecommender
from recommender.ml.ranking.tuning import tune_on_validation

log = logging.getLogger(__name__)


def fit_recommender(
    events: pd.DataFrame,
    *,
    catalog: ItemCatalog | None = None,
    user_features: UserFeatures = None,
    now_ms: int | None = None,
    options: FitOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> FittedRecommender:
    """Fits every signal on `events` (interaction frame, see data.py), tuning on a validation split.

    `catalog` adds item side features and availability. `user_features` adds user side features
    to LightFM: a frame (customer, feature), or a function of the events that builds one — then
    the validation fit gets features computed from its own training events only.
    `now_ms` is the clock (default: just after the last event).
    """
    options = options or FitOptions()
    say = progress or (lambda message: log.info(message))
    started = time.perf_counter()
    now_ms = int(events["timestamp"].max()) + 1 if now_ms is None else int(now_ms)
    events = events[events["timestamp"] < now_ms]

    params = Choices(
        knn=KnnParams(), ease=replace(EaseParams(), max_items=options.ease_max_items), lightfm=options.lightfm_params
    )
    weights: dict[str, dict[str, float]] = {}
    validation: dict = {}
    timings: dict[str, float] = {}
    if options.tune:
        tuned = tune_on_validation(events, now_ms, catalog, user_features, options, say)
        if tuned is not None:
            params, weights, validation, timings = tuned
    say("refitting on the whole period")
    features = user_features(events) if callable(user_features) else user_features
    fitted = fit_signals(Interactions.build(events, now_ms), params, catalog, features, options, timings, prefix="fit_")
    fitted.weights = weights or default_weights(fitted)
    fitted.params = params.as_dict() | {"validation_days": validation.get("days")}
    fitted.validation = validation
    timings["total_s"] = time.perf_counter() - started
    fitted.timings = {key: round(value, 3) for key, value in timings.items()}
    return fitted
