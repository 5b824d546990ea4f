"""RFM analysis: recency, frequency and monetary value of each customer, scored 1–5, and their segment.

- recency: days since the last purchase; for customers who never bought, since their last activity;
- frequency: purchases (distinct transactions / invoices); for customers who never bought, sessions
  (events closer than ``session_gap`` belong to one session). Any buyer ranks above every non-buyer;
- monetary: total spend.

Scores are rank-based quintiles with 5 the best (most recent, most frequent, highest spend): a customer's
score is 1 + ⌊5 × the share of customers strictly worse⌋. Equal values always get equal scores, and with
heavy ties (most customers bought once) the tied bottom group gets 1 instead of being spread over 1–3 by an
arbitrary tie-break; the price is that a score may be skipped (1, then 3).

Segments: ordered rules checked in priority order, the first match wins, so each customer gets exactly one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY_S = 86_400
SESSION_GAP = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class SegmentRule:
    slug: str
    r_min: int
    r_max: int
    f_min: int
    f_max: int
    m_min: int
    m_max: int

    @classmethod
    def of(cls, rule: SegmentRule | Sequence) -> SegmentRule:
        """From a rule or a (slug, r_min, r_max, f_min, f_max, m_min, m_max) tuple."""
        return rule if isinstance(rule, SegmentRule) else cls(*rule)

    def matches(self, r, f, m):
        """Works on scalars and on numpy arrays alike."""
        return (
            (self.r_min <= r) & (r <= self.r_max) & (self.f_min <= f) & (f <= self.f_max)
            & (self.m_min <= m) & (m <= self.m_max)
        )  # fmt: skip


@dataclass(frozen=True)
class CustomerRfm:
    customer: object
    recency_days: float
    frequency: int
    monetary: float
    buyer: bool
    recency_score: int
    frequency_score: int
    monetary_score: int
    segment: str | None


def quintile_scores(values: Sequence | np.ndarray, *, higher_is_better: bool = True) -> np.ndarray:
    """1–5 per value: 1 + ⌊5 × share of values strictly worse⌋. Equal values get equal scores."""
    key = np.asarray(values, dtype=float)
    if len(key) == 0:
        return np.zeros(0, dtype=np.int64)
    if not higher_is_better:
        key = -key
    worse = pd.Series(key).rank(method="min").to_numpy() - 1
    return (1 + np.floor(5 * worse / len(key))).astype(np.int64).clip(1, 5)


def assign_segments(
    recency: np.ndarray, frequency: np.ndarray, monetary: np.ndarray, rules: Iterable, *, fallback: str | None = None
) -> np.ndarray:
    """The slug of the first rule (in the given priority order) matching each (R, F, M) score triple.

    A triple no rule matches gets ``fallback``, by default the last rule's slug, so a gap left by an edit
    of the rules still gives everyone exactly one segment (``uncovered_cells`` finds such gaps).
    """
    rules = [SegmentRule.of(rule) for rule in rules]
    r, f, m = (np.asarray(x, dtype=np.int64) for x in (recency, frequency, monetary))
    if fallback is None and rules:
        fallback = rules[-1].slug
    out = np.full(len(r), fallback, dtype=object)
    open_ = np.ones(len(r), dtype=bool)
    for rule in rules:
        hit = open_ & rule.matches(r, f, m)
        out[hit] = rule.slug
        open_ &= ~hit
    return out


def uncovered_cells(rules: Iterable) -> list[tuple[int, int, int]]:
    """(R, F, M) score triples that no rule matches."""
    rules = [SegmentRule.of(rule) for rule in rules]
    cells = [(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)]
    return [cell for cell in cells if not any(rule.matches(*cell) for rule in rules)]


def rfm_values(events: pd.DataFrame, *, now: dt.datetime, session_gap: dt.timedelta = SESSION_GAP) -> pd.DataFrame:
    """Raw R, F, M per customer from behaviour events up to ``now``.

    ``events`` columns: ``customer``, ``at`` (aware datetimes, or ms since epoch UTC), ``event``
    (``transaction`` is a purchase), ``transactionid`` (may be empty: then the event is its own purchase)
    and optionally ``amount``. Returns one row per customer: recency_days, frequency, monetary, buyer.
    """
    at = _epoch_seconds(events["at"])
    keep = at <= now.timestamp()
    frame = pd.DataFrame(
        {
            "customer": events["customer"].to_numpy()[keep],
            "at": at[keep],
            "purchase": (events["event"].to_numpy()[keep] == "transaction"),
            "transactionid": _transaction_keys(events, keep, at),
            "amount": pd.to_numeric(events["amount"], errors="coerce").to_numpy()[keep]
            if "amount" in events
            else np.zeros(int(keep.sum())),
        }
    )
    columns = ["recency_days", "frequency", "monetary", "buyer"]
    if frame.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="customer"))
    frame = frame.sort_values(["customer", "at"], kind="stable")
    grouped = frame.groupby("customer", sort=True)
    last_seen = grouped["at"].max()
    purchases = frame[frame["purchase"]]
    bought = purchases.groupby("customer")
    last_bought = bought["at"].max().reindex(last_seen.index)
    orders = bought["transactionid"].nunique().reindex(last_seen.index)
    spend = bought["amount"].sum(min_count=1).reindex(last_seen.index).fillna(0.0)
    new_session = (frame["customer"] != frame["customer"].shift()) | (frame["at"].diff() > session_gap.total_seconds())
    sessions = new_session.groupby(frame["customer"]).sum()
    buyer = last_bought.notna()
    out = pd.DataFrame(
        {
            "recency_days": (now.timestamp() - last_bought.where(buyer, last_seen)) / DAY_S,
            "frequency": orders.where(buyer, sessions).astype(np.int64),
            "monetary": spend.astype(float),
            "buyer": buyer.to_numpy(),
        },
        index=last_seen.index,
    )
    out.index.name = "customer"
    return out


def rfm_scores(values: pd.DataFrame, rules: Iterable | None = None) -> pd.DataFrame:
    """Adds recency_score, frequency_score, monetary_score (and segment, given rules) to ``rfm_values``."""
    out = values.copy()
    out["recency_score"] = quintile_scores(out["recency_days"], higher_is_better=False)
    # Any purchase ranks above any number of sessions: a buyer is a more frequent customer than a browser.
    frequency_key = np.where(out["buyer"], 1e12, 0.0) + out["frequency"].to_numpy(dtype=float)
    out["frequency_score"] = quintile_scores(frequency_key)
    out["monetary_score"] = quintile_scores(out["monetary"])
    if rules is not None:
        out["segment"] = assign_segments(out["recency_score"], out["frequency_score"], out["monetary_score"], rules)
    return out


def compute_rfm(
    events: pd.DataFrame, *, now: dt.datetime, rules: Iterable, session_gap: dt.timedelta = SESSION_GAP
) -> list[CustomerRfm]:
    """RFM values, scores and exactly one segment for every customer with an event up to ``now``."""
    table = rfm_scores(rfm_values(events, now=now, session_gap=session_gap), rules)
    return [
        CustomerRfm(
            customer=customer,
            recency_days=float(row.recency_days),
            frequency=int(row.frequency),
            monetary=float(row.monetary),
            buyer=bool(row.buyer),
            recency_score=int(row.recency_score),
            frequency_score=int(row.frequency_score),
            monetary_score=int(row.monetary_score),
            segment=row.segment,
        )
        for customer, row in zip(table.index, table.itertuples(index=False), strict=True)
    ]


def _epoch_seconds(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=float) / 1000.0
    stamps = pd.to_datetime(values, utc=True)
    return (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()


def _transaction_keys(events: pd.DataFrame, keep: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Transaction id of each kept event; a purchase without one is its own transaction (keyed by its time)."""
    if "transactionid" in events:
        ids = events["transactionid"].astype(object).to_numpy()[keep]
    else:
        ids = np.full(int(keep.sum()), None, dtype=object)
    missing = pd.isna(ids) | (ids == "")
    keys = ids.astype(str).astype(object)
    keys[missing] = [f"@{stamp}" for stamp in at[keep][missing]]
    return keys
