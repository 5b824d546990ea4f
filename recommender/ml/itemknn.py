"""Item-item correlation: "people who engaged with X also engaged with Y".

A cosine-like similarity over recent, time-decayed interactions, with each user's votes shared
out over their items (a user who touched 500 items says little about any pair of them), pruned to
the strongest `neighbours` per item and restricted to available items. Used for "because you
viewed X", for users with little history, and as a signal in the served ranking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.ml.data import Interactions
from recommender.ml.metrics import topk_rows
from recommender.ml.ranking_signals import decay, type_weights


@dataclass(frozen=True)
class KnnParams:
    half_life_days: float | None = None  # time decay of interactions (None: no decay)
    window_days: float | None = 365.0  # only interactions this recent
    alpha: float = 0.5  # 0.5 = symmetric cosine; higher favours popular neighbours less
    shrink: float = 0.0
    neighbours: int = 200
    max_user_items: int = 300  # most recent items per user that vote (bounds the pair count)
    profile_half_life_days: float = 20.0  # how fast a user's own items fade when scoring them


@dataclass
class ItemCorrelation:
    params: KnnParams
    similarity: sp.csr_matrix  # items × items, zero diagonal, ≤ neighbours per row

    def score(self, profile: sp.csr_matrix, columns: np.ndarray | None = None) -> np.ndarray:
        """Dense users × items (or × `columns`) scores: the profile's items' similarities, summed."""
        sim = self.similarity if columns is None else self.similarity[:, columns]
        return (profile @ sim).toarray()

    def similar_items(
        self, items: np.ndarray, k: int, available: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k most similar available items to each of `items` (positions; -1 pads)."""
        rows = self.similarity[np.asarray(items)].toarray()
        if available is not None:
            rows[:, ~available] = 0.0
        rows[rows <= 0] = -np.inf
        return topk_rows(rows, k)


def prune_rows(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Keeps the `keep` largest entries of every row. A partition per over-full row: linear in the
    number of entries, where one global sort of (row, value) was the slowest step of the fit."""
    matrix = matrix.tocsr()
    matrix.eliminate_zeros()
    counts = np.diff(matrix.indptr)
    heavy = np.flatnonzero(counts > keep)
    if not len(heavy):
        return matrix
    mask = np.ones(len(matrix.data), dtype=bool)
    for row in heavy:
        a, b = matrix.indptr[row], matrix.indptr[row + 1]
        mask[a + np.argpartition(matrix.data[a:b], b - a - keep)[: b - a - keep]] = False
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    return sp.csr_matrix(
        (matrix.data[mask], (rows[mask], matrix.indices[mask])), shape=matrix.shape, dtype=matrix.dtype
    )


def fit_item_correlation(
    inter: Interactions, params: KnnParams | None = None, available: np.ndarray | None = None
) -> ItemCorrelation:
    params = params or KnnParams()
    recent = np.ones(len(inter.u), dtype=bool) if params.window_days is None else inter.age_days < params.window_days
    frame = pd.DataFrame(
        {
            "u": inter.u[recent],
            "i": inter.i[recent],
            "w": (type_weights(inter.event_type) * decay(inter.age_days, params.half_life_days))[recent],
            "age": inter.age_days[recent],
        }
    )
    pairs = frame.groupby(["u", "i"], sort=False).agg(w=("w", "max"), age=("age", "min")).reset_index()
    # Only each user's most recent items vote: bots and heavy browsers would otherwise dominate
    # the pair count (quadratic in the items per user) without adding information.
    pairs = pairs.sort_values(["u", "age"], kind="stable")
    pairs = pairs[pairs.groupby("u").cumcount() < params.max_user_items]
    x = sp.csr_matrix(
        (pairs["w"].to_numpy(np.float32), (pairs["u"].to_numpy(), pairs["i"].to_numpy())),
        shape=(inter.n_users, inter.n_items),
    )
    per_user = np.diff(x.indptr).astype(np.float32)
    shared = sp.diags(np.where(per_user > 0, 1.0 / np.maximum(per_user, 1.0), 0.0).astype(np.float32)) @ x
    co = (x.T.tocsr() @ shared).tocsr()
    norms = co.diagonal().astype(np.float64)
    co.setdiag(0.0)
    co.eliminate_zeros()
    rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
    denom = norms[rows] ** params.alpha * norms[co.indices] ** (1.0 - params.alpha) + params.shrink
    co.data = (co.data / np.maximum(denom, 1e-12)).astype(np.float32)
    if available is not None:
        co = co @ sp.diags(available.astype(np.float32))
    return ItemCorrelation(params=params, similarity=prune_rows(co, params.neighbours))
