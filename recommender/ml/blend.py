"""What Optimus serves: one ranking that combines every signal, tuned on a validation split.

    score(u, i) = Σ_s w_s · signal_s(u, i)

Signals: the person's own history (counts per event type, recency, open carts, how often the item
is re-bought), item-item correlation and EASE over the person's profile, the LightFM score,
and popularity / trend. `fit_recommender` carves a validation split from the end of the training
period (the same protocol as the offline evaluation), picks every component's hyper-parameters
and the blend weights there — one set of weights for ranking everything, one for new items only —
then refits every component on the whole period. Nothing is chosen on the data it is scored on.

Scoring is matrix work in blocks of users (memory bounded by `block_elements`), each block cut
to its top k by `topk_rows`; there is no per-user loop. A large pass runs one block per CPU at a
time, in threads: past the product every step is compiled code that releases the GIL. The
baselines the offline evaluation reports are the same machinery with a single signal's weight set.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse import _sparsetools  # scipy's CSR kernels: products and scatters into a given dense block
from threadpoolctl import threadpool_limits

from recommender.ml.data import DAY_MS, Interactions, ItemCatalog, time_split
from recommender.ml.ease import Ease, EaseParams, covered_items, fit_ease, gram
from recommender.ml.factorization import (
    Factorization,
    LightfmParams,
    fit_lightfm,
    item_feature_matrix,
    user_feature_matrix,
)
from recommender.ml.itemknn import ItemCorrelation, KnnParams, fit_item_correlation
from recommender.ml.metrics import discounts, hits_matrix, metrics_from_hits, topk_rows
from recommender.ml.signals import History, history_features, popularity, user_profile

log = logging.getLogger(__name__)
UserFeatures = pd.DataFrame | Callable[[pd.DataFrame], pd.DataFrame] | None

INCLUDE, EXCLUDE = "include_seen", "exclude_seen"
MODES = (INCLUDE, EXCLUDE)
POPULARITY = {"pop_all": None, "pop_month": 30.0, "pop_recent": 7.0}  # name -> half-life (days)
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
    history: History
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
        plan = self._plan(weights, available)
        n_columns = len(plan.columns)
        threads = self._threads(len(users), n_columns)
        # With several threads each has its own block: together they stay within `block_elements`.
        rows_per_block = max(1, self.rows_per_block(n_columns) // threads)
        starts = range(0, len(users), rows_per_block)

        def score(start: int, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            rows = users[start : start + rows_per_block]
            block = block[: len(rows)]
            self._fill_dense(rows, plan, block)
            self._add_sparse(rows, plan, exclude_seen, block)
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
            block[r, part.indices] += part.data / _row_max(part.data, part.indptr, counts)[r]
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
            out[warm] = _scaled_by_row_max(part)
        elif name in self.history.names and warm.any():
            matrix = self.history.feature(name)
            if columns is not None:
                matrix = matrix[:, columns]
            out[warm] = matrix[rows[warm]].toarray()
        return out

    @dataclass
    class _Plan:
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

    def _plan(self, weights: dict[str, float], available: np.ndarray | None) -> _Plan:
        """Everything that does not depend on the users, computed once per serving pass."""
        mask = self.available if available is None else (self.available & np.asarray(available, dtype=bool))
        columns = np.flatnonzero(mask)
        everything = len(columns) == self.n_items
        item_part = np.zeros(len(columns), dtype=np.float32)
        for name, vector in self.popularity.items():
            if weights.get(name):
                item_part += weights[name] * vector[columns]
        factors_t, user_scale = None, 0.0
        if weights.get("lightfm") and self.lightfm is not None:
            lightfm = self.lightfm if everything else self.lightfm.restricted(columns)
            user_scale = weights["lightfm"] / lightfm.scale
            item_part += user_scale * lightfm.item_bias
            # The constant last factor adds item_part inside the product: one pass over the block.
            factors_t = np.ascontiguousarray(np.vstack([lightfm.item_vectors_t, item_part[None, :]]))
        similarity = similarity_row_nnz = None
        if weights.get("knn") and self.knn is not None:
            similarity = self.knn.similarity if everything else self.knn.similarity[:, columns].tocsr()
            similarity = similarity.astype(np.float32, copy=False)
            similarity_row_nnz = np.diff(similarity.indptr)
        ease_seen = ease_weights = ease_columns = None
        if weights.get("ease") and self.ease is not None:
            where = np.full(self.n_items, -1)
            where[columns] = np.arange(len(columns))
            keep = where[self.ease.items] >= 0
            ease_seen = self.seen[:, self.ease.items].tocsr()
            ease_seen.sort_indices()  # each user's rows of the weights are summed in item order
            ease_weights = self.ease.weights if keep.all() else self.ease.weights[:, keep]  # no copy of 64 MB
            ease_weights = np.ascontiguousarray(ease_weights, dtype=np.float32)
            ease_columns = where[self.ease.items][keep]
            if len(ease_columns) and np.array_equal(ease_columns, np.arange(ease_columns[0], ease_columns[-1] + 1)):
                ease_columns = slice(int(ease_columns[0]), int(ease_columns[-1]) + 1)
        history = None
        if any(weights.get(n) for n in self.history.names):
            history = self.history.combined(weights)
            history = history if everything else history[:, columns].tocsr()
            history.eliminate_zeros()
            history = history.astype(np.float32, copy=False)
        return self._Plan(
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
            seen=self.seen if everything else self.seen[:, columns].tocsr(),
        )

    def _fill_dense(self, rows: np.ndarray, plan: _Plan, block: np.ndarray) -> None:
        """The LightFM product with the item-level signals folded in, or the item-level fill."""
        warm = rows >= 0
        if plan.factors_t is not None:
            f = plan.factors_t.shape[0] - 1
            u = np.empty((len(rows), f + 1), dtype=np.float32)
            u[:, :f] = self.lightfm.user_vectors[np.maximum(rows, 0)]
            u[:, :f] *= plan.user_scale
            u[~warm, :f] = 0.0
            u[:, f] = 1.0
            np.matmul(u, plan.factors_t, out=block)
        else:
            block[:] = plan.item_part

    def _add_sparse(self, rows: np.ndarray, plan: _Plan, exclude_seen: bool, block: np.ndarray) -> None:
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
            indptr, indices, data = _csr_rows(self.profile, rows, warm)
            data = data.astype(np.float32, copy=False)
            itype = np.result_type(indptr, indices, sim.indptr, sim.indices)
            upper = int(plan.similarity_row_nnz[indices].sum())
            cp = np.empty(n_rows + 1, dtype=itype)
            cj = np.empty(upper, dtype=itype)
            cx = np.empty(upper, dtype=np.float32)
            _sparsetools.csr_matmat(
                n_rows, n_cols, indptr, indices, data, sim.indptr, sim.indices, sim.data, cp, cj, cx
            )
            cx = cx[: cp[-1]]
            factor = w["knn"] / _row_max(cx, cp, np.diff(cp))
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


def _row_max(data: np.ndarray, indptr: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Largest stored value per CSR row, 1 where a row is empty or has nothing positive."""
    top = np.zeros(len(counts), dtype=np.float32)
    filled = counts > 0
    if filled.any():
        top[filled] = np.maximum.reduceat(data, indptr[:-1][filled])
    return np.where(top > 0, top, 1.0).astype(np.float32)


