"""User-days: one row per (person, calendar day in some clock) with a 24-bit mask of the hours in which the
person had at least one event; the population's profile over them; the (person, day) pairs to score."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.ml.clock import DAY_MS, HOUR_MS, HOURS_PER_WEEK

HOURS = np.arange(24)
# Hit window of hour h: h and h + 1, no wrap past midnight (hour 23 covers only itself).
WINDOW_MASKS = np.left_shift(1, HOURS) | np.where(HOURS < 23, np.left_shift(1, np.minimum(HOURS + 1, 23)), 0)
EPOCH = dt.date(1970, 1, 1)
UTC = dt.UTC
# Days of evidence a weekday's population profile is shrunk toward the whole week's by.
DOW_PRIOR_DAYS = 100.0


def dow_of_day(day: np.ndarray | int) -> np.ndarray:
    """Weekday (0 = Monday) of days counted from 1970-01-01, which was a Thursday."""
    return (np.asarray(day, dtype=np.int64) + 3) % 7


def window_hits(bits: np.ndarray) -> np.ndarray:
    """(n, 24) booleans: was each user-day active in the window [h, h + 1] of each hour h."""
    return (np.asarray(bits, dtype=np.int64)[:, None] & WINDOW_MASKS[None, :]) != 0


def hour_matrix(bits: np.ndarray) -> np.ndarray:
    """(n, 24) 0/1: was each user-day active in each hour."""
    return ((np.asarray(bits, dtype=np.int64)[:, None] >> HOURS[None, :]) & 1).astype(float)


@dataclass(frozen=True)
class UserDays:
    """Active days of people: ``user[i]`` was active on ``day[i]`` (days since 1970-01-01 in the clock used)
    in the hours set in the 24-bit mask ``bits[i]``. Sorted by (user, day), one row per pair."""

    user: np.ndarray
    day: np.ndarray
    bits: np.ndarray

    @classmethod
    def from_events(
        cls, users: Sequence | np.ndarray, timestamps_ms: Sequence | np.ndarray, offsets_ms: np.ndarray | None = None
    ) -> UserDays:
        """From event timestamps (ms since epoch, UTC); ``offsets_ms`` (UTC offset of each event) turns the
        clock into local time."""
        ts = np.asarray(timestamps_ms, dtype=np.int64)
        if offsets_ms is not None:
            ts = ts + np.asarray(offsets_ms, dtype=np.int64)
        frame = pd.DataFrame({"user": np.asarray(users), "day": ts // DAY_MS, "hour": (ts % DAY_MS) // HOUR_MS})
        frame = frame.drop_duplicates()
        # Hours are unique per (user, day) now, so the sum of their bits is their OR.
        frame["bits"] = np.left_shift(1, frame["hour"].to_numpy(dtype=np.int64))
        grouped = frame.groupby(["user", "day"], sort=True)["bits"].sum()
        return cls(
            user=grouped.index.get_level_values("user").to_numpy(),
            day=grouped.index.get_level_values("day").to_numpy(dtype=np.int64),
            bits=grouped.to_numpy(dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.day)

    @property
    def dow(self) -> np.ndarray:
        return dow_of_day(self.day)

    def select(self, mask: np.ndarray) -> UserDays:
        return UserDays(user=self.user[mask], day=self.day[mask], bits=self.bits[mask])

    def between(self, first_day: int | None = None, end_day: int | None = None) -> UserDays:
        """Rows with first_day <= day < end_day."""
        mask = np.ones(len(self), dtype=bool)
        if first_day is not None:
            mask &= self.day >= first_day
        if end_day is not None:
            mask &= self.day < end_day
        return self.select(mask)

    def of_users(self, users: np.ndarray) -> UserDays:
        return self.select(np.isin(self.user, users))


@dataclass(frozen=True)
class PopulationProfile:
    """How likely an active person is to be active in each hour's window: overall (24) and per weekday (7 x 24,
    shrunk toward the overall profile so a thin weekday does not get a noisy peak). Read ``dow_hour`` as an
    hour-of-week profile (index = weekday * 24 + hour, 0 = Monday 00:00).

    Also how far people's habits sit from each other: hours are counted from ``day_start`` (the quietest
    hour, so that a night owl's 23:00 and 01:00 are close), ``mean_hour`` is the average active hour of a day
    on that scale, and ``shift_prior_days`` is how many active days it takes before a person's own average
    hour counts as much as the population's (within-person variance over between-person variance).
    """

    hour: np.ndarray
    dow_hour: np.ndarray
    days: int
    day_start: int = 0
    mean_hour: float = 12.0
    shift_prior_days: float = 1e6

    @classmethod
    def from_user_days(cls, user_days: UserDays, *, prior_days: float = DOW_PRIOR_DAYS) -> PopulationProfile:
        if len(user_days) == 0:
            return cls.uniform()
        bits, dows = user_days.bits, user_days.dow
        # Hour by hour rather than as (days, 24) matrices: a big log has millions of user-days.
        sums = np.stack([np.bincount(dows, weights=(bits & mask) != 0, minlength=7) for mask in WINDOW_MASKS], axis=1)
        counts = np.bincount(dows, minlength=7).astype(float)
        hour = sums.sum(axis=0) / len(user_days)
        dow_hour = (sums + prior_days * hour) / (counts[:, None] + prior_days)
        day_start = int(np.argmin([np.count_nonzero((bits >> h) & 1) for h in HOURS]))
        day_mean = day_mean_hours(user_days.bits, day_start)
        frame = pd.DataFrame({"user": user_days.user, "hour": day_mean})
        per_user = frame.groupby("user")["hour"].agg(["mean", "var", "count"])
        per_user = per_user[per_user["count"] >= 2]
        prior = 1e6
        if len(per_user) >= 10:
            within = float(np.average(per_user["var"], weights=per_user["count"] - 1))
            between = float(per_user["mean"].var() - np.mean(within / per_user["count"]))
            if between > 0:
                prior = min(within / between, 1e6)
        return cls(
            hour=hour,
            dow_hour=dow_hour,
            days=len(user_days),
            day_start=day_start,
            mean_hour=float(day_mean.mean()),
            shift_prior_days=prior,
        )

    @classmethod
    def uniform(cls) -> PopulationProfile:
        hour = np.full(24, 2 / 24)
        return cls(hour=hour, dow_hour=np.tile(hour, (7, 1)), days=0)

    @property
    def best_hour(self) -> int:
        return int(np.argmax(self.hour))

    def hour_of_week(self) -> np.ndarray:
        return self.dow_hour.reshape(HOURS_PER_WEEK)

    def to_dict(self) -> dict:
        return {
            "hour": self.hour.round(6).tolist(),
            "dow_hour": self.dow_hour.round(6).tolist(),
            "days": self.days,
            "day_start": self.day_start,
            "mean_hour": self.mean_hour,
            "shift_prior_days": self.shift_prior_days,
        }

    @classmethod
    def from_dict(cls, data: dict) -> PopulationProfile:
        return cls(
            hour=np.asarray(data["hour"], float),
            dow_hour=np.asarray(data["dow_hour"], float),
            days=data["days"],
            day_start=data.get("day_start", 0),
            mean_hour=data.get("mean_hour", 12.0),
            shift_prior_days=data.get("shift_prior_days", 1e6),
        )


def day_mean_hours(bits: np.ndarray, day_start: int) -> np.ndarray:
    """Mean active hour of each user-day, counting hours from ``day_start``."""
    bits = np.asarray(bits, dtype=np.int64)
    total, count = np.zeros(len(bits)), np.zeros(len(bits))
    for h in HOURS:
        active = (bits >> h) & 1
        total += active * ((h - day_start) % 24)
        count += active
    return total / np.maximum(count, 1.0)


def shift_profiles(profiles: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Each row's 24-hour profile moved later by ``shift`` hours (fractional, circular, linear interpolation)."""
    source = HOURS[None, :] - shift[:, None]
    low = np.floor(source)
    frac = source - low
    low = low.astype(np.int64) % 24
    rows = np.arange(len(profiles))[:, None]
    return (1 - frac) * profiles[rows, low] + frac * profiles[rows, (low + 1) % 24]


@dataclass(frozen=True)
class Targets:
    """Days to choose an hour for: person ``user[i]`` on ``day[i]`` (same clock as the history)."""

    user: np.ndarray
    day: np.ndarray

    @classmethod
    def of(cls, user_days: UserDays) -> Targets:
        return cls(user=user_days.user, day=user_days.day)

    def __len__(self) -> int:
        return len(self.day)
