"""The person's own hit rates shrunk toward the population by how much history they have, with the weekday /
weekend split where their history supports it: the send-time policy that still works on a week or two of logs.

Three levels, each shrunk toward the one above by a number of days of evidence:

    root         either the target weekday's population profile (PopulationProfile.dow_hour, itself shrunk
                 toward the whole week) or the person's "neighbours" (HourNeighbours): what people who used the
                 same hours on their other days did on a day of the target's type
    person       (own hits + person_days x root) / (own active days + person_days)
    day type     (own hits on weekdays, or on weekends + day_type_days x person) / (such days + day_type_days)

A person with one active day keeps (nearly) the root's hours when ``person_days`` is large; a person with many
gets their own. Which root, how large, whether the day type counts, and how much the person's hours are smoothed
are chosen on windows carved from the training period (model.py), never fixed for one dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.ml.timing.days import (
    HOURS,
    PopulationProfile,
    Targets,
    UserDays,
    dow_of_day,
    hour_matrix,
    window_hits,
)

# Days of evidence each row of HourNeighbours is shrunk toward the population's profile by: an hour few people
# used says little about what they do on other days. A regulariser, not a tuned constant.
NEIGHBOUR_PRIOR_DAYS = 10.0
NEIGHBOUR_CHUNK_ROWS = 200_000


def is_weekend(dow: np.ndarray) -> np.ndarray:
    """0 for Monday to Friday, 1 for Saturday and Sunday: people keep different hours on days off."""
    return (np.asarray(dow) >= 5).astype(np.int64)


@dataclass(frozen=True)
class ProfileCounts:
    """Per target day: the population's profile for its weekday and the person's own evidence as of a day."""

    root: np.ndarray  # (n, 24) population rate of each hour's window on the target's weekday
    neighbours: np.ndarray  # (n, 24) the same from people with the person's hours (the root for newcomers)
    days: np.ndarray  # (n,) the person's active days
    hits: np.ndarray  # (n, 24) of them, days active in each hour's window
    type_days: np.ndarray  # (n,) the person's active days of the target's type (weekday or weekend)
    type_hits: np.ndarray  # (n, 24) of them, days active in each hour's window


def _per_user_by_day_type(history: UserDays) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sorted users and, per user and day type: active days, window hits (users x 2 x 24) and hours used, each
    day's hours counting 1 in all (a long day is not more evidence than a short one)."""
    users, row = np.unique(history.user, return_inverse=True)
    day_type = is_weekend(history.dow)
    days = np.zeros((len(users), 2))
    np.add.at(days, (row, day_type), 1.0)
    hits = np.zeros((len(users), 2, 24))
    np.add.at(hits, (row, day_type), window_hits(history.bits).astype(float))
    hours = hour_matrix(history.bits)
    hours /= np.maximum(hours.sum(axis=1, keepdims=True), 1.0)
    used = np.zeros((len(users), 2, 24))
    np.add.at(used, (row, day_type), hours)
    return users, days, hits, used


@dataclass(frozen=True)
class HourNeighbours:
    """``rates[a, b, g, h]``: how often people who used hour g on a day of type a (0 weekday, 1 weekend) were
    active in the window of hour h on another day, of type b. Learnt from everyone's pairs of distinct active
    days, so it knows that an evening person stays one, in whatever time zone, and that days off start later."""

    rates: np.ndarray  # (2, 2, 24, 24)

    @classmethod
    def from_user_days(
        cls, user_days: UserDays, *, prior_days: float = NEIGHBOUR_PRIOR_DAYS, chunk_rows: int = NEIGHBOUR_CHUNK_ROWS
    ) -> HourNeighbours:
        pairs = np.zeros((2, 2, 24, 24))
        weight = np.zeros((2, 2, 24))
        type_hits, type_days = np.zeros((2, 24)), np.zeros(2)
        # In chunks of whole people (rows are sorted by person): a big log has millions of user-days, and
        # (user-days x 24) matrices of all of them would not fit in memory.
        user = user_days.user
        bounds = np.append(np.flatnonzero(np.r_[True, user[1:] != user[:-1]]), len(user_days))
        first = 0
        while first < len(user_days):
            # The last person boundary within chunk_rows, or the next one when a single person has more rows.
            last = bounds[np.searchsorted(bounds, first + chunk_rows, side="right") - 1]
            if last <= first:
                last = bounds[np.searchsorted(bounds, first, side="right")]
            chunk = user_days.select(np.arange(first, last))
            _, days, hits, used = _per_user_by_day_type(chunk)
            day_hours = hour_matrix(chunk.bits)
            day_hours /= np.maximum(day_hours.sum(axis=1, keepdims=True), 1.0)
            day_hits = window_hits(chunk.bits).astype(float)
            day_type = is_weekend(chunk.dow)
            for a in range(2):
                for b in range(2):
                    pairs[a, b] += used[:, a].T @ hits[:, b]
                    weight[a, b] += used[:, a].T @ days[:, b]
                    if a == b:
                        # The same day paired with itself says nothing about other days: take it out.
                        same = day_type == a
                        pairs[a, b] -= day_hours[same].T @ day_hits[same]
                        weight[a, b] -= day_hours[same].sum(axis=0)
            type_hits += hits.sum(axis=0)
            type_days += days.sum(axis=0)
            first = last
        population = type_hits / np.maximum(type_days, 1.0)[:, None]
        if not type_days.any():
            population[:] = 2 / 24
        rates = (pairs + prior_days * population[None, :, None, :]) / (
            np.maximum(weight, 0.0)[:, :, :, None] + prior_days
        )
        return cls(rates=rates)


