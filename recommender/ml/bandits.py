"""Learned push policy, pure: the utility of one more push, how many pushes a week a segment's people are
worth, and which notification type to send. No Django; the planner feeds it counts read from its own log
(campaigns.policy) and stores the propensity of every stochastic choice it makes here.

Frequency. A push that would be a person's n-th in 7 days ("level" n) is worth

    U(n) = P(open)·value − P(dismiss)·c_dismiss − hazard(n)·value of keeping the person reachable
           − fatigue: the opens the pushes of the next 7 days lose because of this one,

with P(dismiss) = P(dismiss | not opened)·(1 − P(open)), hazard(n) the chance a push at level n makes a
person opt out, and fatigue from `fatigue_rate` (opens fall by a factor exp(−rate) per push in the last
7 days). All of them are learned from the run's own feedback. Until a level has data the seed's weekly
number decides (a small positive utility up to it, negative above): `level_utilities` blends the two by
how many pushes were logged at that level. Thompson sampling on that blend gives each person-week a
level; the probability of every send is exact (`send_probability`).

Types. A Beta posterior of the open rate per (segment, type), every allowed type starting at the same
prior; a type never opened after TYPE_DROP_AFTER sends is no longer chosen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SEED_PRIOR_PUSHES = 15.0  # logged pushes at a level after which its data and the seed's number weigh the same
SEED_PRIOR_MARGIN = 0.01  # the utility (in opens) the seed's table is taken to mean: + up to its number, − above
SEED_PRIOR_SPREAD = 0.02  # how unsure that is: the sampling spread of a level with no data
DISMISS_PRIOR = (0.2, 20.0)  # P(dismiss | not opened) before any feedback: mean, weight in pushes
OPT_OUT_PRIOR = (0.001, 500.0)  # opt-outs per push before any: mean, weight in pushes
TYPE_PRIOR_PUSHES = 10.0
TYPE_DROP_AFTER = 20  # sends without a single open after which a type stops being chosen
FATIGUE_GRID = np.linspace(0.0, 1.0, 101)
MONTE_CARLO_DRAWS = 400


@dataclass(frozen=True)
class Costs:
    dismiss: float  # one dismissal, in opens
    reachable_weeks: float  # an opt-out loses this many weeks of the person's pushes


@dataclass(frozen=True)
class LevelStats:
    """What the log says about pushes that were the n-th of their 7 days, for n = 1 … len(sends)."""

    sends: Sequence[float]
    opens: Sequence[float]
    dismissals: Sequence[float]
    opt_outs: Sequence[float]


@dataclass(frozen=True)
class SegmentCosts:
    """The learned costs of a segment's pushes."""

    dismiss_if_unopened: float
    opt_out_hazard: tuple[float, ...]  # per level 1 … ceiling
    fatigue_rate: float

    def hazard(self, level: int) -> float:
        return self.opt_out_hazard[min(max(level, 1), len(self.opt_out_hazard)) - 1]


@dataclass(frozen=True)
class UtilityTerms:
    """The utility of one push and its parts, in opens (for the explanation)."""

    open_value: float
    dismiss_cost: float
    opt_out_cost: float
    fatigue_cost: float

    @property
    def total(self) -> float:
        return self.open_value - self.dismiss_cost - self.opt_out_cost - self.fatigue_cost

    def as_dict(self) -> dict:
        return {
            "open_value": round(self.open_value, 5),
            "dismiss_cost": round(self.dismiss_cost, 5),
            "opt_out_cost": round(self.opt_out_cost, 5),
            "fatigue_cost": round(self.fatigue_cost, 5),
            "utility": round(self.total, 5),
        }


def beta_mean(successes: float, trials: float, prior_mean: float, prior_weight: float) -> float:
    return (successes + prior_mean * prior_weight) / (trials + prior_weight)


def push_utility(*, p_open: float, value: float, level: int, costs: SegmentCosts, settings: Costs) -> UtilityTerms:
    """The utility of a push that is the person's `level`-th in 7 days, with P(open) `p_open` (as the click
    model predicts it, fatigue of the pushes so far included)."""
    p_dismiss = costs.dismiss_if_unopened * (1.0 - p_open)
    # Keeping the person reachable is worth their pushes of the coming weeks at this frequency.
    reachable = settings.reachable_weeks * p_open * value * max(level, 1)
    # The ~level − 1 other pushes of the next 7 days each lose a share 1 − exp(−rate) of their opens.
    fatigue = (level - 1) * p_open * value * (1.0 - math.exp(-costs.fatigue_rate))
    return UtilityTerms(
        open_value=p_open * value,
        dismiss_cost=p_dismiss * settings.dismiss,
        opt_out_cost=costs.hazard(level) * reachable,
        fatigue_cost=fatigue,
    )


