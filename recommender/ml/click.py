"""Click model: the probability that a person opens a push of a given type sent at a given hour of the week
in their own time zone (0 = Monday 00:00 local).

Two layers:

- **the activity prior** — what we can say before any push was answered: a person opens when they are around.
  Their share of activity in each local hour of the week (days active in that hour, smoothed over
  neighbouring hours, partly pooled over the days of the week) is shrunk toward the population's share, with
  their own weight ``days / (days + prior_days)`` growing with their active days; the smoothing, pooling and
  shrinkage are chosen on the last two weeks of events (held-out likelihood). Then
  ``logit P = intercept + slope × log(168 × share) − fatigue × pushes in the last 7 days``, a base rate times
  a power of the relative activity: a new person gets the population's shape at the base rate.
- **the learned model** — once there are enough answered pushes, gradient-boosted trees or a random forest
  (whichever has the lower log loss on the most recent pushes; the prior competes too) over the activity
  features, recency, RFM scores, segment, platform, type, the person's recent pushes, opens and dismissals and
  the last device context, calibrated on held-out pushes (see ``Calibrated``).

Every training row sees only what was known when the push went out: notification history strictly before it,
the activity of the weeks before it (weekly snapshots, so the app opens a push itself caused never explain it)
and the RFM profile as of that week. Nothing here imports Django: pandas / numpy / scikit-learn in,
dataclasses out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
HOURS_PER_WEEK = 168

DEFAULT_BASE_RATE = 0.05  # before any push was answered: a typical push open rate
DEFAULT_SLOPE = 0.5  # open odds × (relative activity) ** this
DEFAULT_FATIGUE = 0.1  # open odds × exp(−this × pushes in the last 7 days)
MIN_SENDS = 200  # fewer answered pushes than this (or fewer opens than MIN_OPENS): the prior only
MIN_OPENS = 20
MAX_ROWS = 300_000  # most recent sends the trees learn from: bounds the nightly fit
MATURE_MS = DAY_MS  # a push younger than this may still be opened: not a label yet
CONTEXT_MAX_AGE_MS = 7 * DAY_MS  # an older device context says little about the phone now
LONG_AGO_HOURS = 24 * 90  # "never" for the hours-since features
SPLITS = (0.7, 0.85)  # time order: fit | calibrate | test

FEATURES = (
    "activity",  # log(168 × the person's shrunk share of activity in this hour): the prior's input
    "own_week",  # log(168 × their own smoothed share), the population's without history
    "own_day",  # log(24 × their own share of this hour of the day)
    "population",  # log(168 × the population's share)
    "active_days",  # log(1 + active days)
    "idle_days",  # log(1 + days since their last event)
    "hour",
    "weekday",
    "recency_score",
    "frequency_score",
    "monetary_score",
    "segment",
    "platform",
    "type",
    "sends_7d",  # pushes received in the 7 days before (fatigue)
    "sends_30d",
    "opens_30d",
    "dismissals_30d",
    "open_rate_30d",  # opens / pushes over 30 days, shrunk toward the base rate
    "hours_since_push",  # log(1 + hours)
    "hours_since_open",
    "battery",  # last device context reported within 7 days; -1 unknown
    "charging",
    "network",
    "app_state",
)
CATEGORICAL = ("segment", "platform", "type", "network", "app_state")
# More activity never lowers P(open), more recent pushes never raise it. Without the second constraint the
# trees learn "people who got many pushes open more" (caps are higher for engaged segments) and the planner
# would read that as "send more".
MONOTONE = {"activity": 1, "own_week": 1, "own_day": 1, "population": 1, "sends_7d": -1}
UNKNOWN = -1.0
ROW_FEATURES = ("activity", "own_week", "own_day", "population", "hour", "weekday", "type")  # vary by hour / type
HISTORY_FEATURES = (
    "sends_7d", "sends_30d", "opens_30d", "dismissals_30d", "open_rate_30d",
    "hours_since_push", "hours_since_open", "battery", "charging",
)  # fmt: skip
PERSON_FEATURES = tuple(name for name in FEATURES if name not in ROW_FEATURES)
PERSON_COLUMNS = [FEATURES.index(name) for name in PERSON_FEATURES]
SHARE_BLOCK = 20_000  # people whose 168 shares are held at once


def local_hour_of_week(timestamps_ms: np.ndarray, offsets_ms: np.ndarray) -> np.ndarray:
    """Local hour of the week (0 = Monday 00:00) of UTC instants, given the UTC offset in force at each
    (``recommender.ml.timing.local_offsets_ms``)."""
    local = np.asarray(timestamps_ms, dtype=np.int64) + np.asarray(offsets_ms, dtype=np.int64)
    day = local // DAY_MS
    return ((day + 3) % 7) * 24 + (local % DAY_MS) // HOUR_MS  # 1970-01-01 was a Thursday


# Activity: when a person is around --------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveHours:
    """The local hours in which people had at least one event: one row per (customer, local day, local hour),
    with its hour of the week and the UTC time of its first event (to cut snapshots at)."""

    customer: np.ndarray
    day: np.ndarray
    how: np.ndarray
    first_ms: np.ndarray

    @classmethod
    def from_events(cls, customers, timestamps_ms, offsets_ms) -> ActiveHours:
        ts = np.asarray(timestamps_ms, dtype=np.int64)
        local = ts + np.asarray(offsets_ms, dtype=np.int64)
        frame = pd.DataFrame(
            {"customer": np.asarray(customers), "day": local // DAY_MS, "hour": (local % DAY_MS) // HOUR_MS, "ms": ts}
        )
        grouped = frame.groupby(["customer", "day", "hour"], sort=True)["ms"].min()
        day = grouped.index.get_level_values("day").to_numpy(dtype=np.int64)
        hour = grouped.index.get_level_values("hour").to_numpy(dtype=np.int64)
        return cls(
            customer=grouped.index.get_level_values("customer").to_numpy(),
            day=day,
            how=((day + 3) % 7) * 24 + hour,
            first_ms=grouped.to_numpy(dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.day)

    def select(self, mask: np.ndarray) -> ActiveHours:
        return ActiveHours(self.customer[mask], self.day[mask], self.how[mask], self.first_ms[mask])

    def before(self, end_ms: int) -> ActiveHours:
        return self.select(self.first_ms < end_ms)


@dataclass(frozen=True)
class ActivitySnapshot:
    """Per customer, as of ``as_of_ms``: days active in each local hour of the week (sparse customers × 168),
    active days and the time of their last event."""

    customers: pd.Index
    counts: sp.csr_matrix
    active_days: np.ndarray
    last_ms: np.ndarray
    as_of_ms: int

    @classmethod
    def of(cls, hours: ActiveHours, as_of_ms: int) -> ActivitySnapshot:
        hours = hours.before(as_of_ms)
        customers = pd.Index(np.unique(hours.customer))
        row = customers.get_indexer(hours.customer)
        n = len(customers)
        counts = sp.csr_matrix((np.ones(len(hours)), (row, hours.how)), shape=(n, HOURS_PER_WEEK))
        counts.sum_duplicates()
        days = pd.DataFrame({"row": row, "day": hours.day}).drop_duplicates()
        last = np.full(n, np.iinfo(np.int64).min)
        np.maximum.at(last, row, hours.first_ms)
        return cls(
            customers=customers,
            counts=counts,
            active_days=np.bincount(days["row"].to_numpy(), minlength=n).astype(float),
            last_ms=last,
            as_of_ms=int(as_of_ms),
        )

    @classmethod
    def empty(cls, as_of_ms: int = 0) -> ActivitySnapshot:
        return cls(pd.Index([]), sp.csr_matrix((0, HOURS_PER_WEEK)), np.zeros(0), np.zeros(0, np.int64), as_of_ms)

    def rows(self, customers) -> np.ndarray:
        """Positions of customers; -1 for those with no activity before the snapshot."""
        return self.customers.get_indexer(np.asarray(customers))

    def population(self, sigma_hours: float = 1.0) -> np.ndarray:
        """The average person's share of activity in each hour of the week (everyone weighs the same, so a
        heavy user does not set the shape for a new one); uniform without data."""
        if not len(self.customers):
            return np.full(HOURS_PER_WEEK, 1 / HOURS_PER_WEEK)
        totals = np.asarray(self.counts.sum(axis=1)).ravel()
        shares = sp.diags(1 / np.maximum(totals, 1)) @ self.counts
        mean = np.asarray(shares.mean(axis=0)).ravel() @ week_kernel(sigma_hours)
        return _normalise(mean + 1e-3 / HOURS_PER_WEEK)


def week_kernel(sigma_hours: float) -> np.ndarray:
    """168 × 168 circular Gaussian smoothing over hours of the week, rows summing to 1."""
    hours = np.arange(HOURS_PER_WEEK)
    distance = np.abs(hours[:, None] - hours[None, :])
    distance = np.minimum(distance, HOURS_PER_WEEK - distance)
    kernel = np.exp(-0.5 * (distance / max(sigma_hours, 1e-6)) ** 2)
    return kernel / kernel.sum(axis=1, keepdims=True)


def _normalise(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values / np.maximum(values.sum(axis=-1, keepdims=True), 1e-300)


@dataclass(frozen=True)
class Shares:
    """A person's share of activity in each local hour of the week.

    own = ``pooling`` × their hours of the week smoothed by ``sigma_hours``
        + (1 − ``pooling``) × their hours of the day, spread over the days as the population spreads that hour;
    share = w × own + (1 − w) × population, w = days / (days + ``prior_days``).
    """

    population: np.ndarray  # 168, sums to 1
    sigma_hours: float = 1.5
    pooling: float = 0.5
    prior_days: float = 7.0

    def parts(self, snapshot: ActivitySnapshot, rows: np.ndarray) -> dict[str, np.ndarray]:
        """(n, 168) arrays for snapshot rows: own week share, own share of the hour of the day (repeated for the
        7 days) and the blended share. A row of -1 (no activity) gets the population's."""
        rows = np.asarray(rows)
        known = rows >= 0
        n = len(rows)
        own_week = np.tile(self.population, (n, 1))
        own_day = np.tile(np.tile(self.population.reshape(7, 24).sum(axis=0), 7), (n, 1))
        days = np.zeros(n)
        if known.any():
            counts = snapshot.counts[rows[known]].toarray()
            counts /= np.maximum(counts.sum(axis=1, keepdims=True), 1e-12)
            own_week[known] = counts @ week_kernel(self.sigma_hours)
            own_day[known] = np.tile(counts.reshape(-1, 7, 24).sum(axis=1) @ day_kernel(self.sigma_hours), 7)
            days[known] = snapshot.active_days[rows[known]]
        own = self.pooling * own_week + (1 - self.pooling) * own_day * _day_spread(self.population)
        weight = (days / (days + self.prior_days))[:, None]
        return {"own_week": own_week, "own_day": own_day, "share": weight * own + (1 - weight) * self.population}


