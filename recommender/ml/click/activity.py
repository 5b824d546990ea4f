"""Activity: when a person is around. Their active local hours, weekly snapshots of them, and each person's
share of activity per local hour of the week, shrunk toward the population's — the activity prior's input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.ml.clock import DAY_MS, HOURS_PER_WEEK, local_hour_of_week

SHARE_BLOCK = 20_000  # people whose 168 shares are held at once


@dataclass(frozen=True)
class ActiveHours:
    """The local hours in which people had at least one event: one row per (customer, local day, local hour),
    with its hour of the week and the UTC time of its first event (to cut snapshots at)."""

    customer: np.ndarray
    day: np.ndarray
    hour_of_week: np.ndarray
    first_ms: np.ndarray

    @classmethod
    def from_events(cls, customers, timestamps_ms, offsets_ms) -> ActiveHours:
        ts = np.asarray(timestamps_ms, dtype=np.int64)
        offsets = np.asarray(offsets_ms, dtype=np.int64)
        frame = pd.DataFrame(
            {
                "customer": np.asarray(customers),
                "day": (ts + offsets) // DAY_MS,
                "hour_of_week": local_hour_of_week(ts, offsets),
                "ms": ts,
            }
        )
        # Within one local day the hour of the week orders as the hour of the day does.
        grouped = frame.groupby(["customer", "day", "hour_of_week"], sort=True)["ms"].min()
        return cls(
            customer=grouped.index.get_level_values("customer").to_numpy(),
            day=grouped.index.get_level_values("day").to_numpy(dtype=np.int64),
            hour_of_week=grouped.index.get_level_values("hour_of_week").to_numpy(dtype=np.int64),
            first_ms=grouped.to_numpy(dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.day)

    def select(self, mask: np.ndarray) -> ActiveHours:
        return ActiveHours(self.customer[mask], self.day[mask], self.hour_of_week[mask], self.first_ms[mask])

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
        counts = sp.csr_matrix((np.ones(len(hours)), (row, hours.hour_of_week)), shape=(n, HOURS_PER_WEEK))
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

    def without(self, customers) -> ActivitySnapshot:
        """The snapshot without these customers' rows (erasure)."""
        keep = ~self.customers.isin(np.asarray(customers))
        if keep.all():
            return self
        return ActivitySnapshot(
            customers=self.customers[keep],
            counts=self.counts[keep].tocsr(),
            active_days=self.active_days[keep],
            last_ms=self.last_ms[keep],
            as_of_ms=self.as_of_ms,
        )

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
                scores[(sigma, pooling, prior)] = float(
                    np.sum(weight * np.log(share[person, held.hour_of_week])) / len(people)
                )
    sigma, pooling, prior = max(scores, key=scores.get)
    population_only = float(np.sum(weight * np.log(population[held.hour_of_week])) / len(people))
    report = {
        "people": int(len(people)),
        "log_likelihood": round(scores[(sigma, pooling, prior)], 4),
        "population_log_likelihood": round(population_only, 4),
    }
    # Fitted on the whole history for use; only the three numbers come from the held-out weeks.
    population = ActivitySnapshot.of(hours, as_of_ms).population()
    return Shares(population, sigma_hours=sigma, pooling=pooling, prior_days=prior), report


def share_features(snapshot: ActivitySnapshot, shares: Shares, rows: np.ndarray, hour_of_week: np.ndarray) -> dict:
    """The hour-dependent activity features of each (snapshot row, hour of week) pair, computed for a block of
    distinct people at a time (one person's 168 shares each, never one per pair)."""
    unique, inverse = np.unique(rows, return_inverse=True)
    out = {name: np.empty(len(rows)) for name in ("activity", "own_week", "own_day")}
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(0, len(unique) + SHARE_BLOCK, SHARE_BLOCK))
    for b, first in enumerate(range(0, len(unique), SHARE_BLOCK)):
        where = order[bounds[b] : bounds[b + 1]]
        parts = shares.parts(snapshot, unique[first : first + SHARE_BLOCK])
        local, hour = inverse[where] - first, hour_of_week[where]
        out["activity"][where] = np.log(HOURS_PER_WEEK * parts["share"][local, hour])
        out["own_week"][where] = np.log(HOURS_PER_WEEK * np.maximum(parts["own_week"][local, hour], 1e-9))
        out["own_day"][where] = np.log(24 * np.maximum(parts["own_day"][local, hour], 1e-9))
    out["population"] = np.log(HOURS_PER_WEEK * shares.population[hour_of_week])
    return out
