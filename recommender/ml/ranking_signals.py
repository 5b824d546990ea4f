"""Ranking signals that need no model: the person's own history with each item, and item popularity / trend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.ml.data import BUY, CART, VIEW, Interactions

# Weight of one event by type, wherever types are mixed into one number (profiles, LightFM weights).
TYPE_WEIGHTS = {VIEW: 1.0, CART: 3.0, BUY: 5.0}


def type_weights(event_types: np.ndarray, weights: dict | None = None) -> np.ndarray:
    weights = weights or TYPE_WEIGHTS
    table = np.array([weights[VIEW], weights[CART], weights[BUY]], dtype=np.float32)
    return table[event_types]


def decay(age_days: np.ndarray, half_life_days: float | None) -> np.ndarray:
    if not half_life_days:
        return np.ones(len(age_days), dtype=np.float32)
    return np.exp2(-age_days / half_life_days).astype(np.float32)


@dataclass
class UserItemHistory:
    """Per (user, item) features of the user's own events, on one shared sparsity pattern.

    `pattern` is a users × items CSR whose data are 1 + positions into `values` (n_pairs × n_features),
    so any weighted sum of features is one matrix-vector product and one CSR copy.
    """

    names: list[str]
    pattern: sp.csr_matrix
    values: np.ndarray

    def rows(self, keep: np.ndarray) -> UserItemHistory:
        """Only the users where ``keep`` is true, with the values of the others dropped too (erasure)."""
        pattern = self.pattern[keep].tocsr()
        values = self.values[pattern.data.astype(np.int64) - 1]
        pattern.data = np.arange(1, len(values) + 1, dtype=pattern.dtype)
        return UserItemHistory(names=self.names, pattern=pattern, values=values)

    def combined(self, weights: dict[str, float]) -> sp.csr_matrix:
        w = np.array([weights.get(n, 0.0) for n in self.names], dtype=np.float32)
        out = self.pattern.copy()
        out.data = (self.values @ w)[self.pattern.data.astype(np.int64) - 1] if len(self.names) else out.data * 0
        return out

    def feature(self, name: str) -> sp.csr_matrix:
        cache = self.__dict__.setdefault("_features", {})
        if name not in cache:
            cache[name] = self.combined({name: 1.0})
        return cache[name]


def user_item_history(inter: Interactions) -> UserItemHistory:
    """Features of each (user, item) pair the user touched, all in [0, ~10]:

    hist_count                           log1p(number of events, any type)
    hist_views / hist_carts / hist_buys  log1p(event count of that type)
    hist_recent, hist_recent_long        2^(-days since the last event / 7), / 60
    hist_decayed                         log1p(type-weighted count with a 30-day half-life)
    hist_open_cart                       an add-to-cart not followed by a purchase, 2^(-age / 14)
    hist_repeat                          how often the item's users come back to it (another day)
    hist_user_repeat                     how often this user comes back to their own items
    Features that are zero everywhere or repeat another (purchase-only data) are left out.
    """
    frame = pd.DataFrame(
        {
            "u": inter.u,
            "i": inter.i,
            "event_type": inter.event_type,
            "age": inter.age_days,
            "w": type_weights(inter.event_type) * decay(inter.age_days, 30),
        }
    )
    frame["pair"] = frame["u"].astype(np.int64) * inter.n_items + frame["i"]
    grouped = frame.groupby("pair", sort=True)
    pairs = grouped.size().index.to_numpy()
    counts = {
        code: frame[frame["event_type"] == code].groupby("pair").size().reindex(pairs, fill_value=0).to_numpy()
        for code in (VIEW, CART, BUY)
    }
    last_age = grouped["age"].min().to_numpy()
    last_cart = frame[frame["event_type"] == CART].groupby("pair")["age"].min().reindex(pairs).to_numpy()
    last_buy = frame[frame["event_type"] == BUY].groupby("pair")["age"].min().reindex(pairs).to_numpy()
    # Open cart: carted, and no purchase of that item since (ages: smaller = later).
    open_cart = ~np.isnan(last_cart) & (np.isnan(last_buy) | (last_buy > last_cart))
    pu, pi = pairs // inter.n_items, pairs % inter.n_items

    day = np.floor(frame["age"].to_numpy()).astype(np.int64)
    days_per_pair = pd.Series(day).groupby(frame["pair"].to_numpy()).nunique().reindex(pairs).to_numpy()
    returned = np.bincount(pi, weights=(days_per_pair > 1), minlength=inter.n_items)
    users_per_item = np.bincount(pi, minlength=inter.n_items)
    repeat_rate = (returned + 0.5) / (users_per_item + 2.0)
    # How much of a user's activity goes back to items they had touched on an earlier day.
    again = np.bincount(pu, weights=days_per_pair - 1, minlength=inter.n_users)
    visits = np.bincount(pu, weights=days_per_pair, minlength=inter.n_users)
    user_repeat = (again + 0.5) / (visits + 2.0)

    columns = {
        "hist_count": np.log1p(grouped.size().to_numpy()),
        "hist_views": np.log1p(counts[VIEW]),
        "hist_carts": np.log1p(counts[CART]),
        "hist_buys": np.log1p(counts[BUY]),
        "hist_recent": np.exp2(-last_age / 7.0),
        "hist_recent_long": np.exp2(-last_age / 60.0),
        "hist_decayed": np.log1p(grouped["w"].sum().to_numpy()),
        "hist_open_cart": np.where(open_cart, np.exp2(-np.nan_to_num(last_cart) / 14.0), 0.0),
        "hist_repeat": repeat_rate[pi],
        "hist_user_repeat": user_repeat[pu],
    }
    kept: dict[str, np.ndarray] = {}
    for name, col in columns.items():
        # Zero everywhere, or a copy of another (counts of the only event type there is): no information.
        if np.any(col > 0) and not any(np.array_equal(col, other) for other in kept.values()):
            kept[name] = col
    columns = kept
    pattern = sp.csr_matrix(
        (np.arange(1, len(pairs) + 1, dtype=np.float64), (pu, pi)), shape=(inter.n_users, inter.n_items)
    )
    values = np.column_stack(list(columns.values())).astype(np.float32) if columns else np.zeros((len(pairs), 0))
    return UserItemHistory(names=list(columns), pattern=pattern, values=values)


def popularity(inter: Interactions, half_life_days: float | None = None, distinct_users: bool = True) -> np.ndarray:
    """log1p of the (decayed) number of users per item, scaled to max 1 — a steady base and a trend."""
    w = decay(inter.age_days, half_life_days)
    if distinct_users:
        # One vote per user and item, at the user's latest event (the strongest decay weight).
        best = pd.DataFrame({"u": inter.u, "i": inter.i, "w": w}).groupby(["u", "i"])["w"].max()
        counts = np.bincount(best.index.get_level_values("i"), weights=best.to_numpy(), minlength=inter.n_items)
    else:
        counts = np.bincount(inter.i, weights=w, minlength=inter.n_items)
    scores = np.log1p(counts)
    top = scores.max() if len(scores) else 0.0
    return (scores / top if top > 0 else scores).astype(np.float32)


def user_profile(inter: Interactions, half_life_days: float | None = 60.0) -> sp.csr_matrix:
    """What a user is about, for item-to-item scoring: log1p(type-weighted, decayed counts) per item,
    rows scaled to sum 1 so heavy and light users land on one scale."""
    m = inter.matrix(type_weights(inter.event_type) * decay(inter.age_days, half_life_days))
    m.data = np.log1p(m.data)
    sums = np.asarray(m.sum(axis=1)).ravel()
    return sp.diags(np.where(sums > 0, 1.0 / np.maximum(sums, 1e-12), 0.0).astype(np.float32)) @ m
