"""What Optimus serves: one ranking that combines every signal, tuned on a validation split.

    score(u, i) = Σ_s w_s · signal_s(u, i)

Signals: the person's own history (counts per event type, recency, open carts, how often the item is re-bought),
item-item correlation and EASE over the person's profile, the LightFM score, and popularity / trend.

    scoring      FittedRecommender: every fitted signal and the blend weights; recommend, explain, similar items
    blocks       how one block of users is scored (the plan, the dense product, the sparse signals)
    components   every component fitted with fixed parameters
    validation   the validation split and its ndcg@k
    tuning       hyper-parameters and blend weights chosen on validation
    weights      the blend weights: candidate pools and coordinate ascent
    fitting      fit_recommender: tune, then refit on the whole period

Import the public names from here.
"""

from recommender.ml.ranking.components import FitOptions, default_weights
from recommender.ml.ranking.fitting import fit_recommender
from recommender.ml.ranking.scoring import BASELINES, EXCLUDE, INCLUDE, MODES, FittedRecommender
from recommender.ml.ranking.weights import Pool, coordinate_ascent, learn_blend

__all__ = [
    "BASELINES",
    "EXCLUDE",
    "INCLUDE",
    "MODES",
    "FitOptions",
    "FittedRecommender",
    "Pool",
    "coordinate_ascent",
    "default_weights",
    "fit_recommender",
    "learn_blend",
]