def day_kernel(sigma_hours: float) -> np.ndarray:
    hours = np.arange(24)
    distance = np.abs(hours[:, None] - hours[None, :])
    distance = np.minimum(distance, 24 - distance)
    kernel = np.exp(-0.5 * (distance / max(sigma_hours, 1e-6)) ** 2)
    return kernel / kernel.sum(axis=1, keepdims=True)


def _day_spread(population: np.ndarray) -> np.ndarray:
    """168: how the population spreads each hour of the day over the 7 days (sums to 1 per hour of day)."""
    week = population.reshape(7, 24)
    return (week / np.maximum(week.sum(axis=0, keepdims=True), 1e-300)).reshape(-1)


SHARE_GRID = {
    "sigma_hours": (0.75, 1.5, 3.0),
    "pooling": (0.0, 0.25, 0.5, 0.75, 1.0),
    "prior_days": (0.5, 1.0, 3.0, 7.0, 15.0, 30.0, 60.0),
}


def fit_shares(
    hours: ActiveHours, *, as_of_ms: int, holdout_days: int = 14, max_people: int = 5000, seed: int = 0
) -> tuple[Shares, dict]:
    """Chooses smoothing, pooling and shrinkage by the likelihood of the last ``holdout_days`` of activity under
    shares from the days before (each person's held-out hours weigh 1 in total, so heavy users do not decide
    for everyone). Few people to judge by: the defaults."""
    cut = as_of_ms - holdout_days * DAY_MS
    before = ActivitySnapshot.of(hours, cut)
    population = before.population()
    held = hours.select((hours.first_ms >= cut) & (hours.first_ms < as_of_ms))
    people = np.intersect1d(before.customers.to_numpy(), np.unique(held.customer))
    if len(people) < 20:
        return Shares(population=ActivitySnapshot.of(hours, as_of_ms).population()), {"people": int(len(people))}
    if len(people) > max_people:
        people = np.sort(np.random.default_rng(seed).choice(people, max_people, replace=False))
    held = held.select(np.isin(held.customer, people))
    person = pd.Index(people).get_indexer(held.customer)
    weight = 1 / np.bincount(person)[person]
    rows = before.rows(people)
    scores = {}
    for sigma in SHARE_GRID["sigma_hours"]:
        base = Shares(population, sigma_hours=sigma, pooling=0.0, prior_days=1.0).parts(before, rows)
        days = before.active_days[rows][:, None]
        spread = base["own_day"] * _day_spread(population)
        for pooling in SHARE_GRID["pooling"]:
            own = pooling * base["own_week"] + (1 - pooling) * spread
            for prior in SHARE_GRID["prior_days"]:
                w = days / (days + prior)
                share = w * own + (1 - w) * population
                scores[(sigma, pooling, prior)] = float(np.sum(weight * np.log(share[person, held.how])) / len(people))
    sigma, pooling, prior = max(scores, key=scores.get)
    population_only = float(np.sum(weight * np.log(population[held.how])) / len(people))
    report = {
        "people": int(len(people)),
        "log_likelihood": round(scores[(sigma, pooling, prior)], 4),
        "population_log_likelihood": round(population_only, 4),
    }
    # Fitted on the whole history for use; only the three numbers come from the held-out weeks.
    population = ActivitySnapshot.of(hours, as_of_ms).population()
    return Shares(population, sigma_hours=sigma, pooling=pooling, prior_days=prior), report


