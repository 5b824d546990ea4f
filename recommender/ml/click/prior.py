"""The activity prior: what we can say before any push was answered — a person opens when they are around.

logit P(open) = intercept + slope × log(168 × share) − fatigue × pushes in the last 7 days
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.ml.click.features import FEATURES
from recommender.ml.clock import HOURS_PER_WEEK

DEFAULT_BASE_RATE = 0.05  # before any push was answered: a typical push open rate
DEFAULT_SLOPE = 0.5  # open odds × (relative activity) ** this
DEFAULT_FATIGUE = 0.1  # open odds × exp(−this × pushes in the last 7 days)


def expit(x: np.ndarray) -> np.ndarray:
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
            lo, hi = (mid, hi) if expit(mid + slope * x).mean() < base_rate else (lo, mid)
        return cls(intercept=(lo + hi) / 2, **shape)

    def predict(self, share: np.ndarray, sends_7d: np.ndarray | float = 0.0) -> np.ndarray:
        return expit(self.intercept + self.slope * np.log(HOURS_PER_WEEK * share) - self.fatigue * sends_7d)

    def logit(self, features: np.ndarray) -> np.ndarray:
        """The same from a feature matrix (its ``activity`` column is log(168 × share))."""
        activity = features[:, FEATURES.index("activity")].astype(float)
        return self.intercept + self.slope * activity - self.fatigue * features[:, FEATURES.index("sends_7d")]


def fit_prior(share, sends_7d, labels) -> ActivityPrior:
    from sklearn.linear_model import LogisticRegression

    x = np.column_stack([np.log(HOURS_PER_WEEK * share), sends_7d])
    regression = LogisticRegression(C=1.0).fit(x, labels)
    slope, fatigue = regression.coef_[0]
    # Trust the data for the hour effect; fatigue only in the direction it must go.
    return ActivityPrior(float(regression.intercept_[0]), slope=float(slope), fatigue=max(float(-fatigue), 0.0))