def profile_counts(
    history: UserDays,
    population: PopulationProfile,
    targets: Targets,
    *,
    as_of_day: int,
    neighbours: HourNeighbours | None = None,
) -> ProfileCounts:
    """The counts behind every ``Shrinkage``, from history strictly before ``as_of_day``. Without
    ``neighbours`` (learnt from the same history) the neighbour root is the population's."""
    history = history.between(end_day=as_of_day).of_users(np.unique(targets.user))
    users, days, hits, used = _per_user_by_day_type(history)
    # People without history point at an extra, empty row: they get the root alone.
    days, hits, used = (np.concatenate([x, np.zeros((1, *x.shape[1:]))]) for x in (days, hits, used))
    who = pd.Index(users).get_indexer(targets.user)
    who = np.where(who >= 0, who, len(users))
    target_dow = dow_of_day(targets.day)
    target_type = is_weekend(target_dow)
    root = population.dow_hour[target_dow]
    if neighbours is None:
        near = root
    else:
        # The person's hours of each day type, mapped to the target's type, averaged over their active days.
        mapped = np.einsum("uag,abgh->ubh", used, neighbours.rates)[who, target_type]
        total = days.sum(axis=1)[who]
        near = np.where(total[:, None] > 0, mapped / np.maximum(total, 1.0)[:, None], root)
    return ProfileCounts(
        root=root,
        neighbours=near,
        days=days.sum(axis=1)[who],
        hits=hits.sum(axis=1)[who],
        type_days=days[who, target_type],
        type_hits=hits[who, target_type],
    )


def smoothing_kernel(sigma: float) -> np.ndarray:
    """(24, 24) Gaussian weights over neighbouring hours, around the clock; each column sums to 1, so a rate
    stays a rate. People drift by an hour from day to day, and on a short log an hour next to one they used is
    likelier than one far away."""
    distance = np.abs(HOURS[:, None] - HOURS[None, :])
    kernel = np.exp(-0.5 * (np.minimum(distance, 24 - distance) / sigma) ** 2)
    return kernel / kernel.sum(axis=0, keepdims=True)


@dataclass(frozen=True)
class Shrinkage:
    """How much a person's own hours count. ``person_days`` None: the root alone; ``day_type_days`` None:
    weekdays and weekends pooled; ``sigma``: hours of smoothing of the person's own hits (0: none); ``root``:
    "population" or "neighbours"."""

    person_days: float | None
    day_type_days: float | None = None
    sigma: float = 0.0
    root: str = "population"

    def scores(self, counts: ProfileCounts) -> np.ndarray:
        root = counts.root if self.root == "population" else counts.neighbours
        if self.person_days is None:
            return root
        hits, type_hits = counts.hits, counts.type_hits
        if self.sigma:
            kernel = smoothing_kernel(self.sigma)
            hits, type_hits = hits @ kernel, type_hits @ kernel
        person = (hits + self.person_days * root) / (counts.days[:, None] + self.person_days)
        if self.day_type_days is None:
            return person
        return (type_hits + self.day_type_days * person) / (counts.type_days[:, None] + self.day_type_days)


# Simplest first, so that it wins ties: the population, then the most shrinkage, pooled days, no smoothing.
SHRINKAGES = (Shrinkage(None),) + tuple(
    Shrinkage(person_days, day_type_days, sigma, root)
    for root in ("population", "neighbours")
    for sigma in (0.0, 1.0)
    for day_type_days in (None, 4.0, 1.0)
    for person_days in (30.0, 10.0, 3.0, 1.0)
)
