"""Offline evaluation of send-time policies on an events file (the ``evaluate_timing`` command).

Protocol (DESIGN.md): ``cutoff = max(timestamp) − N days``; train = events before the cutoff, test = from
the cutoff; test users have at least one train and one test event. For every test user and UTC calendar day
with a test event, a policy picks one hour h from train data only; a hit is a test event of that user on that
day at hour h or h + 1 (no wrap past midnight).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from recommender.ml.clock import DAY_MS, HOUR_MS
from recommender.ml.timing import (
    PopulationProfile,
    Targets,
    UserDays,
    fit_timing_model,
    window_hits,
)

FIXED_HOUR = 12  # the independent evaluator's fixed hour for everyone


def load_events(path: str) -> pd.DataFrame:
    """Events in the RetailRocket layout (optionally gzipped) as ``timestamp`` (int ms) and ``user`` (int code).

    Rows without a usable timestamp, visitor or item are dropped, as evaluate_recommender's loader
    (recommender/ml/data.py) drops them, so that both commands see the same cutoff and test users.
    """
    frame = pd.read_csv(path, usecols=["timestamp", "visitorid", "itemid"], dtype={"visitorid": str, "itemid": str})
    timestamp = pd.to_numeric(frame["timestamp"], errors="coerce")
    keep = (timestamp.notna() & frame["visitorid"].notna() & frame["itemid"].notna()).to_numpy()
    users, _ = pd.factorize(frame["visitorid"][keep])
    return pd.DataFrame({"timestamp": timestamp[keep].to_numpy(dtype=np.int64), "user": users.astype(np.int64)})


@dataclass(frozen=True)
class TimingSplit:
    cutoff_ms: int
    train: UserDays  # every train user-day (all users: the population learns from them too)
    test: UserDays  # the user-days to pick an hour for: test users, test events only
    train_events: int
    train_hours: pd.DataFrame  # user, hour of every train event of the test users (for the mode-hour baseline)

    @property
    def as_of_day(self) -> int:
        # First day not fully in the past: the cutoff's day is partly train, partly test.
        return -(-self.cutoff_ms // DAY_MS)


def split_events(events: pd.DataFrame, test_days: int) -> TimingSplit:
    if events.empty:
        raise ValueError("no events")
    cutoff = int(events["timestamp"].max()) - test_days * DAY_MS
    is_train = events["timestamp"].to_numpy() < cutoff
    train, test = events[is_train], events[~is_train]
    users = np.intersect1d(train["user"].unique(), test["user"].unique())
    test = test[test["user"].isin(users)]
    mine = train[train["user"].isin(users)]
    return TimingSplit(
        cutoff_ms=cutoff,
        train=UserDays.from_events(train["user"].to_numpy(), train["timestamp"].to_numpy()),
        test=UserDays.from_events(test["user"].to_numpy(), test["timestamp"].to_numpy()),
        train_events=len(train),
        train_hours=pd.DataFrame({"user": mine["user"].to_numpy(), "hour": (mine["timestamp"] % DAY_MS) // HOUR_MS}),
    )


def hit_rate(test: UserDays, hours: np.ndarray) -> float:
    if len(test) == 0:
        return 0.0
    hits = window_hits(test.bits)
    return float(hits[np.arange(len(test)), np.asarray(hours, dtype=np.int64)].mean())


def user_mode_hours(split: TimingSplit) -> pd.Series:
    """The original project's policy: each user's most frequent event hour (ties: the earliest)."""
    counts = split.train_hours.groupby(["user", "hour"]).size().rename("n").reset_index()
    counts = counts.sort_values(["user", "n", "hour"], ascending=[True, False, True])
    return counts.drop_duplicates("user").set_index("user")["hour"]


def _user_window_rates(split: TimingSplit) -> tuple[pd.Index, np.ndarray]:
    """Per test user: the share of their train days active in each hour's window."""
    mine = split.train.of_users(np.unique(split.test.user))
    index = pd.Index(np.unique(mine.user))
    row = index.get_indexer(mine.user)
    sums = np.zeros((len(index), 24))
    np.add.at(sums, row, window_hits(mine.bits).astype(float))
    return index, sums / np.bincount(row, minlength=len(index))[:, None]


def evaluate(
    events: pd.DataFrame, test_days: int, *, seed: int = 0, train_windows: int = 8, validation_windows: int = 3
) -> dict:
    split = split_events(events, test_days)
    test = split.test
    population = PopulationProfile.from_user_days(split.train)
    index, rates = _user_window_rates(split)
    own = rates[index.get_indexer(test.user)] if len(test) else np.zeros((0, 24))
    policies = {
        "fixed_hour": np.full(len(test), FIXED_HOUR),
        "global_best_hour": np.full(len(test), population.best_hour),
        "user_mode_hour": user_mode_hours(split).reindex(test.user).to_numpy(dtype=np.int64),
        "user_best_window": np.argmax(own, axis=1),
        "blend": np.argmax(0.5 * own + 0.5 * population.hour, axis=1),
        "random": np.random.default_rng(seed).integers(0, 24, len(test)),
    }
    models = {name: {"hit_rate": hit_rate(test, hours), "user_days": len(test)} for name, hours in policies.items()}

    started = time.monotonic()
    model = fit_timing_model(
        split.train,
        as_of_day=split.as_of_day,
        horizon_days=test_days,
        train_windows=train_windows,
        validation_windows=validation_windows,
        seed=seed,
    )
    hours = model.best_hours(split.train, Targets.of(test), as_of_day=split.as_of_day)
    models["optimus"] = {"hit_rate": hit_rate(test, hours), "user_days": len(test)}
    return {
        "split": {
            "cutoff_ms": split.cutoff_ms,
            "train_events": split.train_events,
            "test_users": len(np.unique(test.user)),
            "user_days": len(test),
        },
        "models": models,
        "optimus": {
            "policy": model.policy,
            "blend": asdict(model.blend),
            "shrinkage": asdict(model.shrinkage),
            "validation": model.validation,
            "fit_s": round(time.monotonic() - started, 2),
        },
    }


def evaluate_file(path: str, test_days: int, *, seed: int = 0) -> dict:
    return evaluate(load_events(path), test_days, seed=seed)
