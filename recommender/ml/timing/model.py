"""``TimingModel`` and ``fit_timing_model``: the population's best hour (per weekday or overall), the person's
hours shrunk toward it (profile.py) and the ensemble of blend, shifted and learned estimates, competing on
pseudo-test windows before the cutoff."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recommender.ml.timing.days import PopulationProfile, Targets, UserDays, dow_of_day, window_hits
from recommender.ml.timing.features import FEATURES, MONOTONE, hour_features
from recommender.ml.timing.profile import SHRINKAGES, HourNeighbours, ProfileCounts, Shrinkage, profile_counts


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
    shrinkage: Shrinkage = SHRINKAGES[0]
    neighbours: HourNeighbours | None = None
    validation: dict = field(default_factory=dict)

    def scores(self, history: UserDays, targets: Targets, *, as_of_day: int) -> np.ndarray:
        if self.policy == "hour":
            return np.tile(self.population.hour, (len(targets), 1))
        if self.policy == "dow_hour":
            return self.population.dow_hour[dow_of_day(targets.day)]
        if self.policy == "profile":
            counts = profile_counts(history, self.population, targets, as_of_day=as_of_day, neighbours=self.neighbours)
            return self.shrinkage.scores(counts)
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
    counts: ProfileCounts
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
        targets = Targets.of(inside)
        features = hour_features(before, population, targets, as_of_day=start)
        neighbours = HourNeighbours.from_user_days(before)
        counts = profile_counts(before, population, targets, as_of_day=start, neighbours=neighbours)
        windows.append(_Window(features=features, counts=counts, hits=window_hits(inside.bits)))
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


def _window_log_likelihood(window: _Window, rates: np.ndarray) -> np.ndarray:
    """Per target day: the Bernoulli log-likelihood of all 24 hours' windows under ``rates``. The shrinkage is a
    question of calibration (how far to trust n days), and every hour of a day answers it, where the hit of
    the best hour alone is one coin flip: on a week of Online Retail, the shrinkage chosen by hits was noise."""
    rates = np.clip(rates, 1e-4, 1 - 1e-4)
    return np.where(window.hits, np.log(rates), np.log1p(-rates)).sum(axis=1)


def _target_hits(window: _Window, scores: np.ndarray) -> np.ndarray:
    """Per target day: 1 if the best-scored hour was a hit."""
    chosen = np.argmax(scores, axis=1)
    return window.hits[np.arange(len(chosen)), chosen].astype(float)


def _window_hits(window: _Window, scores: np.ndarray) -> int:
    return int(_target_hits(window, scores).sum())


# How many standard errors a more complex option must win by. The full one-standard-error rule of
# cross-validation also threw away the ensemble's small but real gain on a year of Online Retail (28 test
# days: 0.336 against the population's 0.327), so half of one: still enough to stop a week of a few dozen
# returning customers from picking noise.
NOISE_STANDARD_ERRORS = 0.5


def simplest_within_noise(values: np.ndarray) -> int:
    """Index of the first (simplest) option whose total is within NOISE_STANDARD_ERRORS standard errors of the
    best total.

    ``values`` is (options, targets), larger = better, the options ordered simplest first. The standard error
    is that of the paired difference with the best option over the same targets. On a short log a more complex
    option must win by more than chance to be chosen; on a long one the standard error is small and the best
    option wins.
    """
    best = int(np.argmax(values.sum(axis=1)))
    for option in range(best):
        gap = values[best] - values[option]
        if gap.sum() <= NOISE_STANDARD_ERRORS * np.sqrt(len(gap)) * gap.std():
            return option
    return best


# Simplest first: on a tie the earlier one stays. The weekday's profile comes before the overall one because
# it is already shrunk toward it (DOW_PRIOR_DAYS): on a short log it is nearly the overall profile anyway.
POLICIES = ("dow_hour", "hour", "profile", "ensemble")
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
    the shrinkage and the blend on the ``train_windows`` most recent ones, the classifier trained on them. To
    choose between the policies, each of the last ``validation_windows`` windows scores all of them, with the
    shrinkage, blend and classifier chosen and trained on older windows only; a policy later in ``POLICIES``
    must do better than the earlier ones by more than chance (half a standard error). Then the winner is
    refitted on the most recent windows.
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
        return TimingModel(policy="dow_hour", population=population)
    blend_hits = np.array([[_window_hits(w, blend.scores(w.features)) for blend in BLENDS] for w in windows])
    # Per window: (options, target days) log-likelihoods of every shrinkage.
    shrinkage_fit = [
        np.stack([_window_log_likelihood(w, option.scores(w.counts)) for option in SHRINKAGES]) for w in windows
    ]

    def best_shrinkage(chosen_on: list[np.ndarray]) -> Shrinkage:
        return SHRINKAGES[int(np.argmax(np.concatenate(chosen_on, axis=1).sum(axis=1)))]

    per_target = {name: [] for name in POLICIES + COMPONENTS}
    for v in range(min(validation_windows, len(windows) - 1)):
        window, older = windows[v], slice(v + 1, v + 1 + train_windows)
        features = window.features
        blend = BLENDS[int(np.argmax(blend_hits[older].sum(axis=0)))]
        shrinkage = best_shrinkage(shrinkage_fit[older])
        classifier = _fit_classifier(windows[older], seed)
        scores = {
            "hour": features[:, :, FEATURES.index("pop")],
            "dow_hour": features[:, :, FEATURES.index("pop_dow")],
            "shifted": features[:, :, FEATURES.index("shifted")],
            "blend": blend.scores(features),
            "profile": shrinkage.scores(window.counts),
            "learned": _predict(classifier, features) if classifier is not None else None,
            "ensemble": ensemble_scores(features, blend, classifier),
        }
        for name, score in scores.items():
            per_target[name].append(_target_hits(window, score) if score is not None else np.zeros(len(features)))
    per_target = {name: np.concatenate(parts) for name, parts in per_target.items()}
    days = len(per_target["hour"])
    validation = {name: {"hit_rate": float(hits.mean()), "user_days": days} for name, hits in per_target.items()}
    # A policy later in POLICIES (more complex) must beat the earlier ones by more than chance.
    policy = POLICIES[simplest_within_noise(np.stack([per_target[name] for name in POLICIES]))]
    if policy == "profile":
        neighbours = HourNeighbours.from_user_days(history)
        shrinkage = best_shrinkage(shrinkage_fit[:train_windows])
        return TimingModel(
            policy=policy, population=population, shrinkage=shrinkage, neighbours=neighbours, validation=validation
        )
    if policy != "ensemble":
        return TimingModel(policy=policy, population=population, validation=validation)
    blend = BLENDS[int(np.argmax(blend_hits[:train_windows].sum(axis=0)))]
    classifier = _fit_classifier(windows[:train_windows], seed)
    return TimingModel(policy=policy, population=population, blend=blend, classifier=classifier, validation=validation)
