"""Top-k ranking metrics with binary relevance, and the partial top-k used by every scorer.

Conventions (the `evaluate_recommender` contract):
- precision@k = hits in the top k / k; recall@k = hits / number of relevant items;
- ndcg@k = DCG / ideal DCG, gains 1 / log2(rank + 1), ideal DCG over min(|relevant|, k) items;
- hit_rate@k = share of users with at least one hit; coverage = distinct recommended / candidates.
A padding slot (item -1) is never a hit. Users with no relevant item score 0 everywhere.
"""

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp


def discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ndcg(recommended: Sequence, relevant: Iterable, k: int) -> float:
    """Reference ndcg@k of one ranked list (readable; the vectorised version is `ranking_metrics`)."""
    relevant = set(relevant)
    dcg = sum(1.0 / np.log2(rank + 2) for rank, item in enumerate(recommended[:k]) if item in relevant)
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def hits_matrix(top: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """hits[u, r] = top[u, r] is relevant for user u (padding -1 never is)."""
    rows = np.repeat(np.arange(top.shape[0]), top.shape[1])
    cols = top.ravel()
    ok = cols >= 0
    out = np.zeros(top.size, dtype=bool)
    out[ok] = np.asarray(relevant[rows[ok], cols[ok]]).ravel() > 0
    return out.reshape(top.shape)


def metrics_from_hits(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per-user metrics from a users × k hit matrix (ranked best first)."""
    hits = hits[:, :k].astype(np.float64)
    n_relevant = np.asarray(n_relevant)
    n_hits = hits.sum(axis=1)
    disc = discounts(k)
    dcg = hits @ disc[: hits.shape[1]]
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(n_relevant, k)]
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "precision": n_hits / k,
            "recall": np.where(n_relevant > 0, n_hits / np.maximum(n_relevant, 1), 0.0),
            "ndcg": np.where(ideal > 0, dcg / np.where(ideal > 0, ideal, 1.0), 0.0),
            "hit_rate": (n_hits > 0).astype(np.float64),
        }


def ranking_metrics(
    top: np.ndarray, relevant: sp.csr_matrix, n_relevant: np.ndarray, k: int, n_candidates: int | None = None
) -> dict[str, float]:
    """Mean metrics over users, keys with k written out ("ndcg@10"), plus coverage."""
    per_user = metrics_from_hits(hits_matrix(top[:, :k], relevant), n_relevant, k)
    out = {f"{name}@{k}": float(values.mean()) if len(values) else 0.0 for name, values in per_user.items()}
    shown = np.unique(top[:, :k][top[:, :k] >= 0])
    out["coverage"] = len(shown) / n_candidates if n_candidates else 0.0
    return out


def topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the k largest entries of each row, best first (exact).

    np.argpartition over a wide row costs several times the matrix product that produced it, so:
    split each row into g strided groups and take every group's max (one vectorised pass); the
    k-th largest group max t is a lower bound of the row's k-th largest entry (k groups reach it),
    so every top-k entry is ≥ t and sits in a group whose max is ≥ t. Only those few groups are
    read again, and only their entries ≥ t are sorted. -inf entries are never returned (their
    slot is -1, score -inf); NaN must not occur.
    """
    n_rows, n = scores.shape
    idx = np.full((n_rows, k), -1, dtype=np.int64)
    out = np.full((n_rows, k), -np.inf, dtype=scores.dtype)
    if n == 0 or n_rows == 0 or k == 0:
        return idx, out
    if n <= 64 * k:
        kk = min(k, n)
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(np.arange(n), (n_rows, 1))
        vals = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")
        part, vals = np.take_along_axis(part, order, 1), np.take_along_axis(vals, order, 1)
        part[np.isneginf(vals)] = -1
        idx[:, :kk], out[:, :kk] = part, vals
        return idx, out
    groups = int(np.sqrt(n * k))
    width = n // groups
    main = groups * width
    group_max = scores[:, :main].reshape(n_rows, width, groups).max(axis=1)
    bound = np.partition(group_max, groups - k, axis=1)[:, groups - k]
    row, group = np.nonzero(group_max >= bound[:, None])
    flat = (row.astype(np.int64) * n + group)[:, None] + groups * np.arange(width)
    vals = scores.reshape(-1).take(flat)
    keep = (vals >= bound[row][:, None]) & ~np.isneginf(vals)
    cand, cand_vals = flat[keep], vals[keep]
    if main < n:  # the tail that did not fill a group: read again only where its max reaches the bound
        reach = np.flatnonzero(scores[:, main:].max(axis=1) >= bound)
        tail = scores[reach, main:]
        tail_row, tail_col = np.nonzero((tail >= bound[reach, None]) & ~np.isneginf(tail))
        cand = np.concatenate([cand, reach[tail_row].astype(np.int64) * n + main + tail_col])
        cand_vals = np.concatenate([cand_vals, tail[tail_row, tail_col]])
    rows = cand // n
    order = np.lexsort((-cand_vals, rows))
    rows, cand, cand_vals = rows[order], cand[order], cand_vals[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, np.arange(n_rows))[rows]
    top = rank < k
    idx[rows[top], rank[top]] = cand[top] - rows[top] * n
    out[rows[top], rank[top]] = cand_vals[top]
    return idx, out
