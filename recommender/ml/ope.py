"""Off-policy evaluation: what another policy would have achieved, estimated from one policy's log.

Each logged decision i had a context (a person on a day), an action the logging policy took with
probability ``logged_p[i]`` (its propensity: send or not, which type, which hour — the product of the
probabilities of each choice), and an outcome ``reward[i]`` (an open, a dismissal, an opt-out, a send:
one estimate per outcome). A candidate policy would have taken that same action with probability
``target_p[i]``. Then, with weights w = target_p / logged_p:

- **IPS** (inverse propensity scoring): mean(w · r). Unbiased when every action the candidate can
  take had a logged propensity above zero; its variance grows with the weights.
- **SNIPS** (self-normalised): Σ w · r / Σ w. A little biased, much steadier; the usual choice.
- **DR** (doubly robust): mean(q̂_target + w · (r − q̂_logged)), with a reward model q̂: q̂_logged its
  prediction for the logged action, q̂_target the candidate's expected prediction Σ_a π(a) q̂(a).
  Unbiased if either the propensities or the reward model are right, and steadier than IPS.

Confidence intervals are normal approximations on the per-decision terms (SNIPS by the delta method).
``support`` is the share of the log where the candidate's action was one the logger could take and
did: an estimate resting on 2 % of the log says so. Pure numpy: the glue that reads the log and
computes ``target_p`` for a candidate is campaigns.ope.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A per-decision mean with its 95 % interval; ``total`` = the mean × decisions in the log."""

    method: str
    value: float
    low: float
    high: float
    decisions: int
    support: float  # share of the log where the candidate would have taken the logged action (w > 0)
    effective_size: float  # (Σ w)² / Σ w²: how many decisions the weighted estimate is really worth

    def total(self) -> tuple[float, float, float]:
        return self.value * self.decisions, self.low * self.decisions, self.high * self.decisions

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def weights(logged_p: np.ndarray, target_p: np.ndarray) -> np.ndarray:
    logged_p = np.asarray(logged_p, dtype=float)
    target_p = np.asarray(target_p, dtype=float)
    if logged_p.shape != target_p.shape:
        raise ValueError("logged_p and target_p must have one value per decision")
    logger_ok = np.all((logged_p > 0) & (logged_p <= 1))
    if not logger_ok or not np.all((target_p >= 0) & (target_p <= 1)):
        raise ValueError("propensities must be in (0, 1] for the logger and [0, 1] for the candidate")
    return target_p / logged_p


def _summary(method: str, terms: np.ndarray, w: np.ndarray, value: float | None = None) -> Estimate:
    n = len(terms)
    if n == 0:
        return Estimate(method, float("nan"), float("nan"), float("nan"), 0, 0.0, 0.0)
    mean = float(terms.mean()) if value is None else value
    half = Z_95 * float(terms.std(ddof=1)) / np.sqrt(n) if n > 1 else float("inf")
    sum_w, sum_w2 = float(w.sum()), float((w**2).sum())
    return Estimate(
        method=method,
        value=mean,
        low=mean - half,
        high=mean + half,
        decisions=n,
        support=float(np.mean(w > 0)),
        effective_size=sum_w**2 / sum_w2 if sum_w2 > 0 else 0.0,
    )


def ips(reward, logged_p, target_p) -> Estimate:
    w = weights(logged_p, target_p)
    return _summary("ips", w * np.asarray(reward, dtype=float), w)


def snips(reward, logged_p, target_p) -> Estimate:
    w = weights(logged_p, target_p)
    r = np.asarray(reward, dtype=float)
    if not len(w) or w.sum() <= 0:
        return _summary("snips", np.zeros(0), w)
    value = float((w * r).sum() / w.sum())
    # Delta method: the influence of decision i is w_i (r_i − V) / mean(w).
    influence = w * (r - value) / w.mean()
    return _summary("snips", influence + value, w, value=value)


def doubly_robust(reward, logged_p, target_p, q_logged, q_target) -> Estimate:
    w = weights(logged_p, target_p)
    r = np.asarray(reward, dtype=float)
    terms = np.asarray(q_target, dtype=float) + w * (r - np.asarray(q_logged, dtype=float))
    return _summary("dr", terms, w)


def all_estimates(reward, logged_p, target_p, q_logged=None, q_target=None) -> dict[str, Estimate]:
    """IPS, SNIPS and (with a reward model) DR of one outcome."""
    out = {"ips": ips(reward, logged_p, target_p), "snips": snips(reward, logged_p, target_p)}
    if q_logged is not None and q_target is not None:
        out["dr"] = doubly_robust(reward, logged_p, target_p, q_logged, q_target)
    return out
