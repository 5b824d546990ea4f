"""Send-time model: at which hour of a given day is a person most likely to be active?

Everything here works on *user-days*: one row per (person, calendar day in some clock) with a 24-bit mask
of the hours in which the person had at least one event. The clock is UTC for the offline evaluation and
the person's local time (from their IANA zone, daylight saving included) in the product.

The quantity scored for an hour h is the chance that, on a day the person is active, they are active at h
or h + 1: a push at h is seen if the person shows up within about two hours. On real logs a person's own
history is a weak signal (their average hour varies about a tenth as much between people as from day to
day) and naive personal policies lose to one global hour, so the model combines three estimates:

- ``blend`` — the person's own rates mixed with the weekday's population profile, trust growing with their
  active days; how fast (and how far) is chosen on past windows;
- ``shifted`` — the weekday's population profile moved to the person's own average hour, shrunk toward the
  population's by as many days as the data says (within-person over between-person variance): one number per
  person, far less noisy than a 24-hour histogram;
- ``learned`` — a gradient-boosted classifier over population rates and the person's own (raw, smoothed,
  shrunk, recency-weighted, same-weekday) rates, trained on the same pseudo-test windows, so it learns how
  much to trust a history like this one from how well such histories predicted the following weeks.

Their mean (``ensemble``) competes with the population's best hour (``hour``, or ``dow_hour`` per weekday) on
the last windows before the cutoff, so where personal history is useless the model falls back to the
population. Every window repeats the evaluation protocol: features from before it, targets inside it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from recommender.ml.clock import DAY_MS, HOUR_MS, HOURS_PER_WEEK, hour_of_week, is_quiet

HOURS = np.arange(24)
# Hit window of hour h: h and h + 1, no wrap past midnight (hour 23 covers only itself).
WINDOW_MASKS = np.left_shift(1, HOURS) | np.where(HOURS < 23, np.left_shift(1, np.minimum(HOURS + 1, 23)), 0)
EPOCH = dt.date(1970, 1, 1)
UTC = dt.UTC

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
DOW_PRIOR_DAYS = 100.0
RECENCY_HALF_LIFE_DAYS = 28.0
SMOOTH_SIGMA_HOURS = 1.0
WIDE_SIGMA_HOURS = 2.5


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


@dataclass(frozen=True)
class Blend:
    """A person's own rates (``source``: raw or smoothed) mixed with the weekday's population profile; the
    person's share is ``weight`` × n / (n + ``prior_days``) for n active days (``prior_days`` 0: the full
    ``weight`` from the first day). ``weight`` 0 is the population alone."""

    source: str
    prior_days: float
    weight: float

    def scores(self, features: np.ndarray) -> np.ndarray:
        days = np.expm1(features[:, :, FEATURES.index("days")])
        trust = self.weight * (days / (days + self.prior_days) if self.prior_days else days > 0)
        own = features[:, :, FEATURES.index(self.source)]
        return trust * own + (1 - trust) * features[:, :, FEATURES.index("pop_dow")]


# The population first, so that it wins ties.
BLENDS = (Blend("frac", 0, 0.0),) + tuple(
    Blend(source, prior, weight)
    for source in ("frac", "smooth")
    for prior in (0, 1, 3, 10, 30)
    for weight in (0.2, 0.35, 0.5, 0.65, 0.8, 1.0)
)


def ensemble_scores(features: np.ndarray, blend: Blend, classifier) -> np.ndarray:
    """The mean of three estimates of the same probability: the blend, the shifted profile and the classifier.
    Each alone wins on some data and loses on other; their mean was never far from the best of them."""
    parts = [blend.scores(features), features[:, :, FEATURES.index("shifted")]]
    if classifier is not None:
        parts.append(_predict(classifier, features))
    return np.mean(parts, axis=0)


@dataclass
class TimingModel:
    """A fitted send-time policy. ``scores`` gives, per target day, a score for each hour (higher = better)."""

    policy: str
    population: PopulationProfile
    blend: Blend = BLENDS[0]
    classifier: object | None = None
    validation: dict = field(default_factory=dict)

    def scores(self, history: UserDays, targets: Targets, *, as_of_day: int) -> np.ndarray:
        if self.policy == "hour":
            return np.tile(self.population.hour, (len(targets), 1))
        if self.policy == "dow_hour":
            return self.population.dow_hour[dow_of_day(targets.day)]
        features = hour_features(history, self.population, targets, as_of_day=as_of_day)
        return ensemble_scores(features, self.blend, self.classifier)

    def best_hours(self, history: UserDays, targets: Targets, *, as_of_day: int) -> np.ndarray:
        return np.argmax(self.scores(history, targets, as_of_day=as_of_day), axis=1)


def _predict(classifier, features: np.ndarray) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    n = features.shape[0]
    if n == 0:
        return np.zeros((0, 24))
    flat = features.reshape(n * 24, features.shape[-1])
    with threadpool_limits(limits=1, user_api="openmp"):
        return classifier.predict_proba(flat)[:, 1].reshape(n, 24)


def _new_classifier(seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        max_leaf_nodes=7,
        min_samples_leaf=200,
        l2_regularization=1.0,
        early_stopping=False,
        # Person-level features (days, peak, idle...) are the same for all 24 hours of a target day, so
        # within a day hours are ranked by the monotone features only: more evidence never ranks lower.
        monotonic_cst=[MONOTONE.get(name, 0) for name in FEATURES],
        random_state=seed,
    )


@dataclass(frozen=True)
class _Window:
    features: np.ndarray  # (n, 24, F)
    hits: np.ndarray  # (n, 24) bool


def pseudo_test_windows(
    history: UserDays, *, as_of_day: int, horizon_days: int, count: int, max_targets: int, seed: int = 0
) -> list[_Window]:
    """Windows of ``horizon_days`` going back from ``as_of_day``, each with the evaluation protocol: targets are
    the active days in the window of people active before it; features come from before the window only."""
    rng = np.random.default_rng(seed)
    windows = []
    for k in range(count):
        end = as_of_day - k * horizon_days
        start = end - horizon_days
        before = history.between(end_day=start)
        inside = history.between(start, end)
        inside = inside.of_users(np.intersect1d(np.unique(before.user), np.unique(inside.user)))
        if len(inside) == 0:
            break
        if len(inside) > max_targets:
            inside = inside.select(np.sort(rng.choice(len(inside), max_targets, replace=False)))
        population = PopulationProfile.from_user_days(before)
        features = hour_features(before, population, Targets.of(inside), as_of_day=start)
        windows.append(_Window(features=features, hits=window_hits(inside.bits)))
    return windows


def _fit_classifier(windows: list[_Window], seed: int):
    from threadpoolctl import threadpool_limits

    if not windows:
        return None
    features = np.concatenate([w.features.reshape(-1, len(FEATURES)) for w in windows])
    labels = np.concatenate([w.hits.reshape(-1) for w in windows])
    if labels.all() or not labels.any():
        return None
    # One OpenMP thread: the fit takes seconds, and next to busy workers more threads spin and run 10x slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        return _new_classifier(seed).fit(features, labels)


def _window_hits(window: _Window, scores: np.ndarray) -> int:
    chosen = np.argmax(scores, axis=1)
    return int(window.hits[np.arange(len(chosen)), chosen].sum())


POLICIES = ("hour", "dow_hour", "ensemble")
COMPONENTS = ("shifted", "blend", "learned")


def fit_timing_model(
    history: UserDays,
    *,
    as_of_day: int,
    horizon_days: int,
    train_windows: int = 8,
    validation_windows: int = 3,
    max_targets_per_window: int = 10_000,
    seed: int = 0,
) -> TimingModel:
    """Fit the send-time policy on ``history`` (days before ``as_of_day``) for the ``horizon_days`` ahead.

    Everything is chosen on pseudo-test windows carved from the history (never on what comes after it):
    the blend on the ``train_windows`` most recent ones, the classifier trained on them. To choose between
    the ensemble and the population alone, each of the last ``validation_windows`` windows scores both, with
    the blend and classifier chosen and trained on older windows only; the ensemble must do strictly better.
    """
    history = history.between(end_day=as_of_day)
    population = PopulationProfile.from_user_days(history)
    windows = pseudo_test_windows(
        history,
        as_of_day=as_of_day,
        horizon_days=horizon_days,
        count=train_windows + validation_windows,
        max_targets=max_targets_per_window,
        seed=seed,
    )
    if len(windows) < 2:
        return TimingModel(policy="hour", population=population)
    blend_hits = np.array([[_window_hits(w, blend.scores(w.features)) for blend in BLENDS] for w in windows])
    totals = dict.fromkeys(POLICIES + COMPONENTS, 0)
    days = 0
    for v in range(min(validation_windows, len(windows) - 1)):
        window, older = windows[v], slice(v + 1, v + 1 + train_windows)
        features = window.features
        days += len(features)
        blend = BLENDS[int(np.argmax(blend_hits[older].sum(axis=0)))]
        classifier = _fit_classifier(windows[older], seed)
        totals["hour"] += _window_hits(window, features[:, :, FEATURES.index("pop")])
        totals["dow_hour"] += _window_hits(window, features[:, :, FEATURES.index("pop_dow")])
        totals["shifted"] += _window_hits(window, features[:, :, FEATURES.index("shifted")])
        totals["blend"] += _window_hits(window, blend.scores(features))
        if classifier is not None:
            totals["learned"] += _window_hits(window, _predict(classifier, features))
        totals["ensemble"] += _window_hits(window, ensemble_scores(features, blend, classifier))
    validation = {name: {"hit_rate": totals[name] / days, "user_days": days} for name in totals}
    # Strictly better only: on a tie the simpler policy (earlier in POLICIES) stays.
    policy = max(POLICIES, key=lambda name: (totals[name], -POLICIES.index(name)))
    if policy != "ensemble":
        return TimingModel(policy=policy, population=population, validation=validation)
    blend = BLENDS[int(np.argmax(blend_hits[:train_windows].sum(axis=0)))]
    classifier = _fit_classifier(windows[:train_windows], seed)
    return TimingModel(policy=policy, population=population, blend=blend, classifier=classifier, validation=validation)


# --- In the product: the best hours of a person's coming week, in their own time zone. ---


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock hours with no sends: from ``start`` to ``end`` (exclusive), wrapping midnight when
    ``end`` <= ``start`` (22:00–07:00)."""

    start: dt.time
    end: dt.time

    def overlaps(self, hour: int) -> bool:
        """True when any minute of the local hour [hour:00, hour+1:00) is quiet: quiet at its first minute, or
        quiet hours begin during it. Unlike ``is_quiet(time)`` this asks about a whole hour-long slot: the
        planner must not send at 21:00 when quiet hours start at 21:30."""
        # Minute precision (seconds dropped), as the slots the planner chooses between.
        start, end = self.start.replace(second=0, microsecond=0), self.end.replace(second=0, microsecond=0)
        if start == end:
            return False
        return is_quiet(dt.time(hour), start, end) or start.hour == hour


