"""Interaction frames, the item catalog, the offline split protocol and indexed interactions.

Everything downstream works on one frame layout, whether it was read from a RetailRocket-style
file (`load_events`) or built from the Event table by `train`:

    customer   any hashable id
    item       any hashable id
    type       "view" | "addtocart" | "transaction" (anything else counts as a view)
    timestamp  int64, ms since the epoch (UTC)
    amount     float or NaN
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.ml.clock import DAY_MS

EVENT_TYPES = ("view", "addtocart", "transaction")
VIEW, CART, BUY = 0, 1, 2
COLUMNS = ["customer", "item", "type", "timestamp", "amount"]


def load_events(path: str) -> pd.DataFrame:
    """Reads an events file in the RetailRocket layout (optionally gzipped) into the frame layout.

    Rows without an item (e.g. app opens) or with an unreadable timestamp are dropped.
    """
    head = pd.read_csv(path, nrows=0)
    missing = {"timestamp", "visitorid", "event", "itemid"} - set(head.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    usecols = ["timestamp", "visitorid", "event", "itemid"] + (["amount"] if "amount" in head.columns else [])
    raw = pd.read_csv(path, usecols=usecols, dtype={"event": str})
    return events_frame(
        customer=raw["visitorid"],
        item=raw["itemid"],
        event_type=raw["event"],
        timestamp=raw["timestamp"],
        amount=raw.get("amount"),
    )


def events_frame(*, customer, item, event_type, timestamp, amount=None) -> pd.DataFrame:
    """Builds a clean interaction frame from columns (sequences or Series), dropping unusable rows.

    `timestamp` may be ms since the epoch or datetimes (naive ones are taken as UTC).
    """
    ts = pd.Series(timestamp).reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(ts):
        if ts.dt.tz is not None:
            ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        ts = ts.astype("datetime64[ms]").astype("int64")
    else:
        ts = pd.to_numeric(ts, errors="coerce")
    frame = pd.DataFrame(
        {
            "customer": pd.Series(customer).reset_index(drop=True),
            "item": pd.Series(item).reset_index(drop=True),
            "type": pd.Series(event_type).reset_index(drop=True).astype(str).str.strip().str.lower(),
            "timestamp": ts,
            "amount": pd.to_numeric(pd.Series(amount), errors="coerce").reset_index(drop=True)
            if amount is not None
            else np.nan,
        }
    )
    frame = frame.dropna(subset=["customer", "item", "timestamp"])
    frame["timestamp"] = frame["timestamp"].astype("int64")
    return frame.reset_index(drop=True)


def type_codes(types: pd.Series) -> np.ndarray:
    codes = np.full(len(types), VIEW, dtype=np.int8)
    values = types.to_numpy()
    codes[values == "addtocart"] = CART
    codes[values == "transaction"] = BUY
    return codes


def _category_id(value) -> str | None:
    if value is None or pd.isna(value):
        return None
    if isinstance(value, float) and value.is_integer():  # a column with gaps reads as float
        return str(int(value))
    return str(value)


@dataclass
class ItemCatalog:
    """What is known about items besides the events: category (with its parents), price, availability."""

    item: np.ndarray
    category: np.ndarray  # category id per item, None when unknown
    price: np.ndarray  # float, NaN when unknown
    available: np.ndarray  # bool
    parents: dict = field(default_factory=dict)  # category id -> parent category id

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, parents: dict | None = None) -> ItemCatalog:
        """`frame` has column `item` and optionally `category`, `price`, `available`."""
        n = len(frame)
        category = frame["category"].to_numpy(dtype=object) if "category" in frame else np.full(n, None, object)
        category = np.array([_category_id(c) for c in category], dtype=object)
        price = (
            pd.to_numeric(frame["price"], errors="coerce").to_numpy(float) if "price" in frame else np.full(n, np.nan)
        )
        available = (
            frame["available"].fillna(True).astype(bool).to_numpy() if "available" in frame else np.ones(n, dtype=bool)
        )
        parents = {str(k): str(v) for k, v in (parents or {}).items() if v is not None and not pd.isna(v)}
        # Copies: pandas' copy-on-write hands out read-only views, and callers may edit a catalog.
        return cls(
            item=frame["item"].to_numpy().copy(),
            category=category,
            price=price.copy(),
            available=available.copy(),
            parents=parents,
        )

    def lineage(self, category: str | None, max_depth: int = 10) -> list[str]:
        """The category and its parents, nearest first (guarded against cycles in the tree)."""
        out: list[str] = []
        while category is not None and category not in out and len(out) < max_depth:
            out.append(category)
            category = self.parents.get(category)
        return out

    def aligned(self, items: np.ndarray) -> ItemCatalog:
        """The catalog reordered to `items`; items it does not know get no category, no price, available."""
        pos = pd.Index(self.item).get_indexer(items)
        known = pos >= 0
        category = np.full(len(items), None, dtype=object)
        category[known] = self.category[pos[known]]
        price = np.full(len(items), np.nan)
        price[known] = self.price[pos[known]]
        available = np.ones(len(items), dtype=bool)
        available[known] = self.available[pos[known]]
        return ItemCatalog(
            item=np.asarray(items), category=category, price=price, available=available, parents=self.parents
        )


def load_catalog(
    *, items: str | None = None, item_properties: str | None = None, categories: str | None = None, as_of_ms=None
) -> ItemCatalog | None:
    """Reads the optional catalog files; `item_properties` values are taken as of `as_of_ms` (no peeking)."""
    frames = []
    if items:
        f = pd.read_csv(items)
        f = f.rename(columns={"itemid": "item", "categoryid": "category"})
        frames.append(f[[c for c in ("item", "category", "price", "available") if c in f]])
    if item_properties:
        props = []
        for chunk in pd.read_csv(item_properties, chunksize=1_000_000, dtype={"property": str, "value": str}):
            chunk = chunk[chunk["property"].isin(["categoryid", "available"])]
            if as_of_ms is not None:
                chunk = chunk[chunk["timestamp"] < as_of_ms]
            props.append(chunk)
        p = pd.concat(props) if props else pd.DataFrame(columns=["timestamp", "itemid", "property", "value"])
        latest = p.sort_values("timestamp").drop_duplicates(["itemid", "property"], keep="last")
        wide = latest.pivot(index="itemid", columns="property", values="value").reset_index()
        wide = wide.rename(columns={"itemid": "item", "categoryid": "category"})
        if "available" in wide:
            wide["available"] = pd.to_numeric(wide["available"], errors="coerce").map(
                lambda v: True if pd.isna(v) else bool(v)
            )
        frames.append(wide)
    if not frames:
        return None
    merged = frames[0]
    for f in frames[1:]:
        merged = merged.merge(f, on="item", how="outer", suffixes=("", "_b"))
        for col in ("category", "price", "available"):
            if f"{col}_b" in merged:
                merged[col] = (
                    merged[col].combine_first(merged.pop(f"{col}_b")) if col in merged else merged.pop(f"{col}_b")
                )
    parents = {}
    if categories:
        tree = pd.read_csv(categories, dtype=str)
        parents = dict(zip(tree["categoryid"], tree["parentid"], strict=True))
    return ItemCatalog.from_frame(merged, parents)


@dataclass
class TimeSplit:
    """The offline protocol: train before the cutoff, test from it, test users seen on both sides."""

    cutoff_ms: int
    train: pd.DataFrame
    test: pd.DataFrame  # test events of the test users only
    test_users: np.ndarray

    def relevance(self, items: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        """Relevant items per test user as a 0/1 matrix over `items` (the candidates), and the number
        of distinct relevant items per user counting those outside `items` (they cannot be hit but
        still count in recall and in the ideal DCG)."""
        pairs = self.test[["customer", "item"]].drop_duplicates()
        rows = pd.Index(self.test_users).get_indexer(pairs["customer"])
        n_relevant = np.bincount(rows, minlength=len(self.test_users))
        cols = pd.Index(items).get_indexer(pairs["item"])
        ok = cols >= 0
        matrix = sp.csr_matrix(
            (np.ones(ok.sum(), dtype=np.float32), (rows[ok], cols[ok])), shape=(len(self.test_users), len(items))
        )
        return matrix, n_relevant


def time_split(events: pd.DataFrame, test_days: float) -> TimeSplit:
    """cutoff = max(timestamp) − test_days; train = before cutoff, test = from cutoff."""
    cutoff = int(events["timestamp"].max() - round(test_days * DAY_MS))
    before = events["timestamp"].to_numpy() < cutoff
    train, test = events[before], events[~before]
    test_users = np.intersect1d(train["customer"].unique(), test["customer"].unique())
    test = test[test["customer"].isin(test_users)]
    return TimeSplit(cutoff_ms=cutoff, train=train, test=test, test_users=test_users)


@dataclass
class Interactions:
    """The training events indexed: users and items as integer positions, ages relative to `now`."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    u: np.ndarray  # int32 per event
    i: np.ndarray  # int32 per event
    event_type: np.ndarray  # int8 per event: VIEW, CART, BUY
    age_days: np.ndarray  # float32 per event, >= 0
    now_ms: int

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @classmethod
    def build(cls, events: pd.DataFrame, now_ms: int | None = None) -> Interactions:
        now_ms = int(events["timestamp"].max()) + 1 if now_ms is None else int(now_ms)
        u, user_ids = pd.factorize(events["customer"], sort=True)
        i, item_ids = pd.factorize(events["item"], sort=True)
        # Items by descending number of users (then id): the most popular items are a contiguous
        # prefix of every score block, which is what EASE covers.
        pairs = pd.DataFrame({"u": u, "i": i}).drop_duplicates()
        users_per_item = np.bincount(pairs["i"].to_numpy(), minlength=len(item_ids))
        order = np.lexsort((np.arange(len(item_ids)), -users_per_item))
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        i, item_ids = rank[i], np.asarray(item_ids)[order]
        age = np.maximum(now_ms - events["timestamp"].to_numpy(np.int64), 0) / DAY_MS
        return cls(
            user_ids=np.asarray(user_ids),
            item_ids=np.asarray(item_ids),
            u=u.astype(np.int32),
            i=i.astype(np.int32),
            event_type=type_codes(events["type"]),
            age_days=age.astype(np.float32),
            now_ms=now_ms,
        )

    def matrix(self, weights: np.ndarray | None = None, mask: np.ndarray | None = None) -> sp.csr_matrix:
        """users × items sum of `weights` (default 1 per event), duplicates summed."""
        u, i = self.u, self.i
        w = np.ones(len(u), dtype=np.float32) if weights is None else weights.astype(np.float32)
        if mask is not None:
            u, i, w = u[mask], i[mask], w[mask]
        m = sp.csr_matrix((w, (u, i)), shape=(self.n_users, self.n_items), dtype=np.float32)
        m.sum_duplicates()
        return m

    def seen(self) -> sp.csr_matrix:
        m = self.matrix()
        m.data[:] = 1.0
        return m

    def user_positions(self, ids: Iterable) -> np.ndarray:
        """Positions of customer ids; -1 for customers without training events (cold)."""
        return pd.Index(self.user_ids).get_indexer(pd.Index(list(ids) if not isinstance(ids, np.ndarray) else ids))