def _scaled_by_row_max(block: np.ndarray) -> np.ndarray:
    """Each user's scores divided by their largest one: puts light and heavy users on one scale."""
    top = block.max(axis=1, keepdims=True) if block.shape[1] else np.zeros((len(block), 1), np.float32)
    block /= np.where(top > 0, top, 1.0)
    return block


# Fitting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitOptions:
    k: int = 10
    validation_days: float | None = None  # default: 15% of the period, between 1 and 28 days
    max_validation_users: int = 3000
    tune: bool = True
    lightfm: bool = True
    ease: bool = True
    ease_max_items: int = 4000
    knn: bool = True
    lightfm_params: LightfmParams = LightfmParams()
    max_epochs: int = 40
    block_elements: int = 8_000_000
    seed: int = 0


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


@dataclass(frozen=True)
class Choices:
    knn: KnnParams
    ease: EaseParams
    lightfm: LightfmParams

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return {"item_knn": asdict(self.knn), "ease": asdict(self.ease), "lightfm": asdict(self.lightfm)}


def default_weights(fitted: FittedRecommender) -> dict[str, dict[str, float]]:
    """Used only when there is too little data to validate anything."""
    present = set(fitted.signals)
    include = {"hist_count": 1.0, "hist_recent": 0.3, "pop_recent": 0.3, "knn": 0.1, "ease": 0.1, "lightfm": 0.03}
    exclude = {"knn": 1.0, "ease": 1.0, "pop_recent": 0.3, "lightfm": 0.1}
    return {
        INCLUDE: {n: w for n, w in include.items() if n in present},
        EXCLUDE: {n: w for n, w in exclude.items() if n in present},
    }