def segment_costs(own: LevelStats, everyone: LevelStats, *, fatigue_rate: float) -> SegmentCosts:
    """P(dismiss | not opened) of the segment (shrunk toward everyone's, itself toward the prior) and the
    opt-out hazard per level (everyone's, since opt-outs are rare; shrunk toward everyone's overall rate)."""
    unopened_all = sum(everyone.sends) - sum(everyone.opens)
    dismiss_all = beta_mean(sum(everyone.dismissals), unopened_all, *DISMISS_PRIOR)
    unopened = sum(own.sends) - sum(own.opens)
    dismiss = beta_mean(sum(own.dismissals), unopened, dismiss_all, DISMISS_PRIOR[1])
    overall = beta_mean(sum(everyone.opt_outs), sum(everyone.sends), *OPT_OUT_PRIOR)
    hazards = []
    for n in range(len(everyone.sends)):
        hazard = beta_mean(everyone.opt_outs[n], everyone.sends[n], overall, OPT_OUT_PRIOR[1] / 5)
        # More pushes never make opting out less likely: noise below the level before is ignored.
        hazards.append(max(hazard, hazards[-1]) if hazards else hazard)
    return SegmentCosts(dismiss_if_unopened=dismiss, opt_out_hazard=tuple(hazards), fatigue_rate=fatigue_rate)


def fatigue_rate(people: np.ndarray, levels: np.ndarray, opened: np.ndarray) -> float:
    """The rate r of P(open) ∝ exp(−r·level) within each person, by conditional maximum likelihood over a
    grid: comparing a person's pushes with each other, not people with people (who reaches a high level is
    chosen by the planner, so across people high levels go to the keen). 0 without a person who has both an
    open and pushes at two levels."""
    people, levels, opened = np.asarray(people), np.asarray(levels, dtype=float), np.asarray(opened, dtype=bool)
    if not len(people):
        return 0.0
    _, person = np.unique(people, return_inverse=True)
    opens_of = np.bincount(person, weights=opened.astype(float))
    informative = opens_of[person] > 0
    spread = np.zeros(len(opens_of))
    np.maximum.at(spread, person, levels)
    low = np.full(len(opens_of), np.inf)
    np.minimum.at(low, person, levels)
    informative &= (spread - low)[person] > 0
    if not informative.any():
        return 0.0
    person, levels, opened = person[informative], levels[informative], opened[informative]
    best, best_ll = 0.0, -np.inf
    for rate in FATIGUE_GRID:
        weight = np.exp(-rate * levels)
        totals = np.bincount(person, weights=weight)
        opens = np.bincount(person, weights=opened.astype(float))
        used = opens > 0
        ll = float(np.sum(np.log(weight[opened])) - np.sum(opens[used] * np.log(totals[used])))
        if ll > best_ll + 1e-9:
            best, best_ll = float(rate), ll
    return best


