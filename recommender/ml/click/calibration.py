"""Calibration: from a tree model's scores to probabilities, learned on held-out pushes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.ml.click.choice import predict_open
from recommender.ml.click.prior import ActivityPrior


@dataclass
class Calibrated:
    """A fitted classifier and a calibration map from its scores to probabilities, learned on held-out pushes:

    - ``sigmoid`` (Platt): logistic regression on the logit of the score; keeps the trees' ranking;
    - ``isotonic``: monotone steps; fits any shape, but ties hours the trees told apart;
    - ``stacked``: logistic regression on the logits of the score and of the activity prior, so the prior's
      fine-grained ranking of hours survives where the trees' steps are coarse.
    """

    estimator: object
    method: str
    calibrator: object
    prior: ActivityPrior | None = None

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        score = self.estimator.predict_proba(features)[:, 1]
        if self.method == "isotonic":
            p = self.calibrator.predict(score)
        else:
            p = self.calibrator.predict_proba(self._inputs(score, features))[:, 1]
        return np.column_stack([1 - p, p])

    def _inputs(self, score: np.ndarray, features: np.ndarray) -> np.ndarray:
        columns = [_logit_of(score)]
        if self.method == "stacked":
            columns.append(self.prior.logit(features))
        return np.column_stack(columns)


def _logit_of(score: np.ndarray) -> np.ndarray:
    score = np.clip(score, 1e-4, 1 - 1e-4)
    return np.log(score / (1 - score))


CALIBRATIONS = ("sigmoid", "stacked", "isotonic")
ISOTONIC_MARGIN = 0.005  # relative log-loss gain isotonic needs over the stacked map to be chosen


def choose_calibration(scores: dict) -> str:
    """``stacked`` (sigmoid is the special case with no weight on the prior, so it is only reported), unless
    isotonic is clearly better: its steps tie hours the planner has to choose between, and on held-out pushes
    a hair of log loss says less than the prior's finer ranking of a person's hours."""
    if scores["isotonic"]["log_loss"] < scores["stacked"]["log_loss"] * (1 - ISOTONIC_MARGIN):
        return "isotonic"
    return "stacked"


def calibrate(estimator, method: str, features: np.ndarray, labels: np.ndarray, prior: ActivityPrior) -> Calibrated:
    # By hand rather than CalibratedClassifierCV(FrozenEstimator(...)): that one scores the held-out part
    # once per internal fold, which made calibrating slower than fitting.
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    score = predict_open(estimator, features)
    if method == "isotonic":
        calibrator = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip").fit(score, labels)
        return Calibrated(estimator=estimator, method=method, calibrator=calibrator)
    calibrated = Calibrated(estimator=estimator, method=method, calibrator=None, prior=prior)
    calibrated.calibrator = LogisticRegression(C=1e4).fit(calibrated._inputs(score, features), labels)
    return calibrated
