"""The ranking factorisation: LightFM with user and item side features.

    score(u, i) = b_i + (x_u E_U) · (y_i E_I)

x_u = identity + user side features (segment, platform, locale… whatever the caller supplies),
y_i = identity + item category and its parents + price band. Implicit feedback is weighted by
event type and recency. LightFM is imported inside the functions (STYLE: heavy imports stay out
of the web process).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.ml.data import Interactions, ItemCatalog
from recommender.ml.ranking_signals import decay, type_weights


@dataclass(frozen=True)
class LightfmParams:
    no_components: int = 64
    loss: str = "warp"
    learning_rate: float = 0.05
    item_alpha: float = 0.0
    user_alpha: float = 0.0
    max_sampled: int = 10
    epochs: int = 20
    weighted: bool = True  # sample weights from event type and recency, else every pair counts 1
    half_life_days: float | None = 90.0
    item_features: bool = True  # category lineage and price band, when a catalog is given
    user_features: bool = False  # the caller's user features, when given
    num_threads: int = 2
    random_state: int = 0


@dataclass
class Factorization:
    params: LightfmParams
    user_vectors: np.ndarray  # n_users × f, float32
    item_vectors_t: np.ndarray  # f × n_items, float32, C-contiguous (a faster product than V.T)
    item_bias: np.ndarray  # n_items, float32
    scale: float  # spread of scores, so that the blend's weights are comparable across refits

    def score(self, rows: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """Dense scores of users at positions `rows` (-1 = unknown user: item bias only)."""
        vt = self.item_vectors_t if columns is None else np.ascontiguousarray(self.item_vectors_t[:, columns])
        bias = self.item_bias if columns is None else self.item_bias[columns]
        u = self.user_vectors[np.maximum(rows, 0)]
        u[rows < 0] = 0.0
        out = u @ vt
        out += bias
        return out

    def restricted(self, columns: np.ndarray) -> Factorization:
        """A copy over `columns` only (used once per serving pass, not per block)."""
        return replace(
            self,
            item_vectors_t=np.ascontiguousarray(self.item_vectors_t[:, columns]),
            item_bias=self.item_bias[columns],
        )


def price_bands(price: np.ndarray, bands: int = 10) -> np.ndarray:
    """Price decile per item (-1 when the price is unknown)."""
    out = np.full(len(price), -1, dtype=np.int64)
    known = ~np.isnan(price)
    if known.sum() >= bands:
        # Equal prices collapse every band edge into one, and qcut then answers NaN: one band.
        banded = pd.qcut(price[known], bands, labels=False, duplicates="drop")
        out[known] = np.nan_to_num(np.asarray(banded, dtype=float), nan=0.0)
    return out


def item_feature_matrix(items: np.ndarray, catalog: ItemCatalog | None) -> sp.csr_matrix | None:
    """Identity + category lineage + price band, rows scaled to sum 1; None when there is nothing
    beyond the identity (then LightFM's own identity features are the same model, and faster)."""
    if catalog is None:
        return None
    aligned = catalog.aligned(items)
    rows, names = [], []
    for row, category in enumerate(aligned.category):
        for c in aligned.lineage(category):
            rows.append(row)
            names.append(f"cat:{c}")
    for row, band in enumerate(price_bands(aligned.price)):
        if band >= 0:
            rows.append(row)
            names.append(f"price:{band}")
    return _with_identity(len(items), np.array(rows, dtype=np.int64), names)


def user_feature_matrix(users: np.ndarray, features: pd.DataFrame | None) -> sp.csr_matrix | None:
    """Identity + the caller's user features (frame: customer, feature), rows scaled to sum 1."""
    if features is None or features.empty:
        return None
    rows = pd.Index(users).get_indexer(features["customer"])
    ok = rows >= 0
    return _with_identity(len(users), rows[ok], features["feature"].astype(str).to_numpy()[ok].tolist())


def _with_identity(n: int, rows: np.ndarray, names: list[str]) -> sp.csr_matrix | None:
    if not len(rows):
        return None
    codes, _ = pd.factorize(pd.Series(names))
    m = sp.hstack(
        [
            sp.identity(n, dtype=np.float32, format="csr"),
            sp.csr_matrix((np.ones(len(rows), np.float32), (rows, codes)), shape=(n, codes.max() + 1)),
        ],
        format="csr",
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    sums = np.asarray(m.sum(axis=1)).ravel()
    return (sp.diags(1.0 / sums) @ m).astype(np.float32).tocsr()


def interaction_weights(inter: Interactions, params: LightfmParams) -> tuple[sp.coo_matrix, sp.coo_matrix]:
    """Positive pairs and their sample weights: log1p(Σ type weight × recency decay), mean 1."""
    w = type_weights(inter.event_type) * decay(inter.age_days, params.half_life_days)
    m = inter.matrix(w).tocoo()
    weights = np.log1p(m.data) if params.weighted else np.ones_like(m.data)
    weights = (weights / weights.mean()).astype(np.float32)
    positives = sp.coo_matrix((np.ones_like(weights), (m.row, m.col)), shape=m.shape)
    return positives, sp.coo_matrix((weights, (m.row, m.col)), shape=m.shape)


def fit_lightfm(
    inter: Interactions,
    params: LightfmParams,
    *,
    item_features: sp.csr_matrix | None = None,
    user_features: sp.csr_matrix | None = None,
    checkpoints: list[int] | None = None,
    on_checkpoint: Callable[[int, Factorization], bool] | None = None,
) -> Factorization:
    """Trains for `params.epochs`; at each epoch in `checkpoints` hands a snapshot to
    `on_checkpoint`, which returns False to stop early (the snapshot it saw last is returned)."""
    from lightfm import LightFM

    item_features = item_features if params.item_features else None
    user_features = user_features if params.user_features else None
    model = LightFM(
        no_components=params.no_components,
        loss=params.loss,
        learning_rate=params.learning_rate,
        item_alpha=params.item_alpha,
        user_alpha=params.user_alpha,
        max_sampled=params.max_sampled,
        random_state=np.random.RandomState(params.random_state),
    )
    positives, weights = interaction_weights(inter, params)
    stops = sorted(set((checkpoints or []) + [params.epochs]))
    done, snapshot = 0, None
    for stop in stops:
        if stop > params.epochs:
            break
        model.fit_partial(
            positives,
            user_features=user_features,
            item_features=item_features,
            sample_weight=weights,
            epochs=stop - done,
            num_threads=params.num_threads,
        )
        done = stop
        snapshot = _snapshot(model, replace(params, epochs=stop), user_features, item_features)
        if on_checkpoint is not None and not on_checkpoint(stop, snapshot):
            break
    return snapshot


def _snapshot(model, params: LightfmParams, user_features, item_features) -> Factorization:
    item_bias, item_vectors = model.get_item_representations(item_features)
    _, user_vectors = model.get_user_representations(user_features)
    item_vectors = item_vectors.astype(np.float32)
    user_vectors = user_vectors.astype(np.float32)
    rng = np.random.default_rng(0)
    sample = user_vectors[rng.choice(len(user_vectors), size=min(len(user_vectors), 500), replace=False)]
    spread = float(np.std(sample @ item_vectors.T + item_bias)) if len(sample) else 1.0
    return Factorization(
        params=params,
        user_vectors=user_vectors,
        item_vectors_t=np.ascontiguousarray(item_vectors.T),
        item_bias=item_bias.astype(np.float32),
        scale=spread if spread > 0 else 1.0,
    )