@dataclass(frozen=True)
class SendHour:
    hour_of_week: int  # local, 0 = Monday 00:00
    local_start: dt.datetime  # aware, in the person's zone
    starts_at: dt.datetime  # the same instant in UTC
    score: float


def local_user_days(timestamps: Iterable[dt.datetime | int], zone: ZoneInfo, user: object = 0) -> UserDays:
    """User-days of one person in their local clock; each instant gets the UTC offset in force at that instant,
    so summer and winter activity land on the same local hours."""
    users, stamps, offsets = [], [], []
    for stamp in timestamps:
        instant = dt.datetime.fromtimestamp(stamp / 1000, tz=UTC) if isinstance(stamp, int | np.integer) else stamp
        if instant.tzinfo is None:
            raise ValueError("timestamps must be aware datetimes or ms since epoch")
        offset = instant.astimezone(zone).utcoffset()
        users.append(user)
        stamps.append(int(instant.timestamp() * 1000))
        offsets.append(int(offset.total_seconds() * 1000))
    return UserDays.from_events(np.asarray(users), np.asarray(stamps, dtype=np.int64), np.asarray(offsets))


def coming_week_slots(zone: ZoneInfo, now: dt.datetime) -> list[tuple[int, dt.datetime]]:
    """(local day number, local start) of every local wall-clock hour starting in [now, now + 7 days).

    Iterating wall-clock hours, not UTC hours, keeps half-hour zones on the hour. A wall time that does not
    exist (the spring-forward gap) is skipped; an ambiguous one (fall back) means its first occurrence.
    Each hour of the week appears once: the earliest.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    # In UTC: aware datetimes sharing a tzinfo compare and add as wall-clock times, wrong across a DST change.
    now = now.astimezone(UTC)
    end = now + dt.timedelta(days=7)
    today = now.astimezone(zone).date()
    slots, seen = [], set()
    for offset in range(9):
        date = today + dt.timedelta(days=offset)
        for hour in range(24):
            wall = dt.datetime(date.year, date.month, date.day, hour, tzinfo=zone)
            if wall.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall.replace(tzinfo=None):
                continue
            slot_hour = hour_of_week(wall)
            if now <= wall.astimezone(UTC) < end and slot_hour not in seen:
                seen.add(slot_hour)
                slots.append(((date - EPOCH).days, wall))
    return slots


def best_send_hours(
    timestamps: Iterable[dt.datetime | int],
    *,
    population: PopulationProfile,
    timezone: str,
    now: dt.datetime,
    quiet_hours: QuietHours | None = None,
    model: TimingModel | None = None,
    limit: int | None = None,
) -> list[SendHour]:
    """The hours of the person's coming week (from ``now``), best first, in their local time, quiet hours left out.

    ``timestamps`` are the person's past events (aware datetimes or ms since epoch); ``population`` is the
    profile in local time of everyone. ``model`` (a fitted ``TimingModel``) scores the hours; without one,
    the person's rates are shrunk toward the population's.
    """
    zone = ZoneInfo(timezone)
    history = local_user_days(timestamps, zone)
    tomorrow = (now.astimezone(zone).date() - EPOCH).days + 1
    slots = [
        (day, wall)
        for day, wall in coming_week_slots(zone, now)
        if not quiet_hours or not quiet_hours.overlaps(wall.hour)
    ]
    if not slots:
        return []
    days = np.unique([day for day, _ in slots])
    targets = Targets(user=np.zeros(len(days), dtype=np.int64), day=days)
    if model is not None:
        scores = model.scores(history, targets, as_of_day=tomorrow)
    else:
        features = hour_features(history, population, targets, as_of_day=tomorrow)
        scores = features[:, :, FEATURES.index("same_dow")]
    row = {day: i for i, day in enumerate(days)}
    result = [
        SendHour(
            hour_of_week=hour_of_week(wall),
            local_start=wall,
            starts_at=wall.astimezone(UTC),
            score=float(scores[row[day], wall.hour]),
        )
        for day, wall in slots
    ]
    result.sort(key=lambda slot: (-slot.score, slot.starts_at))
    return result[:limit] if limit is not None else result
