"""EASE (Steck 2019): a closed-form item-item linear model, B = I − P / diag(P), P = (XᵀX + λI)⁻¹.

Strong on dense catalogs, but the inverse is cubic in the number of items, so it covers only the
`max_items` most popular ones; the rest get no EASE score (the other signals still rank them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from recommender.ml.data import Interactions


@dataclass(frozen=True)
class EaseParams:
    l2: float = 4.0  # λ as a multiple of the mean item count (scale-free across data sets)
    max_items: int = 4000


@dataclass
class Ease:
    params: EaseParams
    items: np.ndarray  # positions of the covered items
    weights: np.ndarray  # len(items) × len(items), float32, zero diagonal

    def score(self, seen: sp.csr_matrix, columns: np.ndarray | None = None) -> np.ndarray:
        """Dense users × items (or × `columns`) scores from users' binary histories."""
        n_cols = seen.shape[1] if columns is None else len(columns)
        out = np.zeros((seen.shape[0], n_cols), dtype=np.float32)
        if columns is None:
            out[:, self.items] = seen[:, self.items] @ self.weights
        else:
            where = np.full(seen.shape[1], -1)
            where[columns] = np.arange(len(columns))
            keep = where[self.items] >= 0
            out[:, where[self.items][keep]] = seen[:, self.items] @ self.weights[:, keep]
        return out


def covered_items(seen: sp.csr_matrix, max_items: int) -> np.ndarray:
    """The `max_items` most popular items (positions, sorted)."""
    counts = np.asarray(seen.sum(axis=0)).ravel()
    items = np.sort(np.argsort(-counts, kind="stable")[:max_items])
    return items[counts[items] > 0]


def gram(seen: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
    x = seen[:, items]
    return (x.T @ x).toarray().astype(np.float64)


def fit_ease(
    inter: Interactions,
    params: EaseParams | None = None,
    seen: sp.csr_matrix | None = None,
    g: np.ndarray | None = None,
) -> Ease:
    params = params or EaseParams()
    seen = inter.seen() if seen is None else seen
    items = covered_items(seen, params.max_items)
    g = gram(seen, items) if g is None else g.copy()
    lam = params.l2 * max(float(np.mean(np.diag(g))), 1.0)
    g[np.diag_indices_from(g)] += lam
    # Cholesky inverse of the SPD Gram matrix in float32: about a third of the time of a float64
    # general inverse; λ keeps the matrix well conditioned enough for single precision.
    chol, info = lapack.spotrf(g.astype(np.float32), lower=False, overwrite_a=True)
    if info == 0:
        p, info = lapack.spotri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: Cholesky inverse failed (info={info})")
    p = np.triu(p) + np.triu(p, 1).T
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    return Ease(params=params, items=items, weights=b)