def _share_features(snapshot: ActivitySnapshot, shares: Shares, rows: np.ndarray, how: np.ndarray) -> dict:
    """The hour-dependent activity features of each (snapshot row, hour of week) pair, computed for a block of
    distinct people at a time (one person's 168 shares each, never one per pair)."""
    unique, inverse = np.unique(rows, return_inverse=True)
    out = {name: np.empty(len(rows)) for name in ("activity", "own_week", "own_day")}
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(0, len(unique) + SHARE_BLOCK, SHARE_BLOCK))
    for b, first in enumerate(range(0, len(unique), SHARE_BLOCK)):
        where = order[bounds[b] : bounds[b + 1]]
        parts = shares.parts(snapshot, unique[first : first + SHARE_BLOCK])
        local, hour = inverse[where] - first, how[where]
        out["activity"][where] = np.log(HOURS_PER_WEEK * parts["share"][local, hour])
        out["own_week"][where] = np.log(HOURS_PER_WEEK * np.maximum(parts["own_week"][local, hour], 1e-9))
        out["own_day"][where] = np.log(24 * np.maximum(parts["own_day"][local, hour], 1e-9))
    out["population"] = np.log(HOURS_PER_WEEK * shares.population[how])
    return out


# Notification history: what the person did with earlier pushes ------------------------------------------------