def fit_signals(
    inter: Interactions,
    params: Choices,
    catalog: ItemCatalog | None,
    user_features: pd.DataFrame | None,
    options: FitOptions,
    timings: dict,
    prefix: str = "",
) -> FittedRecommender:
    """Fits every component with fixed parameters."""

    def timed(name, fn):
        t = time.perf_counter()
        result = fn()
        timings[f"{prefix}{name}_s"] = timings.get(f"{prefix}{name}_s", 0.0) + time.perf_counter() - t
        return result

    available = np.ones(inter.n_items, dtype=bool) if catalog is None else catalog.aligned(inter.item_ids).available
    seen = inter.seen()
    history = timed("history", lambda: history_features(inter))
    pops = timed("popularity", lambda: {name: popularity(inter, hl) for name, hl in POPULARITY.items()})
    fitted = FittedRecommender(
        user_ids=inter.user_ids,
        item_ids=inter.item_ids,
        now_ms=inter.now_ms,
        available=available,
        seen=seen,
        history=history,
        profile=user_profile(inter, params.knn.profile_half_life_days),
        popularity=pops,
        block_elements=options.block_elements,
    )
    if options.knn:
        fitted.knn = timed("item_knn", lambda: fit_item_correlation(inter, params.knn, available))
    if options.ease and inter.n_items > 1:
        fitted.ease = timed("ease", lambda: fit_ease(inter, params.ease, seen))
    if options.lightfm:
        fitted.lightfm = timed(
            "lightfm",
            lambda: fit_lightfm(
                inter,
                params.lightfm,
                item_features=item_feature_matrix(inter.item_ids, catalog),
                user_features=user_feature_matrix(inter.user_ids, user_features),
            ),
        )
    return fitted


# Validation ----------------------------------------------------------------------------------


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


