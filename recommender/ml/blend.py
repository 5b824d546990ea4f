"""Moved to ``recommender.ml.ranking`` (issue 16). Kept only so that callers being moved at the same time
(``campaigns/simulator.py``) still import; remove once nothing imports ``recommender.ml.blend``."""

from recommender.ml.ranking import (  # noqa: F401 (re-exported)
    EXCLUDE,
    INCLUDE,
    MODES,
    FitOptions,
    FittedRecommender,
    default_weights,
    fit_recommender,
)