@dataclass(frozen=True)
class History:
    """Pushes and what phones said about them, in UTC ms.

    ``sends``: customer, sent_ms (and, for training rows, type, how, opened). ``feedback``: customer, action
    (delivered / opened / dismissed), at_ms, battery, charging, network, app_state (missing = NaN or "").
    """

    sends: pd.DataFrame
    feedback: pd.DataFrame

    @classmethod
    def empty(cls) -> History:
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


def history_features(history: History, customers: np.ndarray, at_ms: np.ndarray, base_rate: float) -> dict:
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


# The model ------------------------------------------------------------------------------------------------------


def _expit(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


@dataclass(frozen=True)
class ActivityPrior:
    """logit P(open) = intercept + slope × log(168 × share) − fatigue × pushes in the last 7 days."""

    intercept: float
    slope: float = DEFAULT_SLOPE
    fatigue: float = DEFAULT_FATIGUE

    @classmethod
    def at_rate(cls, base_rate: float, population: np.ndarray, **shape) -> ActivityPrior:
        """The intercept that gives the population ``base_rate`` averaged over the hours of the week."""
        slope = shape.get("slope", DEFAULT_SLOPE)
        x = np.log(HOURS_PER_WEEK * population)
        lo, hi = -20.0, 20.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _expit(mid + slope * x).mean() < base_rate else (lo, mid)
        return cls(intercept=(lo + hi) / 2, **shape)

    def predict(self, share: np.ndarray, sends_7d: np.ndarray | float = 0.0) -> np.ndarray:
        return _expit(self.intercept + self.slope * np.log(HOURS_PER_WEEK * share) - self.fatigue * sends_7d)

    def logit(self, features: np.ndarray) -> np.ndarray:
        """The same from a feature matrix (its ``activity`` column is log(168 × share))."""
        activity = features[:, FEATURES.index("activity")].astype(float)
        return self.intercept + self.slope * activity - self.fatigue * features[:, FEATURES.index("sends_7d")]


def _estimator(family: str, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    monotone = [MONOTONE.get(name, 0) for name in FEATURES]
    if family == "random_forest":
        # Shallow-ish and few trees: scoring 100k people × 24 hours must take seconds, not minutes.
        return RandomForestClassifier(
            n_estimators=40,
            max_depth=10,
            min_samples_leaf=30,
            max_features="sqrt",
            max_samples=0.5,
            monotonic_cst=monotone,
            n_jobs=-1,
            random_state=seed,
        )
    # Prediction time grows with the iterations: 0.1 stops at about half as many as 0.05 for the same loss.
    return HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=200,
        max_leaf_nodes=15,
        min_samples_leaf=50,
        l2_regularization=1.0,
        categorical_features=[name in CATEGORICAL for name in FEATURES],
        monotonic_cst=[0 if name in CATEGORICAL else c for name, c in zip(FEATURES, monotone, strict=True)],
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=20,
        random_state=seed,
    )


FAMILIES = ("random_forest", "gradient_boosting")


def scores_of(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """log loss, Brier, AUC and expected calibration error (over the reliability table's bins)."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    p = np.clip(np.asarray(probabilities, dtype=float), 1e-6, 1 - 1e-6)
    y = np.asarray(labels, dtype=int)
    table = reliability_table(p, y)
    return {
        "log_loss": round(float(log_loss(y, p, labels=[0, 1])), 5),
        "brier": round(float(brier_score_loss(y, p)), 5),
        "auc": round(float(roc_auc_score(y, p)), 4) if 0 < y.sum() < len(y) else None,
        "ece": round(sum(b["count"] * abs(b["observed"] - b["predicted"]) for b in table) / max(len(y), 1), 5),
    }


def reliability_table(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[dict]:
    """Predictions sorted and cut into ``bins`` groups of equal size (deciles: with a 5 % base rate, equal-width
    bins would put almost everything in the first); per bin the range and mean predicted, the observed open
    rate and the count. Calibrated means predicted ≈ observed in every bin."""
    p = np.asarray(probabilities, dtype=float)
    y = np.asarray(labels, dtype=float)
    order = np.argsort(p, kind="stable")
    table = []
    for part in np.array_split(order, min(bins, max(len(p), 1))):
        if len(part):
            table.append(
                {
                    "low": round(float(p[part].min()), 5),
                    "high": round(float(p[part].max()), 5),
                    "predicted": round(float(p[part].mean()), 5),
                    "observed": round(float(y[part].mean()), 5),
                    "count": len(part),
                }
            )
    return table


@dataclass
class ClickModel:
    """P(open) for (customer, type, local hour of week). ``estimator`` None: the activity prior alone.

    ``profiles`` (index customer): recency_score, frequency_score, monetary_score, segment, platform as of the
    fit; ``activity`` the snapshot of everyone's hours as of the fit.
    """

    shares: Shares
    prior: ActivityPrior
    activity: ActivitySnapshot
    profiles: pd.DataFrame
    base_rate: float = DEFAULT_BASE_RATE
    estimator: object | None = None
    family: str = "prior"
    vocabulary: dict[str, list[str]] = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    @classmethod
    def cold(cls) -> ClickModel:
        """No data at all: the uniform week at the default base rate."""
        shares = Shares(population=np.full(HOURS_PER_WEEK, 1 / HOURS_PER_WEEK))
        return cls(
            shares=shares,
            prior=ActivityPrior.at_rate(DEFAULT_BASE_RATE, shares.population),
            activity=ActivitySnapshot.empty(),
            profiles=_empty_profiles(),
        )

    # Fitting ------------------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        hours: ActiveHours,
        history: History,
        *,
        now_ms: int,
        profiles: Callable[[int], pd.DataFrame] | pd.DataFrame | None = None,
        label_since_ms: int | None = None,
        max_rows: int = MAX_ROWS,
        min_sends: int = MIN_SENDS,
        min_opens: int = MIN_OPENS,
        seed: int = 0,
        progress: Callable[[str], None] | None = None,
    ) -> ClickModel:
        """Fits on pushes sent in [label_since_ms, now − 1 day) with their outcome (``history.sends``: customer,
        type, sent_ms, how, opened); the rest of ``history`` (earlier pushes, feedback) feeds the features.

        ``profiles(as_of_ms)`` gives the RFM scores, segment and platform as of an instant (or one frame
        for all instants)."""
        say = progress or (lambda message: None)
        profile_of = _profile_source(profiles)
        shares, share_report = fit_shares(hours, as_of_ms=now_ms, seed=seed)
        params = {
            "shares": {"sigma_hours": shares.sigma_hours, "pooling": shares.pooling, "prior_days": shares.prior_days}
        }
        sends = history.sends
        labelled = sends["sent_ms"].to_numpy(dtype=np.int64) < now_ms - MATURE_MS
        if label_since_ms is not None:
            labelled &= sends["sent_ms"].to_numpy(dtype=np.int64) >= label_since_ms
        rows = sends[labelled].sort_values("sent_ms", kind="stable").tail(max_rows)
        n_sends, n_opens = len(rows), int(rows["opened"].sum()) if len(rows) else 0
        base_rate = (n_opens + 20 * DEFAULT_BASE_RATE) / (n_sends + 20)
        model = cls(
            shares=shares,
            prior=ActivityPrior.at_rate(base_rate, shares.population),
            activity=ActivitySnapshot.of(hours, now_ms),
            profiles=profile_of(now_ms),
            base_rate=base_rate,
            vocabulary={},
            params=params,
        )
        model.metrics = {"sends": n_sends, "opens": n_opens, "base_rate": round(base_rate, 5), "shares": share_report}
        if n_sends < min_sends or n_opens < min_opens:
            model.metrics["chosen"] = "prior"
            model.metrics["reason"] = f"fewer than {min_sends} answered pushes or {min_opens} opens"
            return model
        say(f"click model: features of {n_sends} pushes")
        model.vocabulary = _vocabulary(rows, model.profiles)
        features = model._training_features(hours, history, rows, profile_of)
        labels = rows["opened"].to_numpy(dtype=int)
        model._select_and_fit(features, labels, rows, seed=seed, say=say)
        return model

    def _training_features(self, hours: ActiveHours, history: History, rows: pd.DataFrame, profile_of) -> np.ndarray:
        """Each push as of its own time: history before it, activity and profile of the week it fell in."""
        sent = rows["sent_ms"].to_numpy(dtype=np.int64)
        customers = rows["customer"].to_numpy()
        how = rows["how"].to_numpy(dtype=np.int64)
        types = self._codes("type", rows["type"].to_numpy(dtype=object))
        snapshot_ms = (sent // WEEK_MS) * WEEK_MS
        out = np.empty((len(rows), len(FEATURES)), dtype=np.float32)
        recent = history_features(history, customers, sent, self.base_rate)
        for cut in np.unique(snapshot_ms):
            where = np.nonzero(snapshot_ms == cut)[0]
            snapshot = ActivitySnapshot.of(hours, int(cut))
            shares = Shares(snapshot.population(), self.shares.sigma_hours, self.shares.pooling, self.shares.prior_days)
            person = self._person_features(
                customers[where],
                at_ms=sent[where],
                snapshot=snapshot,
                profiles=profile_of(int(cut)),
                recent={name: values[where] for name, values in recent.items()},
            )
            hourly = _share_features(snapshot, shares, snapshot.rows(customers[where]), how[where])
            out[where] = self._assemble(person, hourly, types[where], how[where])
        return out

    def _select_and_fit(self, features: np.ndarray, labels: np.ndarray, rows: pd.DataFrame, *, seed: int, say) -> None:
        """Fit | calibrate | test in time order. The prior and each family are fitted on the first part, the
        families calibrated (every map in CALIBRATIONS) on the second, everything scored on the last. The best by
        log loss is refitted on fit + calibrate and calibrated on the last part (the prior: refitted on all);
        the base rate is scored as the yardstick."""
        n = len(labels)
        a, b = int(n * SPLITS[0]), int(n * SPLITS[1])
        parts = (slice(0, a), slice(a, b), slice(b, n))
        if min(labels[p].sum() for p in parts) < 5:
            self.metrics["chosen"] = "prior"
            self.metrics["reason"] = "too few opens in one of the time splits"
            return
        test_y = labels[parts[2]]
        sends_7d = features[:, FEATURES.index("sends_7d")]
        share = np.exp(features[:, FEATURES.index("activity")]) / HOURS_PER_WEEK
        self.prior = _fit_prior(share[parts[0]], sends_7d[parts[0]], labels[parts[0]])
        candidates = {
            "base_rate": {"test": scores_of(np.full(len(test_y), labels[parts[0]].mean()), test_y)},
            "prior": {"test": scores_of(self.prior.predict(share[parts[2]], sends_7d[parts[2]]), test_y)},
        }
        best = ("prior", None)
        for family in FAMILIES:
            say(f"click model: {family}")
            estimator = _fit(_estimator(family, seed), features[parts[0]], labels[parts[0]])
            raw = _proba(estimator, features[parts[2]])
            entry = {"raw": scores_of(raw, test_y)}
            tables = {}
            for method in CALIBRATIONS:
                calibrator = _calibrate(estimator, method, features[parts[1]], labels[parts[1]], self.prior)
                calibrated = _proba(calibrator, features[parts[2]])
                entry[method] = scores_of(calibrated, test_y)
                tables[method] = reliability_table(calibrated, test_y)
            entry["calibration"] = _choose_calibration(entry)
            entry["test"] = entry[entry["calibration"]]
            entry["reliability"] = tables[entry["calibration"]]
            candidates[family] = entry
            if entry["test"]["log_loss"] < candidates[best[0]]["test"]["log_loss"]:
                best = (family, entry["calibration"])
        family, method = best
        self.metrics.update(
            chosen=family,
            calibration=method,
            split={"fit": a, "calibrate": b - a, "test": n - b, "test_from_ms": int(rows["sent_ms"].iloc[b])},
            models=candidates,
        )
        if family == "prior":
            prior_p = self.prior.predict(share[parts[2]], sends_7d[parts[2]])
            self.metrics["reliability"] = reliability_table(prior_p, test_y)
            self.prior = _fit_prior(share, sends_7d, labels)
            return
        self.metrics["reliability"] = candidates[family]["reliability"]
        say(f"click model: refitting {family}")
        fit_part = slice(0, b)
        estimator = _fit(_estimator(family, seed), features[fit_part], labels[fit_part])
        self.estimator = _calibrate(estimator, method, features[parts[2]], labels[parts[2]], self.prior)
        self.family = family
        self.params.update(family=family, calibration=method)

    # Scoring ------------------------------------------------------------------------------------------

    def predict(
        self,
        customers,
        types,
        hours_of_week,
        *,
        now_ms: int,
        history: History | None = None,
        pushes_last_7d: np.ndarray | None = None,
        block: int = 200_000,
    ) -> np.ndarray:
        """P(open) per (customer, type, local hour of week) row, as of ``now_ms``; ``history`` holds the
        customers' pushes and feedback of the last 30 days (empty: none). ``pushes_last_7d`` overrides the
        count from the history (to ask "and after one more push?")."""
        customers = np.asarray(customers).ravel()
        n = len(customers)
        how = np.broadcast_to(np.asarray(hours_of_week, dtype=np.int64) % HOURS_PER_WEEK, (n,))
        types = np.broadcast_to(np.asarray(types, dtype=object), (n,))
        type_codes = self._codes("type", types)
        person, people = pd.factorize(customers)
        at_ms = np.full(len(people), now_ms, dtype=np.int64)
        recent = history_features(history or History.empty(), np.asarray(people), at_ms, self.base_rate)
        if pushes_last_7d is not None:
            recent["sends_7d"] = np.zeros(len(people))
        per_person = self._person_features(
            np.asarray(people), at_ms=at_ms, snapshot=self.activity, profiles=self.profiles, recent=recent
        )
        hourly = _share_features(self.activity, self.shares, self.activity.rows(people)[person], how)
        sends_7d = FEATURES.index("sends_7d")
        out = np.empty(n)
        for start in range(0, n, block):
            part = slice(start, min(start + block, n))
            features = self._assemble(
                per_person[person[part]], {k: v[part] for k, v in hourly.items()}, type_codes[part], how[part]
            )
            if pushes_last_7d is not None:
                features[:, sends_7d] = np.broadcast_to(np.asarray(pushes_last_7d, dtype=float), (n,))[part]
            if self.estimator is None:
                out[part] = _expit(self.prior.logit(features))
            else:
                out[part] = _proba(self.estimator, features)
        return out

    def _person_features(self, people, *, at_ms, snapshot: ActivitySnapshot, profiles, recent) -> np.ndarray:
        """(len(people), len(PERSON_FEATURES)): what does not depend on the hour, per person (and instant)."""
        m = len(people)
        columns: dict[str, np.ndarray] = {}
        rows = snapshot.rows(people)
        known, safe = rows >= 0, np.maximum(rows, 0)
        days = snapshot.active_days[safe] if len(snapshot.active_days) else np.zeros(m)
        columns["active_days"] = np.log1p(np.where(known, days, 0))
        last = snapshot.last_ms[safe] if len(snapshot.last_ms) else np.zeros(m)
        idle = (np.asarray(at_ms) - last) / DAY_MS
        columns["idle_days"] = np.where(known, np.log1p(np.clip(idle, 0, 3650)), np.log1p(3650))
        table = profiles.reindex(pd.Index(people)) if len(profiles) else pd.DataFrame(index=pd.Index(people))
        for name in ("recency_score", "frequency_score", "monetary_score"):
            values = table[name] if name in table else pd.Series(np.nan, index=table.index)
            columns[name] = pd.to_numeric(values, errors="coerce").fillna(UNKNOWN).to_numpy(float)
        for name in ("segment", "platform"):
            values = table[name].to_numpy(dtype=object) if name in table else np.full(m, "", dtype=object)
            columns[name] = self._codes(name, values)
        for name in HISTORY_FEATURES:
            columns[name] = recent[name]
        columns["network"] = self._codes("network", recent["network"])
        columns["app_state"] = self._codes("app_state", recent["app_state"])
        return np.column_stack([np.asarray(columns[name], dtype=np.float32) for name in PERSON_FEATURES])

    @staticmethod
    def _assemble(person: np.ndarray, hourly: dict[str, np.ndarray], types: np.ndarray, how: np.ndarray):
        out = np.empty((len(how), len(FEATURES)), dtype=np.float32)
        out[:, PERSON_COLUMNS] = person
        for name, values in hourly.items():
            out[:, FEATURES.index(name)] = values
        out[:, FEATURES.index("hour")] = how % 24
        out[:, FEATURES.index("weekday")] = how // 24
        out[:, FEATURES.index("type")] = types
        return out

    def _codes(self, name: str, values: np.ndarray) -> np.ndarray:
        """Category codes in the fit's vocabulary; unknown (or empty) → -1, which the trees treat as missing."""
        vocabulary = self.vocabulary.get(name, [])
        if not vocabulary:
            return np.full(len(values), UNKNOWN)
        codes, distinct = pd.factorize(pd.Series(values, dtype=object).fillna("").astype(str))
        return pd.Index(vocabulary).get_indexer(distinct).astype(float)[codes] if len(distinct) else np.zeros(0)


def _vocabulary(rows: pd.DataFrame, profiles: pd.DataFrame) -> dict[str, list[str]]:
    def distinct(values) -> list[str]:
        values = pd.Series(values, dtype=object).dropna().astype(str)
        return sorted(v for v in values.unique() if v)

    vocabulary = {"type": distinct(rows["type"])}
    for name in ("segment", "platform"):
        vocabulary[name] = distinct(profiles[name]) if name in profiles else []
    vocabulary["network"] = ["cellular", "none", "unknown", "wifi"]
    vocabulary["app_state"] = ["background", "foreground", "killed"]
    return vocabulary


def _empty_profiles() -> pd.DataFrame:
    columns = ["recency_score", "frequency_score", "monetary_score", "segment", "platform"]
    return pd.DataFrame(columns=columns, index=pd.Index([], dtype=object))


def _profile_source(profiles) -> Callable[[int], pd.DataFrame]:
    if profiles is None:
        return lambda as_of_ms: _empty_profiles()
    if isinstance(profiles, pd.DataFrame):
        return lambda as_of_ms: profiles
    cache: dict[int, pd.DataFrame] = {}

    def get(as_of_ms: int) -> pd.DataFrame:
        if as_of_ms not in cache:
            cache[as_of_ms] = profiles(as_of_ms)
        return cache[as_of_ms]

    return get


def _fit_prior(share, sends_7d, labels) -> ActivityPrior:
    from sklearn.linear_model import LogisticRegression

    x = np.column_stack([np.log(HOURS_PER_WEEK * share), sends_7d])
    regression = LogisticRegression(C=1.0).fit(x, labels)
    slope, fatigue = regression.coef_[0]
    # Trust the data for the hour effect; fatigue only in the direction it must go.
    return ActivityPrior(float(regression.intercept_[0]), slope=float(slope), fatigue=max(float(-fatigue), 0.0))


def _fit(estimator, features: np.ndarray, labels: np.ndarray):
    from threadpoolctl import threadpool_limits

    # One OpenMP thread (as in timing.py): next to busy workers more threads spin and run far slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        return estimator.fit(features, labels)


@dataclass
class Calibrated:
    """A fitted classifier and a calibration map from its scores to probabilities, learned on held-out pushes:

    - ``sigmoid`` (Platt): logistic regression on the logit of the score; keeps the trees' ranking;
    - ``isotonic``: monotone steps; fits any shape, but ties hours the trees told apart;
    - ``stacked``: logistic regression on the logits of the score and of the activity prior, so the prior's
      fine-grained ranking of hours survives where the trees' steps are coarse.
    """

    estimator: object
    method: str
    calibrator: object
    prior: ActivityPrior | None = None

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        score = self.estimator.predict_proba(features)[:, 1]
        if self.method == "isotonic":
            p = self.calibrator.predict(score)
        else:
            p = self.calibrator.predict_proba(self._inputs(score, features))[:, 1]
        return np.column_stack([1 - p, p])

    def _inputs(self, score: np.ndarray, features: np.ndarray) -> np.ndarray:
        columns = [_logit_of(score)]
        if self.method == "stacked":
            columns.append(self.prior.logit(features))
        return np.column_stack(columns)


def _logit_of(score: np.ndarray) -> np.ndarray:
    score = np.clip(score, 1e-4, 1 - 1e-4)
    return np.log(score / (1 - score))


CALIBRATIONS = ("sigmoid", "stacked", "isotonic")
ISOTONIC_MARGIN = 0.005  # relative log-loss gain isotonic needs over the stacked map to be chosen


def _choose_calibration(scores: dict) -> str:
    """``stacked`` (sigmoid is the special case with no weight on the prior, so it is only reported), unless
    isotonic is clearly better: its steps tie hours the planner has to choose between, and on held-out pushes
    a hair of log loss says less than the prior's finer ranking of a person's hours."""
    if scores["isotonic"]["log_loss"] < scores["stacked"]["log_loss"] * (1 - ISOTONIC_MARGIN):
        return "isotonic"
    return "stacked"


def _calibrate(estimator, method: str, features: np.ndarray, labels: np.ndarray, prior: ActivityPrior) -> Calibrated:
    # By hand rather than CalibratedClassifierCV(FrozenEstimator(...)): that one scores the held-out part
    # once per internal fold, which made calibrating slower than fitting.
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    score = _proba(estimator, features)
    if method == "isotonic":
        calibrator = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip").fit(score, labels)
        return Calibrated(estimator=estimator, method=method, calibrator=calibrator)
    calibrated = Calibrated(estimator=estimator, method=method, calibrator=None, prior=prior)
    calibrated.calibrator = LogisticRegression(C=1e4).fit(calibrated._inputs(score, features), labels)
    return calibrated


def _proba(estimator, features: np.ndarray) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        return estimator.predict_proba(features)[:, 1]


# Checks ---------------------------------------------------------------------------------------------------------


def rank_correlation(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``predicted`` with the same row of ``truth`` (ties averaged)."""
    a = pd.DataFrame(np.asarray(predicted, dtype=float)).rank(axis=1).to_numpy(copy=True)
    b = pd.DataFrame(np.asarray(truth, dtype=float)).rank(axis=1).to_numpy(copy=True)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1))
    return np.where(denominator > 0, (a * b).sum(axis=1) / np.maximum(denominator, 1e-300), 0.0)
