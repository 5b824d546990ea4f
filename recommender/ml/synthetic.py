"""RetailRocket-like synthetic events for tests and benchmarks (not the product's simulator).

Sessions of views around a focus item of a category the user likes, similar items nearby in the
category, returning users revisiting earlier items, a few add-to-carts and fewer purchases, a
long-tailed catalog, a few very heavy users. Vectorised: a million events in about a second.
Popularity does not drift over time, so trend signals have nothing to find here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.ml.data import DAY_MS, ItemCatalog, events_frame

START_MS = 1_433_000_000_000  # 2015-05-30, like RetailRocket


def synthetic_events(
    n_events: int, n_users: int, n_items: int, *, days: float = 120.0, n_categories: int = 40, seed: int = 0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    category = np.sort(rng.integers(0, n_categories, n_items))  # items of a category are contiguous
    cat_start = np.searchsorted(category, np.arange(n_categories))
    cat_size = np.bincount(category, minlength=n_categories)
    # Popularity within a category: Zipf-like over a random order.
    rank = np.empty(n_items)
    for c in range(n_categories):
        rank[cat_start[c] : cat_start[c] + cat_size[c]] = rng.permutation(cat_size[c]) + 1
    appeal = rank**-0.9

    n_sessions = max(1, n_events // 4)  # mean session length is ~4.5: enough to cut at n_events
    activity = rng.pareto(1.2, n_users) + 1.0
    user = rng.choice(n_users, n_sessions, p=activity / activity.sum())
    start = np.sort(rng.uniform(0, days * DAY_MS, n_sessions))
    order = np.lexsort((start, user))
    user, start = user[order], start[order]
    taste = rng.integers(0, n_categories, (n_users, 2))
    cat = taste[user, rng.integers(0, 2, n_sessions)]
    # Focus item: appeal-weighted within the category, via inverse-CDF on cumulative appeal.
    cum = np.cumsum(appeal)
    lo = np.where(cat_start[cat] > 0, cum[np.maximum(cat_start[cat] - 1, 0)], 0.0)
    hi = cum[np.minimum(cat_start[cat] + cat_size[cat] - 1, n_items - 1)]
    focus = np.searchsorted(cum, lo + rng.uniform(0, 1, n_sessions) * (hi - lo))
    focus = np.clip(focus, cat_start[cat], cat_start[cat] + np.maximum(cat_size[cat] - 1, 0))
    # Returning users come back to an earlier session's focus item about a third of the time.
    first = np.r_[True, user[1:] != user[:-1]]
    session_no = np.arange(n_sessions) - np.maximum.accumulate(np.where(first, np.arange(n_sessions), 0))
    back = (session_no > 0) & (rng.uniform(size=n_sessions) < 0.35)
    earlier = np.arange(n_sessions) - (rng.uniform(size=n_sessions) * session_no).astype(int) - 1
    focus[back] = focus[np.maximum(earlier[back], 0)]

    length = rng.geometric(0.22, n_sessions)
    sess = np.repeat(np.arange(n_sessions), length)[:n_events]
    step = np.arange(len(sess)) - np.repeat(np.cumsum(length) - length, length)[: len(sess)]
    offset = np.where(step == 0, 0, rng.integers(-6, 7, len(sess)))
    c = cat[sess]
    item = np.clip(focus[sess] + offset, cat_start[c], cat_start[c] + cat_size[c] - 1)
    timestamp = START_MS + start[sess] + step * rng.uniform(20_000, 120_000, len(sess))
    kind = np.full(len(sess), "view", dtype=object)
    u = rng.uniform(size=len(sess))
    kind[u < 0.03] = "addtocart"
    kind[u < 0.009] = "transaction"
    return events_frame(
        customer=user[sess] + 1,
        item=item + 1,
        event_type=kind,
        timestamp=timestamp.astype(np.int64),
    )


def synthetic_catalog(n_items: int, *, n_categories: int = 40, unavailable: float = 0.1, seed: int = 0) -> ItemCatalog:
    """A catalog matching `synthetic_events` (same seed and sizes): categories under 5 parents,
    log-normal prices, a share of items unavailable."""
    rng = np.random.default_rng(seed)
    category = np.sort(rng.integers(0, n_categories, n_items))
    other = np.random.default_rng(seed + 1)
    frame = pd.DataFrame(
        {
            "item": np.arange(1, n_items + 1),
            "category": [f"c{c}" for c in category],
            "price": np.round(other.lognormal(3.0, 1.0, n_items), 2),
            "available": other.uniform(size=n_items) >= unavailable,
        }
    )
    parents = {f"c{c}": f"p{c % 5}" for c in range(n_categories)}
    return ItemCatalog.from_frame(frame, parents)