def tune_on_validation(
    events: pd.DataFrame,
    now_ms: int,
    catalog: ItemCatalog | None,
    user_features: UserFeatures,
    options: FitOptions,
    say: Callable[[str], None],
):
    """Chooses hyper-parameters and blend weights on the last `validation_days` of the period."""
    days = validation_days(events, now_ms, options.validation_days)
    split = time_split(events, days) if len(events) else None
    if split is None or len(split.test_users) < 20 or split.train["item"].nunique() < 2:
        say(f"validation: too little data in the last {days:g} days, using default parameters")
        return None
    inter = Interactions.build(split.train, split.cutoff_ms)
    rng = np.random.default_rng(options.seed)
    users = split.test_users
    # Each validation pass scores users × items densely: fewer users on very large catalogs.
    cap = min(options.max_validation_users, max(1000, int(3e8 // max(inter.n_items, 1))))
    if len(users) > cap:
        users = np.sort(rng.choice(users, cap, replace=False))
        split = replace(split, test=split.test[split.test["customer"].isin(users)], test_users=users)
    relevant, n_relevant = split.relevance(inter.item_ids)
    val = ValidationSet(users=inter.user_positions(users), relevant=relevant, n_relevant=n_relevant, k=options.k)
    say(f"validation: last {days:g} days, {len(users)} users, {inter.n_items} items, {len(inter.u)} events")

    timings: dict[str, float] = {}
    base = fit_signals(
        inter,
        Choices(KnnParams(), EaseParams(), options.lightfm_params),
        catalog,
        None,
        replace(options, knn=False, ease=False, lightfm=False),
        timings,
        prefix="tune_",
    )
    results: dict[str, dict] = {}
    knn_params = ease_params = None
    knn = ease = factor = None
    if options.knn:
        t = time.perf_counter()
        knn, knn_params = _tune_knn(inter, base, val)
        timings["tune_item_knn_s"] = time.perf_counter() - t
        say(f"validation: item_knn {knn_params}")
    if options.ease and inter.n_items > 1:
        t = time.perf_counter()
        ease, ease_params = _tune_ease(inter, base, val, options)
        timings["tune_ease_s"] = time.perf_counter() - t
        say(f"validation: ease {ease_params}")
    lightfm_params = options.lightfm_params
    if options.lightfm:
        t = time.perf_counter()
        features = user_features(split.train) if callable(user_features) else user_features
        factor, lightfm_params = _tune_lightfm(inter, base, val, catalog, features, options, say)
        timings["tune_lightfm_s"] = time.perf_counter() - t
    base.knn, base.ease, base.lightfm = knn, ease, factor
    for model in base.models():
        if model != "optimus":
            results[model] = val.ndcg(base, BASELINES[model])

    t = time.perf_counter()
    weights = learn_blend(base, val)
    timings["tune_blend_s"] = time.perf_counter() - t
    base.weights = weights
    results["optimus"] = {mode: val.ndcg(base, weights[mode], (mode,))[mode] for mode in MODES}
    for model, r in results.items():
        say(f"validation ndcg@{options.k}: {model:18s} {r[INCLUDE]:.4f} (all) {r[EXCLUDE]:.4f} (new items)")
    params = Choices(
        knn=knn_params or KnnParams(),
        ease=ease_params or EaseParams(max_items=options.ease_max_items),
        lightfm=lightfm_params,
    )
    validation = {
        "days": days,
        "users": int(len(users)),
        f"ndcg@{options.k}": {m: {mode: round(v, 4) for mode, v in r.items()} for m, r in results.items()},
    }
    return params, weights, validation, timings


def _tune_knn(inter, base, val) -> tuple[ItemCorrelation, KnnParams]:
    """The similarity first (with the default profile), then how recent a profile it reads."""
    best = None
    for params in (KnnParams(), KnnParams(half_life_days=60.0), KnnParams(alpha=0.7)):
        base.knn = fit_item_correlation(inter, params, base.available)
        score = val.ndcg(base, BASELINES["item_knn"], (EXCLUDE,))[EXCLUDE]
        if best is None or score > best[0]:
            best = (score, base.knn, params)
    for days in (7.0, 60.0):
        params = replace(best[2], profile_half_life_days=days)
        base.knn, base.profile = best[1], user_profile(inter, days)
        score = val.ndcg(base, BASELINES["item_knn"], (EXCLUDE,))[EXCLUDE]
        if score > best[0]:
            best = (score, best[1], params)
    best[1].params = best[2]
    base.profile = user_profile(inter, best[2].profile_half_life_days)
    return best[1], best[2]


def _tune_ease(inter, base, val, options) -> tuple[Ease, EaseParams]:
    g = None
    best = None
    for l2 in (1.0, 4.0, 16.0):
        params = EaseParams(l2=l2, max_items=options.ease_max_items)
        if g is None:  # one Gram matrix serves every λ
            g = gram(base.seen, covered_items(base.seen, params.max_items))
        base.ease = fit_ease(inter, params, base.seen, g)
        score = val.ndcg(base, BASELINES["ease"], (EXCLUDE,))[EXCLUDE]
        if best is None or score > best[0]:
            best = (score, base.ease, params)
    return best[1], best[2]


def _tune_lightfm(inter, base, val, catalog, user_features, options, say) -> tuple[Factorization, LightfmParams]:
    """Candidates in order of how often they win: type- and recency-weighted feedback with the item
    features, unweighted, then with the user features, then without the item features. Each trains
    with checkpoints and stops when two checkpoints bring nothing, or as soon as it trails what an
    earlier candidate scored at the same epoch by more than 3% (most losers are clear by epoch 10)."""
    item_features = item_feature_matrix(inter.item_ids, catalog)
    user_feats = user_feature_matrix(inter.user_ids, user_features)
    start = replace(
        options.lightfm_params, epochs=options.max_epochs, item_features=item_features is not None, user_features=False
    )
    candidates = [start, replace(start, weighted=not start.weighted)]
    if user_feats is not None:
        candidates.append("best+user_features")
    if item_features is not None:
        candidates.append("best-item_features")
    checkpoints = [5, 10, 15, 20, 30, 40, 50, 60, 80, 100]
    best: list = [None]
    leader_at: dict[int, float] = {}  # best score any earlier candidate had at each epoch

    for params in candidates:
        if params == "best+user_features":
            params = replace(best[0][2], epochs=options.max_epochs, user_features=True)
        elif params == "best-item_features":
            params = replace(best[0][2], epochs=options.max_epochs, item_features=False)
        history: list[tuple[float, int]] = []

        def keep_going(epoch: int, snapshot: Factorization, params=params, history=history) -> bool:
            base.lightfm = snapshot
            score = val.ndcg(base, BASELINES["lightfm"], (EXCLUDE,))[EXCLUDE]
            history.append((score, epoch))
            if best[0] is None or score > best[0][0]:
                best[0] = (score, snapshot, replace(params, epochs=epoch))
            behind = epoch >= 10 and score < 0.97 * leader_at.get(epoch, 0.0)
            stalled = len(history) >= 3 and max(history[-2:])[0] <= max(history[:-2])[0]
            return not (behind or stalled)

        fit_lightfm(
            inter,
            params,
            item_features=item_features,
            user_features=user_feats,
            checkpoints=checkpoints,
            on_checkpoint=keep_going,
        )
        for score, epoch in history:
            leader_at[epoch] = max(leader_at.get(epoch, 0.0), score)
        say(
            f"validation: lightfm weighted={params.weighted} item_features={params.item_features} "
            f"user_features={params.user_features}: ndcg {max(history)[0]:.4f} (new items) at {max(history)[1]} epochs"
        )
    return best[0][1], best[0][2]


# Blend weights ---------------------------------------------------------------------------------


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
