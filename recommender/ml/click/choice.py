"""Model choice: the two tree families the click model tries, and how a candidate is judged (log loss, Brier,
AUC, calibration error, the reliability table; the rank correlation benchmarks check hours with)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.ml.click.features import CATEGORICAL, FEATURES, MONOTONE


def new_estimator(family: str, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    monotone = [MONOTONE.get(name, 0) for name in FEATURES]
    if family == "random_forest":
        # Shallow-ish and few trees: scoring 100k people × 24 hours must take seconds, not minutes.
        return RandomForestClassifier(
            n_estimators=40,
            max_depth=10,
            min_samples_leaf=30,
            max_features="sqrt",
            max_samples=0.5,
            monotonic_cst=monotone,
            n_jobs=-1,
            random_state=seed,
        )
    # Prediction time grows with the iterations: 0.1 stops at about half as many as 0.05 for the same loss.
    return HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=200,
        max_leaf_nodes=15,
        min_samples_leaf=50,
        l2_regularization=1.0,
        categorical_features=[name in CATEGORICAL for name in FEATURES],
        monotonic_cst=[0 if name in CATEGORICAL else c for name, c in zip(FEATURES, monotone, strict=True)],
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=20,
        random_state=seed,
    )


FAMILIES = ("random_forest", "gradient_boosting")


def scores_of(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """log loss, Brier, AUC and expected calibration error (over the reliability table's bins)."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    p = np.clip(np.asarray(probabilities, dtype=float), 1e-6, 1 - 1e-6)
    y = np.asarray(labels, dtype=int)
    table = reliability_table(p, y)
    return {
        "log_loss": round(float(log_loss(y, p, labels=[0, 1])), 5),
        "brier": round(float(brier_score_loss(y, p)), 5),
        "auc": round(float(roc_auc_score(y, p)), 4) if 0 < y.sum() < len(y) else None,
        "ece": round(sum(b["count"] * abs(b["observed"] - b["predicted"]) for b in table) / max(len(y), 1), 5),
    }


def reliability_table(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[dict]:
    """Predictions sorted and cut into ``bins`` groups of equal size (deciles: with a 5 % base rate, equal-width
    bins would put almost everything in the first); per bin the range and mean predicted, the observed open
    rate and the count. Calibrated means predicted ≈ observed in every bin."""
    p = np.asarray(probabilities, dtype=float)
    y = np.asarray(labels, dtype=float)
    order = np.argsort(p, kind="stable")
    table = []
    for part in np.array_split(order, min(bins, max(len(p), 1))):
        if len(part):
            table.append(
                {
                    "low": round(float(p[part].min()), 5),
                    "high": round(float(p[part].max()), 5),
                    "predicted": round(float(p[part].mean()), 5),
                    "observed": round(float(y[part].mean()), 5),
                    "count": len(part),
                }
            )
    return table


def fit_estimator(estimator, features: np.ndarray, labels: np.ndarray):
    from threadpoolctl import threadpool_limits

    # One OpenMP thread (as in timing.py): next to busy workers more threads spin and run far slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        return estimator.fit(features, labels)


def predict_open(estimator, features: np.ndarray) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        return estimator.predict_proba(features)[:, 1]


# Checks ---------------------------------------------------------------------------------------------------------


def rank_correlation(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``predicted`` with the same row of ``truth`` (ties averaged)."""
    a = pd.DataFrame(np.asarray(predicted, dtype=float)).rank(axis=1).to_numpy(copy=True)
    b = pd.DataFrame(np.asarray(truth, dtype=float)).rank(axis=1).to_numpy(copy=True)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1))
    return np.where(denominator > 0, (a * b).sum(axis=1) / np.maximum(denominator, 1e-300), 0.0)
