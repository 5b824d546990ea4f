"""Notification history: what the person did with earlier pushes (sends, opens, dismissals) and the last
device context their phone reported, counted as of any instant."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.ml.click.features import UNKNOWN
from recommender.ml.clock import DAY_MS, HOUR_MS

CONTEXT_MAX_AGE_MS = 7 * DAY_MS  # an older device context says little about the phone now
LONG_AGO_HOURS = 24 * 90  # "never" for the hours-since features


@dataclass(frozen=True)
class PushHistory:
    """Pushes and what phones said about them, in UTC ms.

    ``sends``: customer, sent_ms (and, for training rows, type, hour_of_week, opened). ``feedback``: customer, action
    (delivered / opened / dismissed), at_ms, battery, charging, network, app_state (missing = NaN or "").
    """

    sends: pd.DataFrame
    feedback: pd.DataFrame

    @classmethod
    def empty(cls) -> PushHistory:
        feedback = {name: np.zeros(0, dtype=object) for name in ("customer", "action", "network", "app_state")}
        feedback |= {"at_ms": np.zeros(0, np.int64), "battery": np.zeros(0), "charging": np.zeros(0)}
        sends = {"customer": np.zeros(0, dtype=object), "sent_ms": np.zeros(0, np.int64)}
        return cls(sends=pd.DataFrame(sends), feedback=pd.DataFrame(feedback))


class _Stream:
    """Times of one kind of thing per customer, sorted by (customer, time), for counting in windows."""

    def __init__(self, codes: np.ndarray, ms: np.ndarray):
        keys = _keys(codes, ms)
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]

    def bounds(self, codes: np.ndarray, start_ms: np.ndarray, end_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sorted positions [lo, hi) of each query customer's items with start <= time < end."""
        lo = np.searchsorted(self.keys, _keys(codes, np.maximum(start_ms, 0)), side="left")
        hi = np.searchsorted(self.keys, _keys(codes, np.maximum(end_ms, 0)), side="left")
        return lo, hi

    def count(self, codes, start_ms, end_ms) -> np.ndarray:
        lo, hi = self.bounds(codes, start_ms, end_ms)
        return (hi - lo).astype(float)

    def last(self, codes, start_ms, end_ms) -> np.ndarray:
        """Original position of each query customer's last item in [start, end); -1 if none."""
        lo, hi = self.bounds(codes, start_ms, end_ms)
        if not len(self.order):
            return np.full(len(lo), -1)
        return np.where(hi > lo, self.order[np.maximum(hi - 1, 0)], -1)


def _keys(codes: np.ndarray, ms: np.ndarray) -> np.ndarray:
    # Seconds fit 32 bits until 2106; customer codes take the high bits, so one sorted array serves everyone.
    return (np.asarray(codes, dtype=np.int64) << 32) | (np.asarray(ms, dtype=np.int64) // 1000)


def push_history_features(history: PushHistory, customers: np.ndarray, at_ms: np.ndarray, base_rate: float) -> dict:
    """Per query (customer, instant): pushes, opens and dismissals before it, and the last device context."""
    sends, feedback = history.sends, history.feedback
    customers = np.asarray(customers, dtype=object)
    send_customers = sends["customer"].to_numpy(dtype=object)
    feedback_customers = feedback["customer"].to_numpy(dtype=object)
    index = pd.Index(pd.unique(np.concatenate([customers, send_customers, feedback_customers])))
    q = index.get_indexer(customers)
    at_ms = np.asarray(at_ms, dtype=np.int64)
    pushes = _Stream(index.get_indexer(send_customers), sends["sent_ms"].to_numpy(dtype=np.int64))
    f_code = index.get_indexer(feedback_customers)
    f_ms = feedback["at_ms"].to_numpy(dtype=np.int64)
    action = feedback["action"].to_numpy(dtype=object)
    opens = _Stream(f_code[action == "opened"], f_ms[action == "opened"])
    dismissals = _Stream(f_code[action == "dismissed"], f_ms[action == "dismissed"])
    month = at_ms - 30 * DAY_MS
    out = {
        "sends_7d": pushes.count(q, at_ms - 7 * DAY_MS, at_ms),
        "sends_30d": pushes.count(q, month, at_ms),
        "opens_30d": opens.count(q, month, at_ms),
        "dismissals_30d": dismissals.count(q, month, at_ms),
    }
    out["open_rate_30d"] = (out["opens_30d"] + 3 * base_rate) / (out["sends_30d"] + 3)
    for name, stream, times in (
        ("hours_since_push", pushes, sends["sent_ms"].to_numpy(dtype=np.int64)),
        ("hours_since_open", opens, f_ms[action == "opened"]),
    ):
        last = stream.last(q, at_ms - LONG_AGO_HOURS * HOUR_MS, at_ms)
        hours = np.where(last >= 0, (at_ms - times[np.maximum(last, 0)] if len(times) else 0) / HOUR_MS, LONG_AGO_HOURS)
        out[name] = np.log1p(np.clip(hours, 0, LONG_AGO_HOURS))
    reported = _has_context(feedback)
    context = feedback[reported]
    last = _Stream(f_code[reported], f_ms[reported]).last(q, at_ms - CONTEXT_MAX_AGE_MS, at_ms)
    found, take = last >= 0, np.maximum(last, 0)
    for name in ("battery", "charging"):
        values = pd.to_numeric(context[name], errors="coerce").to_numpy(dtype=float)
        picked = values[take] if len(values) else np.full(len(q), np.nan)
        out[name] = np.where(found & ~np.isnan(picked), picked, UNKNOWN)
    for name in ("network", "app_state"):
        values = context[name].fillna("").astype(str).to_numpy(dtype=object)
        out[name] = np.where(found, values[take] if len(values) else "", "")
    return out


def _has_context(feedback: pd.DataFrame) -> np.ndarray:
    if not len(feedback):
        return np.zeros(0, dtype=bool)
    numeric = feedback[["battery", "charging"]].apply(pd.to_numeric, errors="coerce").notna().any(axis=1)
    text = feedback[["network", "app_state"]].fillna("").astype(str).ne("").any(axis=1)
    return (numeric | text).to_numpy()
