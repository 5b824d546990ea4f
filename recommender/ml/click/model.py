"""``ClickModel``: P(open) for (customer, notification type, local hour of week) — the activity prior, or the
tree family that beat it on the most recent pushes, calibrated."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from recommender.ml.click.activity import ActiveHours, ActivitySnapshot, Shares, fit_shares, share_features
from recommender.ml.click.calibration import CALIBRATIONS, calibrate, choose_calibration
from recommender.ml.click.choice import (
    FAMILIES,
    fit_estimator,
    new_estimator,
    predict_open,
    reliability_table,
    scores_of,
)
from recommender.ml.click.features import FEATURES, HISTORY_FEATURES, PERSON_COLUMNS, PERSON_FEATURES, UNKNOWN
from recommender.ml.click.prior import DEFAULT_BASE_RATE, ActivityPrior, expit, fit_prior
from recommender.ml.click.push_history import PushHistory, push_history_features
from recommender.ml.clock import DAY_MS, HOURS_PER_WEEK, WEEK_MS

MIN_SENDS = 200  # fewer answered pushes than this (or fewer opens than MIN_OPENS): the prior only
MIN_OPENS = 20
MAX_ROWS = 300_000  # most recent sends the trees learn from: bounds the nightly fit
MATURE_MS = DAY_MS  # a push younger than this may still be opened: not a label yet
SPLITS = (0.7, 0.85)  # time order: fit | calibrate | test


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

    def without_customers(self, customers) -> ClickModel:
        """The same model without these customers' activity and profile rows (erasure); the fitted
        estimator and the population shares are statistics of everyone and stay."""
        customers = np.asarray(customers)
        profiles = self.profiles.drop(index=self.profiles.index.intersection(customers))
        return replace(self, activity=self.activity.without(customers), profiles=profiles)

    def customers(self) -> np.ndarray:
        """Every customer with a row of their own in the model."""
        return np.union1d(
            self.activity.customers.to_numpy(dtype=np.int64), self.profiles.index.to_numpy(dtype=np.int64)
        )

    # Fitting ------------------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        hours: ActiveHours,
        history: PushHistory,
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
        type, sent_ms, hour_of_week, opened); the rest of ``history`` (earlier pushes, feedback) feeds the features.

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

    def _training_features(
        self, hours: ActiveHours, history: PushHistory, rows: pd.DataFrame, profile_of
    ) -> np.ndarray:
        """Each push as of its own time: history before it, activity and profile of the week it fell in."""
        sent = rows["sent_ms"].to_numpy(dtype=np.int64)
        customers = rows["customer"].to_numpy()
        hour_of_week = rows["hour_of_week"].to_numpy(dtype=np.int64)
        types = self._codes("type", rows["type"].to_numpy(dtype=object))
        snapshot_ms = (sent // WEEK_MS) * WEEK_MS
        out = np.empty((len(rows), len(FEATURES)), dtype=np.float32)
        recent = push_history_features(history, customers, sent, self.base_rate)
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
            hourly = share_features(snapshot, shares, snapshot.rows(customers[where]), hour_of_week[where])
            out[where] = self._assemble(person, hourly, types[where], hour_of_week[where])
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
        self.prior = fit_prior(share[parts[0]], sends_7d[parts[0]], labels[parts[0]])
        candidates = {
            "base_rate": {"test": scores_of(np.full(len(test_y), labels[parts[0]].mean()), test_y)},
            "prior": {"test": scores_of(self.prior.predict(share[parts[2]], sends_7d[parts[2]]), test_y)},
        }
        best = ("prior", None)
        for family in FAMILIES:
            say(f"click model: {family}")
            estimator = fit_estimator(new_estimator(family, seed), features[parts[0]], labels[parts[0]])
            raw = predict_open(estimator, features[parts[2]])
            entry = {"raw": scores_of(raw, test_y)}
            tables = {}
            for method in CALIBRATIONS:
                calibrator = calibrate(estimator, method, features[parts[1]], labels[parts[1]], self.prior)
                calibrated = predict_open(calibrator, features[parts[2]])
                entry[method] = scores_of(calibrated, test_y)
                tables[method] = reliability_table(calibrated, test_y)
            entry["calibration"] = choose_calibration(entry)
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
            self.prior = fit_prior(share, sends_7d, labels)
            return
        self.metrics["reliability"] = candidates[family]["reliability"]
        say(f"click model: refitting {family}")
        fit_part = slice(0, b)
        estimator = fit_estimator(new_estimator(family, seed), features[fit_part], labels[fit_part])
        self.estimator = calibrate(estimator, method, features[parts[2]], labels[parts[2]], self.prior)
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
        history: PushHistory | None = None,
        pushes_last_7d: np.ndarray | None = None,
        block: int = 200_000,
    ) -> np.ndarray:
        """P(open) per (customer, type, local hour of week) row, as of ``now_ms``; ``history`` holds the
        customers' pushes and feedback of the last 30 days (empty: none). ``pushes_last_7d`` overrides the
        count from the history (to ask "and after one more push?")."""
        customers = np.asarray(customers).ravel()
        n = len(customers)
        hour_of_week = np.broadcast_to(np.asarray(hours_of_week, dtype=np.int64) % HOURS_PER_WEEK, (n,))
        types = np.broadcast_to(np.asarray(types, dtype=object), (n,))
        type_codes = self._codes("type", types)
        person, people = pd.factorize(customers)
        at_ms = np.full(len(people), now_ms, dtype=np.int64)
        recent = push_history_features(history or PushHistory.empty(), np.asarray(people), at_ms, self.base_rate)
        if pushes_last_7d is not None:
            recent["sends_7d"] = np.zeros(len(people))
        per_person = self._person_features(
            np.asarray(people), at_ms=at_ms, snapshot=self.activity, profiles=self.profiles, recent=recent
        )
        hourly = share_features(self.activity, self.shares, self.activity.rows(people)[person], hour_of_week)
        sends_7d = FEATURES.index("sends_7d")
        out = np.empty(n)
        for start in range(0, n, block):
            part = slice(start, min(start + block, n))
            features = self._assemble(
                per_person[person[part]], {k: v[part] for k, v in hourly.items()}, type_codes[part], hour_of_week[part]
            )
            if pushes_last_7d is not None:
                features[:, sends_7d] = np.broadcast_to(np.asarray(pushes_last_7d, dtype=float), (n,))[part]
            if self.estimator is None:
                out[part] = expit(self.prior.logit(features))
            else:
                out[part] = predict_open(self.estimator, features)
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
    def _assemble(person: np.ndarray, hourly: dict[str, np.ndarray], types: np.ndarray, hour_of_week: np.ndarray):
        out = np.empty((len(hour_of_week), len(FEATURES)), dtype=np.float32)
        out[:, PERSON_COLUMNS] = person
        for name, values in hourly.items():
            out[:, FEATURES.index(name)] = values
        out[:, FEATURES.index("hour")] = hour_of_week % 24
        out[:, FEATURES.index("weekday")] = hour_of_week // 24
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
