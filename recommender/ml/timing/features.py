"""The send-time model's features of each (person, day, hour): population rates and the person's own (raw,
smoothed, shrunk, recency-weighted, same-weekday) rates, as of a day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.ml.timing.days import (
    HOURS,
    PopulationProfile,
    Targets,
    UserDays,
    day_mean_hours,
    dow_of_day,
    hour_matrix,
    shift_profiles,
    window_hits,
)

FEATURES = (
    "pop",  # population rate of the window
    "pop_dow",  # same, for the target day's weekday
    "days",  # log(1 + the person's active days)
    "frac",  # the person's raw rate
    "shrunk",  # raw rate shrunk toward the population
    "smooth",  # raw rate from hours smoothed over neighbours (people drift by an hour)
    "wide",  # same, smoothed over a few hours: a single active day still says "mornings"
    "recent",  # recency-weighted rate
    "same_dow",  # rate on the target day's weekday, shrunk toward "shrunk"
    "dow_days",  # log(1 + active days on that weekday)
    "peak",  # the person's highest raw rate: how concentrated their hours are
    "last_day",  # the window was active on the person's last active day
    "idle",  # log(1 + days from the last active day to the target day)
    "shifted",  # the weekday's population profile moved to the person's (shrunk) average hour
)
MONOTONE = {
    "pop": 1,
    "pop_dow": 1,
    "frac": 1,
    "shrunk": 1,
    "smooth": 1,
    "wide": 1,
    "recent": 1,
    "same_dow": 1,
    "last_day": 1,
    "shifted": 1,
}

# Feature constants, in days of evidence. Fixed rather than tuned: the classifier learns how to weigh them.
SHRINK_DAYS = 5.0
RECENCY_HALF_LIFE_DAYS = 28.0
SMOOTH_SIGMA_HOURS = 1.0
WIDE_SIGMA_HOURS = 2.5


def hour_features(history: UserDays, population: PopulationProfile, targets: Targets, *, as_of_day: int) -> np.ndarray:
    """(n_targets, 24, len(FEATURES)) features of each candidate hour of each target day, from history
    strictly before ``as_of_day`` only. People without history get population-only values."""
    history = history.between(end_day=as_of_day).of_users(np.unique(targets.user))
    index = pd.Index(np.unique(history.user))
    n_users = len(index)
    row = index.get_indexer(history.user)
    hits = window_hits(history.bits).astype(float)
    dows = history.dow
    age = (as_of_day - history.day).astype(float)

    days = np.bincount(row, minlength=n_users).astype(float)
    counts = _sum_rows(row, hits, n_users)
    hours = hour_matrix(history.bits)
    hours /= np.maximum(hours.sum(axis=1, keepdims=True), 1.0)
    smooth_counts = _sum_rows(row, _smoothed_windows(hours, SMOOTH_SIGMA_HOURS), n_users)
    wide_counts = _sum_rows(row, _smoothed_windows(hours, WIDE_SIGMA_HOURS), n_users)
    weight = 0.5 ** (age / RECENCY_HALF_LIFE_DAYS)
    recent_counts = _sum_rows(row, hits * weight[:, None], n_users)
    recent_days = np.bincount(row, weights=weight, minlength=n_users).astype(float)
    dow_counts = np.zeros((n_users, 7, 24))
    np.add.at(dow_counts, (row, dows), hits)
    dow_days = np.zeros((n_users, 7))
    np.add.at(dow_days, (row, dows), 1.0)
    last_day = np.full(n_users, np.iinfo(np.int64).min)
    np.maximum.at(last_day, row, history.day)
    last_hits = np.zeros((n_users, 24))
    is_last = history.day == last_day[row]
    last_hits[row[is_last]] = hits[is_last]
    mean_hour = np.bincount(row, weights=day_mean_hours(history.bits, population.day_start), minlength=n_users)
    mean_hour = mean_hour / np.maximum(days, 1.0)
    shift = (mean_hour - population.mean_hour) * days / (days + population.shift_prior_days)

    n = len(targets)
    who = index.get_indexer(targets.user)
    known = who >= 0
    who = np.where(known, who, 0)
    target_dow = dow_of_day(targets.day)
    pop = np.broadcast_to(population.hour, (n, 24))
    pop_dow = population.dow_hour[target_dow]

    def per_user(values: np.ndarray, default: float | np.ndarray = 0.0) -> np.ndarray:
        taken = values[who] if n_users else np.zeros((n, *values.shape[1:]))
        return np.where(known.reshape(-1, *([1] * (taken.ndim - 1))), taken, default)

    n_days = per_user(days)[:, None]
    own_counts = per_user(counts)
    shrunk = (own_counts + SHRINK_DAYS * pop_dow) / (n_days + SHRINK_DAYS)
    same_dow_days = np.where(known, dow_days[who, target_dow], 0.0)[:, None] if n_users else np.zeros((n, 1))
    same_dow_counts = np.where(known[:, None], dow_counts[who, target_dow], 0.0) if n_users else np.zeros((n, 24))
    last = per_user(last_day.astype(float), np.nan)
    idle = np.where(np.isnan(last), 10.0, np.log1p(np.maximum(targets.day - np.nan_to_num(last), 0)))
    columns = {
        "pop": pop,
        "pop_dow": pop_dow,
        "days": np.log1p(n_days),
        "frac": own_counts / np.maximum(n_days, 1.0),
        "shrunk": shrunk,
        "smooth": per_user(smooth_counts) / np.maximum(n_days, 1.0),
        "wide": per_user(wide_counts) / np.maximum(n_days, 1.0),
        "recent": (per_user(recent_counts) + 2.0 * pop_dow) / (per_user(recent_days)[:, None] + 2.0),
        "same_dow": (same_dow_counts + 3.0 * shrunk) / (same_dow_days + 3.0),
        "dow_days": np.log1p(same_dow_days),
        "peak": (own_counts.max(axis=1, keepdims=True) / np.maximum(n_days, 1.0)),
        "last_day": per_user(last_hits),
        "idle": idle[:, None],
        "shifted": shift_profiles(pop_dow, per_user(shift)),
    }
    return np.stack([np.broadcast_to(columns[name], (n, 24)) for name in FEATURES], axis=-1)


def _smoothed_windows(hours: np.ndarray, sigma: float) -> np.ndarray:
    """Each day's hours (rows summing to 1) spread over neighbouring hours, around the clock, then summed
    over each hour's window."""
    distance = np.abs(HOURS[:, None] - HOURS[None, :])
    kernel = np.exp(-0.5 * (np.minimum(distance, 24 - distance) / sigma) ** 2)
    spread = hours @ (kernel / kernel.sum(axis=1, keepdims=True))
    return spread + np.pad(spread[:, 1:], ((0, 0), (0, 1)))


def _sum_rows(row: np.ndarray, values: np.ndarray, n_users: int) -> np.ndarray:
    out = np.zeros((n_users, values.shape[1]))
    np.add.at(out, row, values)
    return out
