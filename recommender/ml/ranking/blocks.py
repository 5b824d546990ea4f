"""How one block of users is scored: a plan computed once per serving pass (everything that does not depend
on the users), the dense fill (the LightFM product with the item-level signals folded in) and the sparse
signals added in place by scipy's compiled CSR kernels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse import _sparsetools  # scipy's CSR kernels: products and scatters into a given dense block

if TYPE_CHECKING:  # for annotations only: scoring.py imports this module
    from recommender.ml.ranking.scoring import FittedRecommender


@dataclass
class ScoringPlan:
    columns: np.ndarray  # the items that may be served (positions)
    weights: dict
    item_part: np.ndarray  # Σ weight × item-level signal (popularity, LightFM bias) over the columns
    factors_t: np.ndarray | None  # (f + 1) × columns: LightFM item factors with item_part as a last row
    user_scale: float  # LightFM weight / spread, folded into the user factors
    similarity: sp.csr_matrix | None  # item correlation, columns restricted, float32
    similarity_row_nnz: np.ndarray | None  # entries per row of `similarity`
    ease_seen: sp.csr_matrix | None  # users × EASE items (binary)
    ease_weights: np.ndarray | None  # EASE items × their served columns, float32
    ease_columns: np.ndarray | slice | None  # where those columns sit in the block
    history: sp.csr_matrix | None  # Σ weight × history feature, columns restricted, float32
    seen: sp.csr_matrix


def scoring_plan(fitted: FittedRecommender, weights: dict[str, float], available: np.ndarray | None) -> ScoringPlan:
    """Everything that does not depend on the users, computed once per serving pass."""
    mask = fitted.available if available is None else (fitted.available & np.asarray(available, dtype=bool))
    columns = np.flatnonzero(mask)
    everything = len(columns) == fitted.n_items
    item_part = np.zeros(len(columns), dtype=np.float32)
    for name, vector in fitted.popularity.items():
        if weights.get(name):
            item_part += weights[name] * vector[columns]
    factors_t, user_scale = None, 0.0
    if weights.get("lightfm") and fitted.lightfm is not None:
        lightfm = fitted.lightfm if everything else fitted.lightfm.restricted(columns)
        user_scale = weights["lightfm"] / lightfm.scale
        item_part += user_scale * lightfm.item_bias
        # The constant last factor adds item_part inside the product: one pass over the block.
        factors_t = np.ascontiguousarray(np.vstack([lightfm.item_vectors_t, item_part[None, :]]))
    similarity = similarity_row_nnz = None
    if weights.get("knn") and fitted.knn is not None:
        similarity = fitted.knn.similarity if everything else fitted.knn.similarity[:, columns].tocsr()
        similarity = similarity.astype(np.float32, copy=False)
        similarity_row_nnz = np.diff(similarity.indptr)
    ease_seen = ease_weights = ease_columns = None
    if weights.get("ease") and fitted.ease is not None:
        where = np.full(fitted.n_items, -1)
        where[columns] = np.arange(len(columns))
        keep = where[fitted.ease.items] >= 0
        ease_seen = fitted.seen[:, fitted.ease.items].tocsr()
        ease_seen.sort_indices()  # each user's rows of the weights are summed in item order
        ease_weights = fitted.ease.weights if keep.all() else fitted.ease.weights[:, keep]  # no copy of 64 MB
        ease_weights = np.ascontiguousarray(ease_weights, dtype=np.float32)
        ease_columns = where[fitted.ease.items][keep]
        if len(ease_columns) and np.array_equal(ease_columns, np.arange(ease_columns[0], ease_columns[-1] + 1)):
            ease_columns = slice(int(ease_columns[0]), int(ease_columns[-1]) + 1)
    history = None
    if any(weights.get(n) for n in fitted.history.names):
        history = fitted.history.combined(weights)
        history = history if everything else history[:, columns].tocsr()
        history.eliminate_zeros()
        history = history.astype(np.float32, copy=False)
    return ScoringPlan(
        columns=columns,
        weights=weights,
        item_part=item_part,
        factors_t=factors_t,
        user_scale=user_scale,
        similarity=similarity,
        similarity_row_nnz=similarity_row_nnz,
        ease_seen=ease_seen,
        ease_weights=ease_weights,
        ease_columns=ease_columns,
        history=history,
        seen=fitted.seen if everything else fitted.seen[:, columns].tocsr(),
    )


def fill_dense(fitted: FittedRecommender, rows: np.ndarray, plan: ScoringPlan, block: np.ndarray) -> None:
    """The LightFM product with the item-level signals folded in, or the item-level fill."""
    warm = rows >= 0
    if plan.factors_t is not None:
        f = plan.factors_t.shape[0] - 1
        u = np.empty((len(rows), f + 1), dtype=np.float32)
        u[:, :f] = fitted.lightfm.user_vectors[np.maximum(rows, 0)]
        u[:, :f] *= plan.user_scale
        u[~warm, :f] = 0.0
        u[:, f] = 1.0
        np.matmul(u, plan.factors_t, out=block)
    else:
        block[:] = plan.item_part


def add_sparse(
    fitted: FittedRecommender, rows: np.ndarray, plan: ScoringPlan, exclude_seen: bool, block: np.ndarray
) -> None:
    """Adds the per-user sparse signals (item correlation, EASE, history) to `block` in place
    and masks seen items; rows of `block` are `rows`, and only those are touched."""
    w = plan.weights
    warm = rows >= 0
    if not warm.any():
        return
    n_rows, n_cols = block.shape
    if plan.similarity is not None:
        # profile @ similarity straight from scipy's CSR kernel into arrays sized by the number of
        # multiply-adds (an upper bound of its entries: no counting pass), each row scaled by
        # weight / its max, then added into the block in one compiled pass.
        sim = plan.similarity
        indptr, indices, data = _csr_rows(fitted.profile, rows, warm)
        data = data.astype(np.float32, copy=False)
        itype = np.result_type(indptr, indices, sim.indptr, sim.indices)
        upper = int(plan.similarity_row_nnz[indices].sum())
        cp = np.empty(n_rows + 1, dtype=itype)
        cj = np.empty(upper, dtype=itype)
        cx = np.empty(upper, dtype=np.float32)
        _sparsetools.csr_matmat(n_rows, n_cols, indptr, indices, data, sim.indptr, sim.indices, sim.data, cp, cj, cx)
        cx = cx[: cp[-1]]
        factor = w["knn"] / row_max(cx, cp, np.diff(cp))
        _sparsetools.csr_scale_rows(n_rows, n_cols, cp, cj, cx, factor)
        _sparsetools.csr_todense(n_rows, n_cols, cp, cj, cx, block)
    if plan.ease_weights is not None and plan.ease_weights.shape[1]:
        # Item by item (CSC): each EASE row is read once per block, however many users want it.
        indptr, indices, data = _csr_rows(plan.ease_seen, rows, warm)
        n_ease, n_served = plan.ease_weights.shape
        itype = np.result_type(indptr, indices)
        col_ptr = np.empty(n_ease + 1, dtype=itype)
        row_ind = np.empty(len(indices), dtype=itype)
        values = np.empty(len(indices), dtype=np.float32)
        _sparsetools.csr_tocsc(
            n_rows, n_ease, indptr, indices, data.astype(np.float32, copy=False), col_ptr, row_ind, values
        )
        part = np.zeros((n_rows, n_served), dtype=np.float32)  # cold rows stay 0
        _sparsetools.csc_matvecs(
            n_rows, n_ease, n_served, col_ptr, row_ind, values, plan.ease_weights.ravel(), part.ravel()
        )
        top = np.maximum(part.max(axis=1), 0.0)
        part *= (w["ease"] / np.where(top > 0, top, 1.0))[:, None]
        # EASE items are the most popular: usually a contiguous prefix of the columns (a view).
        block[:, plan.ease_columns] += part
    if plan.history is not None:
        indptr, indices, data = _csr_rows(plan.history, rows, warm)
        _sparsetools.csr_todense(n_rows, n_cols, indptr, indices, data, block)
    if exclude_seen:
        indptr, indices, _ = _csr_rows(plan.seen, rows, warm)
        flat = block.reshape(-1)
        flat[np.repeat(np.arange(n_rows, dtype=np.int64) * n_cols, np.diff(indptr)) + indices] = -np.inf


def _csr_rows(matrix: sp.csr_matrix, rows: np.ndarray, warm: np.ndarray) -> tuple[np.ndarray, ...]:
    """indptr, indices, data of `rows` of a CSR matrix, with an empty row where `warm` is False.
    A run of consecutive rows (a scoring pass over everyone) is a view; otherwise one compiled copy."""
    indptr = matrix.indptr
    if len(rows) and warm.all() and rows[-1] - rows[0] == len(rows) - 1 and (np.diff(rows) == 1).all():
        first, last = indptr[rows[0]], indptr[rows[-1] + 1]
        return indptr[rows[0] : rows[-1] + 2] - first, matrix.indices[first:last], matrix.data[first:last]
    picked = rows[warm].astype(indptr.dtype)
    counts = np.zeros(len(rows), dtype=indptr.dtype)
    counts[warm] = indptr[picked + 1] - indptr[picked]
    out_ptr = np.zeros(len(rows) + 1, dtype=indptr.dtype)
    np.cumsum(counts, out=out_ptr[1:])
    indices = np.empty(out_ptr[-1], dtype=matrix.indices.dtype)
    data = np.empty(out_ptr[-1], dtype=matrix.data.dtype)
    _sparsetools.csr_row_index(len(picked), picked, indptr, matrix.indices, matrix.data, indices, data)
    return out_ptr, indices, data


def row_max(data: np.ndarray, indptr: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Largest stored value per CSR row, 1 where a row is empty or has nothing positive."""
    top = np.zeros(len(counts), dtype=np.float32)
    filled = counts > 0
    if filled.any():
        top[filled] = np.maximum.reduceat(data, indptr[:-1][filled])
    return np.where(top > 0, top, 1.0).astype(np.float32)


def scaled_by_row_max(block: np.ndarray) -> np.ndarray:
    """Each user's scores divided by their largest one: puts light and heavy users on one scale."""
    top = block.max(axis=1, keepdims=True) if block.shape[1] else np.zeros((len(block), 1), np.float32)
    block /= np.where(top > 0, top, 1.0)
    return block
