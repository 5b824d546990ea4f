"""The validation split the blend is tuned on: the last days of the training period, scored by ndcg@k."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.ml.clock import DAY_MS
from recommender.ml.metrics import hits_matrix, metrics_from_hits
from recommender.ml.ranking.scoring import EXCLUDE, MODES, FittedRecommender


@dataclass
class ValidationSet:
    users: np.ndarray  # positions in the validation fit
    relevant: sp.csr_matrix  # users × items of the validation fit
    n_relevant: np.ndarray
    k: int

    def ndcg(self, fitted: FittedRecommender, weights: dict[str, float], modes=MODES) -> dict[str, float]:
        out = {}
        for mode in modes:
            top, _ = fitted.recommend(self.users, self.k, exclude_seen=mode == EXCLUDE, weights=weights)
            out[mode] = self.ndcg_of(top)
        return out

    def ndcg_of(self, top: np.ndarray) -> float:
        hits = hits_matrix(top, self.relevant)
        return float(metrics_from_hits(hits, self.n_relevant, self.k)["ndcg"].mean())


def validation_days(events: pd.DataFrame, now_ms: int, requested: float | None) -> float:
    if requested:
        return float(requested)
    span = (now_ms - int(events["timestamp"].min())) / DAY_MS
    return float(min(28.0, max(1.0, 0.15 * span)))
