"""What a fitted recommender serves: ``FittedRecommender`` holds every fitted signal and the blend weights,
and scores users in blocks:

    score(u, i) = Σ_s w_s · signal_s(u, i)

Scoring is matrix work in blocks of users (memory bounded by `block_elements`), each block cut to its top k
by `topk_rows`; there is no per-user loop (how one block is filled: ``blocks.py``). A large pass runs one
block per CPU at a time, in threads: past the product every step is compiled code that releases the GIL.
The baselines the offline evaluation reports are the same machinery with a single signal's weight set.
"""

from __future__ import annotations

import os
import queue
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommender.ml.ease import Ease
from recommender.ml.factorization import Factorization
from recommender.ml.itemknn import ItemCorrelation
from recommender.ml.metrics import topk_rows
from recommender.ml.ranking.blocks import add_sparse, fill_dense, row_max, scaled_by_row_max, scoring_plan
from recommender.ml.ranking_signals import UserItemHistory

INCLUDE, EXCLUDE = "include_seen", "exclude_seen"
MODES = (INCLUDE, EXCLUDE)
TIEBREAK = 1e-4  # popularity weight that only orders items a signal leaves tied (or cold users)
PARALLEL_ELEMENTS = 4_000_000  # users × items of a scoring pass worth spreading over threads

# Every model the offline evaluation reports, as blend weights (optimus: learned per mode).
BASELINES = {
    "popularity": {"pop_all": 1.0},
    "recent_popularity": {"pop_recent": 1.0},
    "history": {"hist_count": 1.0, "pop_recent": TIEBREAK},
    "item_knn": {"knn": 1.0, "pop_recent": TIEBREAK},
    "ease": {"ease": 1.0, "pop_recent": TIEBREAK},
    "lightfm": {"lightfm": 1.0},
}