def level_utilities(
    *,
    p_open: float,
    level: int,
    value: float,
    costs: SegmentCosts,
    settings: Costs,
    start_level: int,
    logged: Sequence[float],
    ceiling: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and spread of the utility of this person's push at each level 1 … ceiling, given P(open)
    `p_open` at their current `level`: the model's utility (their P(open) moved by fatigue to each level),
    blended with the seed's prior by `logged` (pushes seen at each level)."""
    means, spreads = np.zeros(ceiling), np.zeros(ceiling)
    for n in range(1, ceiling + 1):
        p_n = min(p_open * math.exp(-costs.fatigue_rate * (n - level)), 1.0)
        model = push_utility(p_open=p_n, value=value, level=n, costs=costs, settings=settings).total
        seen = logged[n - 1] if n - 1 < len(logged) else 0.0
        weight = seen / (seen + SEED_PRIOR_PUSHES)
        prior = SEED_PRIOR_MARGIN if n <= start_level else -SEED_PRIOR_MARGIN
        means[n - 1] = weight * model + (1 - weight) * prior
        spreads[n - 1] = SEED_PRIOR_SPREAD * math.sqrt(SEED_PRIOR_PUSHES / (seen + SEED_PRIOR_PUSHES))
    return means, spreads


def sampled_level(means: np.ndarray, spreads: np.ndarray, draws: np.ndarray | None) -> int:
    """The level of a person-week: the most pushes whose utilities (sampled with standard normal `draws`,
    or the means when None) are all positive."""
    values = means if draws is None else means + spreads * draws[: len(means)]
    positive = values > 0
    return int(len(values) if positive.all() else np.argmin(positive))


def send_probability(means: np.ndarray, spreads: np.ndarray, level: int) -> float:
    """P(sampled level ≥ level): the probability that Thompson sampling sends a push at `level`."""
    probability = 1.0
    for n in range(level):
        probability *= 0.5 * math.erfc(-means[n] / (spreads[n] * math.sqrt(2)))
    return probability


def learned_level(means: np.ndarray) -> int:
    """The level at the posterior means (what the admin shows)."""
    return sampled_level(means, means, None)


# Types ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeArm:
    key: object
    opens: float
    sends: float
    value: float  # what an open of the type is worth
    prior_mean: float | None = None  # its own starting open rate (e.g. the type's in other segments)


def type_posteriors(arms: Sequence[TypeArm], prior_mean: float) -> tuple[np.ndarray, np.ndarray]:
    """Beta parameters (a, b) of each arm's open rate, each arm starting at its own prior mean, else at
    `prior_mean`."""
    means = [arm.prior_mean if arm.prior_mean is not None else prior_mean for arm in arms]
    means = [min(max(m, 0.001), 0.999) for m in means]  # a Beta needs both parameters above 0
    a = np.array([arm.opens + m * TYPE_PRIOR_PUSHES for arm, m in zip(arms, means, strict=True)])
    b = np.array([arm.sends - arm.opens + (1 - m) * TYPE_PRIOR_PUSHES for arm, m in zip(arms, means, strict=True)])
    return a, b


def still_chosen(arms: Sequence[TypeArm]) -> list[TypeArm]:
    """The arms still in the running: not those sent TYPE_DROP_AFTER times without an open (unless no
    other is left)."""
    kept = [arm for arm in arms if not (arm.sends >= TYPE_DROP_AFTER and arm.opens == 0)]
    return kept or list(arms)


def choose_type(
    arms: Sequence[TypeArm], *, prior_mean: float, rng: np.random.Generator | None
) -> tuple[int, float, list[float]]:
    """Index of the chosen arm (among `arms`, in their order), its propensity, and every arm's propensity.

    Thompson sampling on open rate × value; `rng` None = greedy on the posterior means (first arm on a tie).
    The propensities come from MONTE_CARLO_DRAWS draws of a generator seeded from the first draw of `rng`, so
    the same decision always logs the same number."""
    kept = still_chosen(arms)
    index = [i for i, arm in enumerate(arms) if arm in kept]
    a, b = type_posteriors([arms[i] for i in index], prior_mean)
    value = np.array([arms[i].value for i in index])
    if rng is None:
        best = int(np.argmax(a / (a + b) * value))
        shares = [0.0] * len(arms)
        shares[index[best]] = 1.0
        return index[best], 1.0, shares
    sample = rng.beta(a, b) * value
    chosen = int(np.argmax(sample))
    monte_carlo = np.random.default_rng(int(rng.integers(2**32)))
    draws = monte_carlo.beta(a, b, size=(MONTE_CARLO_DRAWS, len(index))) * value
    wins = np.bincount(np.argmax(draws, axis=1), minlength=len(index)) / MONTE_CARLO_DRAWS
    # The sampled arm may never win in the Monte Carlo draws: its propensity is then at most 1 / draws.
    wins = np.maximum(wins, 0.5 / MONTE_CARLO_DRAWS)
    wins = wins / wins.sum()
    shares = [0.0] * len(arms)
    for position, i in enumerate(index):
        shares[i] = float(wins[position])
    return index[chosen], round(float(wins[chosen]), 6), shares


def calibration(predicted: np.ndarray, happened: np.ndarray, *, bins: int = 5) -> dict:
    """Log loss of the predictions (and of the base rate, for scale) and a reliability table by quantile
    of the prediction: mean predicted vs observed rate per bin, as the click model is reported."""
    predicted = np.clip(np.asarray(predicted, dtype=float), 1e-6, 1 - 1e-6)
    happened = np.asarray(happened, dtype=bool)
    if not len(predicted):
        return {"n": 0, "log_loss": None, "base_log_loss": None, "reliability": []}

    def log_loss(p: np.ndarray) -> float:
        return float(-np.mean(np.where(happened, np.log(p), np.log(1 - p))))

    base = np.full(len(happened), min(max(happened.mean(), 1e-6), 1 - 1e-6))
    order = np.argsort(predicted, kind="stable")
    table = []
    for chunk in np.array_split(order, min(bins, len(order))):
        table.append(
            {
                "n": int(len(chunk)),
                "predicted": round(float(predicted[chunk].mean()), 5),
                "observed": round(float(happened[chunk].mean()), 5),
            }
        )
    return {
        "n": int(len(predicted)),
        "log_loss": round(log_loss(predicted), 5),
        "base_log_loss": round(log_loss(base), 5),
        "reliability": table,
    }
