"""The person's own hit rates shrunk toward the population by how much history they have, with the weekday /
weekend split where their history supports it: the send-time policy that still works on a week or two of logs.

Three levels, each shrunk toward the one above by a number of days of evidence:

    population   the target weekday's profile (PopulationProfile.dow_hour, itself shrunk toward the whole week)
    person       (own hits + person_days x population) / (own active days + person_days)
    day type     (own hits on weekdays, or on weekends + day_type_days x person) / (such days + day_type_days)

A person with one active day keeps (nearly) the population's hours when ``person_days`` is large; a person
with many gets their own. How large, whether the day type counts, and how much the person's hours are smoothed
over neighbours are chosen on windows carved from the training period (model.py), never fixed for one dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.ml.timing.days import HOURS, PopulationProfile, Targets, UserDays, dow_of_day, window_hits


def is_weekend(dow: np.ndarray) -> np.ndarray:
    """0 for Monday to Friday, 1 for Saturday and Sunday: people keep different hours on days off."""
    return (np.asarray(dow) >= 5).astype(np.int64)


@dataclass(frozen=True)
class ProfileCounts:
    """Per target day: the population's profile for its weekday and the person's own evidence as of a day."""

    root: np.ndarray  # (n, 24) population rate of each hour's window on the target's weekday
    days: np.ndarray  # (n,) the person's active days
    hits: np.ndarray  # (n, 24) of them, days active in each hour's window
    type_days: np.ndarray  # (n,) the person's active days of the target's type (weekday or weekend)
    type_hits: np.ndarray  # (n, 24) of them, days active in each hour's window


def profile_counts(
    history: UserDays, population: PopulationProfile, targets: Targets, *, as_of_day: int
) -> ProfileCounts:
    """The counts behind every ``Shrinkage``, from history strictly before ``as_of_day``."""
    history = history.between(end_day=as_of_day).of_users(np.unique(targets.user))
    users = np.unique(history.user)
    row = np.searchsorted(users, history.user)
    hits = window_hits(history.bits).astype(float)
    day_type = is_weekend(history.dow)
    own_hits = np.zeros((len(users) + 1, 24))
    np.add.at(own_hits, row, hits)
    own_days = np.bincount(row, minlength=len(users) + 1).astype(float)
    type_hits = np.zeros((len(users) + 1, 2, 24))
    np.add.at(type_hits, (row, day_type), hits)
    type_days = np.zeros((len(users) + 1, 2))
    np.add.at(type_days, (row, day_type), 1.0)

    # People without history point at the last row, which stays empty: they get the population alone.
    who = pd.Index(users).get_indexer(targets.user)
    who = np.where(who >= 0, who, len(users))
    target_dow = dow_of_day(targets.day)
    target_type = is_weekend(target_dow)
    return ProfileCounts(
        root=population.dow_hour[target_dow],
        days=own_days[who],
        hits=own_hits[who],
        type_days=type_days[who, target_type],
        type_hits=type_hits[who, target_type],
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
    """How much a person's own hours count. ``person_days`` None: the population alone; ``day_type_days`` None:
    weekdays and weekends pooled; ``sigma``: hours of smoothing of the person's own hits (0: none)."""

    person_days: float | None
    day_type_days: float | None = None
    sigma: float = 0.0

    def scores(self, counts: ProfileCounts) -> np.ndarray:
        root = counts.root
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
    Shrinkage(person_days, day_type_days, sigma)
    for sigma in (0.0, 1.0)
    for day_type_days in (None, 4.0, 1.0)
    for person_days in (30.0, 10.0, 3.0, 1.0)
)