@dataclass
class FittedRecommender:
    """Every fitted signal, the blend weights, and what validation chose and measured."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    now_ms: int
    available: np.ndarray  # bool per item (catalog availability at fit time; all True without one)
    seen: sp.csr_matrix  # users × items, 1 = the user has an event on the item
    history: UserItemHistory
    profile: sp.csr_matrix  # users × items, what item-to-item signals start from
    popularity: dict[str, np.ndarray]
    knn: ItemCorrelation | None = None
    ease: Ease | None = None
    lightfm: Factorization | None = None
    weights: dict[str, dict[str, float]] = field(default_factory=dict)  # mode -> signal -> weight
    params: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    block_elements: int = 8_000_000
    scoring_threads: int = 0  # threads of a large scoring pass; 0 = one per usable CPU

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def signals(self) -> list[str]:
        names = list(self.history.names) + list(self.popularity)
        names += [n for n, m in (("knn", self.knn), ("ease", self.ease), ("lightfm", self.lightfm)) if m is not None]
        return names

    def model_weights(self, model: str, exclude_seen: bool) -> dict[str, float]:
        if model == "optimus":
            return self.weights.get(EXCLUDE if exclude_seen else INCLUDE) or BASELINES["history"]
        if model not in BASELINES:
            raise KeyError(f"unknown model {model!r}")
        return BASELINES[model]

    def models(self) -> list[str]:
        """The models this fit can serve (a baseline needs its signal)."""
        present = set(self.signals)
        return [m for m, w in BASELINES.items() if max(w, key=w.get) in present] + ["optimus"]

    def without_users(self, ids) -> FittedRecommender:
        """The same fit without these customers' rows (their history, profile and LightFM vector):
        what erasure leaves in a saved model. Item-side parts are population statistics and stay."""
        keep = ~np.isin(self.user_ids, np.asarray(ids))
        if keep.all():
            return self
        lightfm = None if self.lightfm is None else replace(self.lightfm, user_vectors=self.lightfm.user_vectors[keep])
        return replace(
            self,
            user_ids=self.user_ids[keep],
            seen=self.seen[keep].tocsr(),
            history=self.history.rows(keep),
            profile=self.profile[keep].tocsr(),
            lightfm=lightfm,
        )

    def user_positions(self, ids) -> np.ndarray:
        """Positions of customer ids; -1 for customers unknown to the fit (cold: popularity only)."""
        return pd.Index(self.user_ids).get_indexer(pd.Index(np.asarray(ids)))

    # Scoring ------------------------------------------------------------------------------------

    def recommend(
        self,
        users: np.ndarray,
        k: int = 10,
        *,
        exclude_seen: bool = False,
        available: np.ndarray | None = None,
        model: str = "optimus",
        weights: dict[str, float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item positions (into `item_ids`, -1 pads) and scores for user positions `users`.

        `available` (bool per item) narrows the fit's own availability; an unavailable item is
        never returned. Computed in blocks; memory is bounded by `block_elements`.
        """
        users = np.asarray(users, dtype=np.int64)
        top = np.full((len(users), k), -1, dtype=np.int64)
        scores = np.full((len(users), k), -np.inf, dtype=np.float32)
        for start, idx, val in self.iter_recommend(
            users, k, exclude_seen=exclude_seen, available=available, model=model, weights=weights
        ):
            top[start : start + len(idx)] = idx
            scores[start : start + len(idx)] = val
        return top, scores

    def iter_recommend(
        self,
        users: np.ndarray,
        k: int = 10,
        *,
        exclude_seen: bool = False,
        available: np.ndarray | None = None,
        model: str = "optimus",
        weights: dict[str, float] | None = None,
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Yields (offset into `users`, top-k item positions, scores) block by block, in order. A large
        pass is scored by one thread per CPU (`scoring_threads`); BLAS is held to one thread meanwhile."""
        weights = weights if weights is not None else self.model_weights(model, exclude_seen)
        plan = scoring_plan(self, weights, available)
        n_columns = len(plan.columns)
        threads = self._threads(len(users), n_columns)
        # With several threads each has its own block: together they stay within `block_elements`.
        rows_per_block = max(1, self.rows_per_block(n_columns) // threads)
        starts = range(0, len(users), rows_per_block)

        def score(start: int, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            rows = users[start : start + rows_per_block]
            block = block[: len(rows)]
            fill_dense(self, rows, plan, block)
            add_sparse(self, rows, plan, exclude_seen, block)
            idx, val = topk_rows(block, k)
            ok = idx >= 0
            idx[ok] = plan.columns[idx[ok]]
            return idx, val

        if threads == 1:
            buffer = np.empty((min(rows_per_block, len(users)), n_columns), dtype=np.float32)
            for start in starts:
                yield start, *score(start, buffer)
            return

        # One block per thread, start to finish. Each product runs on one core (BLAS limited to a
        # thread for the pass): BLAS threads left spinning between products would otherwise take
        # the cores the sparse kernels and the top-k (compiled, GIL released) need.
        buffers: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(threads):
            buffers.put(np.empty((rows_per_block, n_columns), dtype=np.float32))

        def task(start: int) -> tuple[np.ndarray, np.ndarray]:
            buffer = buffers.get()
            try:
                return score(start, buffer)
            finally:
                buffers.put(buffer)

        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(threads) as pool:
            pending: deque = deque()
            for start in starts:
                pending.append((start, pool.submit(task, start)))
                if len(pending) > 2 * threads:  # a bounded read-ahead, results in order
                    done, future = pending.popleft()
                    yield done, *future.result()
            while pending:
                done, future = pending.popleft()
                yield done, *future.result()

    def rows_per_block(self, n_columns: int) -> int:
        """Users scored together: a block of rows × columns floats stays within `block_elements`."""
        # At least 64 rows: each block streams every item's factors once, so very short blocks on a
        # large catalog are bound by memory traffic, not arithmetic.
        return min(4096, max(64, self.block_elements // max(n_columns, 1)))

    def _threads(self, n_users: int, n_columns: int) -> int:
        """Threads for a scoring pass: one per usable CPU (or `scoring_threads`), none for small passes."""
        if n_users * n_columns < PARALLEL_ELEMENTS:
            return 1
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        wanted = self.scoring_threads or usable
        return max(1, min(wanted, n_users // 32))

    def similar_items(
        self, items: np.ndarray, k: int = 10, available: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """'Because you viewed X': the k most correlated available items for item positions `items`."""
        if self.knn is None:
            empty = np.full((len(items), k), -1, dtype=np.int64)
            return empty, np.full((len(items), k), -np.inf, dtype=np.float32)
        mask = self.available if available is None else self.available & available
        return self.knn.similar_items(np.asarray(items), k, mask)

    def recommend_from_items(
        self, baskets: list, k: int = 10, available: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """For people the fit does not know yet (new customers, anonymous sessions): each basket is
        a list of item positions they just engaged with, most recent last. Scores are the items'
        correlations (later items count more), then trend; the basket's own items are left out."""
        rows, cols, vals = [], [], []
        for r, basket in enumerate(baskets):
            basket = [i for i in basket if 0 <= i < self.n_items]
            weights = np.exp2(np.arange(len(basket)) - len(basket) + 1.0)  # halves per step back
            rows += [r] * len(basket)
            cols += basket
            vals += list(weights / max(weights.sum(), 1e-12))
        profile = sp.csr_matrix((vals, (rows, cols)), shape=(len(baskets), self.n_items), dtype=np.float32)
        profile.sum_duplicates()
        mask = self.available if available is None else self.available & available
        columns = np.flatnonzero(mask)
        block = np.empty((len(baskets), len(columns)), dtype=np.float32)
        block[:] = TIEBREAK * self.popularity["pop_recent"][columns]
        if self.knn is not None:
            part = (profile @ self.knn.similarity[:, columns]).tocsr()
            counts = np.diff(part.indptr)
            r = np.repeat(np.arange(len(baskets)), counts)
            block[r, part.indices] += part.data / row_max(part.data, part.indptr, counts)[r]
        where = np.full(self.n_items, -1)
        where[columns] = np.arange(len(columns))
        own = where[profile.indices] >= 0
        block[np.repeat(np.arange(len(baskets)), np.diff(profile.indptr))[own], where[profile.indices][own]] = -np.inf
        idx, val = topk_rows(block, k)
        idx[idx >= 0] = columns[idx[idx >= 0]]
        return idx, val

    def explain(self, user: int, items: np.ndarray, exclude_seen: bool = False) -> dict[str, np.ndarray]:
        """Each signal's weighted contribution to the score of `items` for one user position."""
        items = np.asarray(items)
        weights = self.model_weights("optimus", exclude_seen)
        rows = np.array([user])
        return {
            name: w * self.signal_block(name, rows)[0, items]
            for name, w in weights.items()
            if w and name in self.signals
        }

    def signal_block(self, name: str, rows: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """One signal, dense, for user positions `rows` (-1 = cold user)."""
        n_cols = self.n_items if columns is None else len(columns)
        warm = rows >= 0
        out = np.zeros((len(rows), n_cols), dtype=np.float32)
        if name in self.popularity:
            out += self.popularity[name] if columns is None else self.popularity[name][columns]
        elif name == "lightfm":
            out[:] = self.lightfm.score(rows, columns) / self.lightfm.scale
        elif name in ("knn", "ease") and warm.any():
            part = (
                self.knn.score(self.profile[rows[warm]], columns)
                if name == "knn"
                else self.ease.score(self.seen[rows[warm]], columns)
            )
            out[warm] = scaled_by_row_max(part)
        elif name in self.history.names and warm.any():
            matrix = self.history.feature(name)
            if columns is not None:
                matrix = matrix[:, columns]
            out[warm] = matrix[rows[warm]].toarray()
        return out
