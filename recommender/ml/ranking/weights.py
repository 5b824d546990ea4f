"""Blend weights: each validation user's candidate pool (the union of every signal's top items) and a
coordinate ascent on validation ndcg@k over it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.ml.metrics import discounts, topk_rows
from recommender.ml.ranking.scoring import EXCLUDE, MODES, TIEBREAK, FittedRecommender
from recommender.ml.ranking.validation import ValidationSet

GRID = (0.0, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


@dataclass
class Pool:
    """Each validation user's candidate items (the union of every signal's top items) and their
    signal values: ranking within the pool stands in for ranking the whole catalog."""

    features: np.ndarray  # signals × users × slots (one contiguous slab per signal)
    valid: np.ndarray  # users × slots
    labels: np.ndarray  # users × slots, relevant
    n_relevant: np.ndarray

    def scores(self, w: np.ndarray) -> np.ndarray:
        return np.tensordot(w.astype(np.float32), self.features, axes=1)

    def ndcg(self, scores: np.ndarray, k: int) -> float:
        scores = np.where(self.valid, scores, -np.inf)
        kk = min(k, scores.shape[1])
        top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, 1)
        hits = np.take_along_axis(self.labels & self.valid, top, 1)
        gains = hits @ discounts(k)[:kk]
        ideal = np.concatenate([[0.0], np.cumsum(discounts(k))])[np.minimum(self.n_relevant, k)]
        return float(np.mean(np.where(ideal > 0, gains / np.where(ideal > 0, ideal, 1.0), 0.0)))


def sparse_row_topk(matrix: sp.csr_matrix, k: int) -> np.ndarray:
    """Column indices of the k largest stored entries of each row, -1 padded (no densifying)."""
    counts = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    order = np.lexsort((-matrix.data, rows))
    rank = np.arange(len(order)) - matrix.indptr[rows[order]]
    keep = rank < k
    out = np.full((matrix.shape[0], k), -1, dtype=np.int64)
    out[rows[order[keep]], rank[keep]] = matrix.indices[order[keep]]
    return out


def build_pools(fitted: FittedRecommender, val: ValidationSet, per_signal: int = 30) -> dict[str, tuple[list, Pool]]:
    """Candidate pools for both modes in one pass over the validation users.

    Candidates: each model signal's top items (dense blocks), the top items of each popularity
    vector, and — ranking everything — the user's own items by each history feature (sparse).
    In exclude-seen mode the history signals and the user's seen items drop out.
    """
    names = fitted.signals
    models = [n for n in names if n in ("knn", "ease", "lightfm")]
    history_names = [n for n in names if n in fitted.history.names]
    pops = {n: np.argsort(-fitted.popularity[n], kind="stable")[: 4 * per_signal] for n in fitted.popularity}
    per_mode = {mode: [n for n in names if not (mode == EXCLUDE and n in history_names)] for mode in MODES}
    rows_per_block = max(1, fitted.block_elements // max(fitted.n_items, 1))
    n_items = fitted.n_items
    parts: dict[str, list] = {mode: [] for mode in MODES}
    for start in range(0, len(val.users), rows_per_block):
        rows = val.users[start : start + rows_per_block]
        local = np.arange(len(rows))
        blocks = {name: fitted.signal_block(name, rows) for name in models}
        pattern = fitted.history.pattern[rows]
        pattern.sort_indices()
        keys = np.repeat(local, np.diff(pattern.indptr)).astype(np.int64) * n_items + pattern.indices
        relevant = val.relevant[start : start + len(rows)]
        for mode, mode_names in per_mode.items():
            exclude = mode == EXCLUDE
            # Popularity is the same list for everyone; in exclude mode seen items are dropped below.
            picks = [
                np.broadcast_to(t, (len(rows), len(t)))
                for t in (p if exclude else p[:per_signal] for p in pops.values())
            ]
            for name in models:
                b = blocks[name]
                if exclude:
                    b = b.copy()
                    b[np.repeat(local, np.diff(pattern.indptr)), pattern.indices] = -np.inf
                picks.append(topk_rows(b, per_signal)[0])
            if not exclude:
                picks += [sparse_row_topk(fitted.history.feature(n)[rows], per_signal) for n in history_names]
            idx = np.sort(np.concatenate(picks, axis=1), axis=1)
            idx[:, 1:][idx[:, 1:] == idx[:, :-1]] = -1
            # Which candidates the user has touched, and where their history features sit.
            query = local[:, None] * n_items + np.maximum(idx, 0)
            pos = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
            touched = (keys[pos] == query) if len(keys) else np.zeros(idx.shape, dtype=bool)
            if exclude:
                idx[touched] = -1
            ok = idx >= 0
            safe = np.where(ok, idx, 0)
            pair = pattern.data[pos].astype(np.int64) - 1 if len(keys) else np.zeros(idx.shape, dtype=np.int64)
            feats = []
            for name in mode_names:
                if name in blocks:
                    feats.append(np.take_along_axis(blocks[name], safe, 1))
                elif name in fitted.popularity:
                    feats.append(fitted.popularity[name][safe])
                else:
                    column = fitted.history.values[:, fitted.history.names.index(name)]
                    feats.append(np.where(touched, column[pair], 0.0))
            labels = np.asarray(relevant[local[:, None], safe].todense()) > 0
            parts[mode].append((np.stack(feats, axis=0).astype(np.float32), ok, labels))
    pools = {}
    for mode, chunks in parts.items():
        width = max(ok.shape[1] for _, ok, _ in chunks)

        def pad(a, value, width=width):
            return np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, width - a.shape[-1])], constant_values=value)

        pools[mode] = (
            per_mode[mode],
            Pool(
                features=np.concatenate([pad(f, 0.0) for f, _, _ in chunks], axis=1),
                valid=np.concatenate([pad(ok, False) for _, ok, _ in chunks]),
                labels=np.concatenate([pad(lab, False) for _, _, lab in chunks]),
                n_relevant=val.n_relevant,
            ),
        )
    return pools


def coordinate_ascent(pool: Pool, names: list[str], k: int, rounds: int = 3) -> tuple[dict[str, float], float]:
    """Greedy search, one weight at a time — a log grid first, then finer steps — starting from
    the best single signal. It maximises validation ndcg@k itself, which a pointwise loss would not.
    Changing one weight moves the scores along one signal's slab: one axpy per trial."""
    n = len(names)
    tiebreak = np.zeros(n, dtype=np.float32)
    if "pop_recent" in names:
        tiebreak[names.index("pop_recent")] = TIEBREAK
    singles = []
    for j in range(n):
        w = tiebreak.copy()
        w[j] = 1.0
        singles.append(pool.ndcg(pool.scores(w), k))
    w = np.zeros(n, dtype=np.float32)
    w[int(np.argmax(singles))] = 1.0
    current = pool.scores(w)
    best = pool.ndcg(current, k)
    for round_ in range(rounds):
        changed = False
        for j in range(n):
            steps = GRID if round_ == 0 else (0.0, w[j] * 0.5, w[j] * 0.7, w[j] * 1.4, w[j] * 2.0, 0.01, 0.1)
            for value in steps:
                if value == w[j] or (value == 0 and np.count_nonzero(w) == 1 and w[j] != 0):
                    continue
                trial = current + (value - w[j]) * pool.features[j]
                score = pool.ndcg(trial, k)
                if score > best + max(1e-5, 5e-4 * best):  # a gain worth a more complex blend
                    best, current, changed = score, trial, True
                    w[j] = value
        if not changed:
            break
    return {name: round(float(v), 6) for name, v in zip(names, w, strict=True) if v}, best


def learn_blend(fitted: FittedRecommender, val: ValidationSet) -> dict[str, dict[str, float]]:
    return {mode: coordinate_ascent(pool, names, val.k)[0] for mode, (names, pool) in build_pools(fitted, val).items()}
