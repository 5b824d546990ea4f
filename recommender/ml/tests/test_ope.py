"""Off-policy estimates on planted logs whose true values are known."""

import numpy as np
import pytest

from recommender.ml import ope

CONTEXTS, ACTIONS = 20, 4


def planted(seed: int, n: int = 3000):
    """A logger that picks each action with a known, context-dependent probability; rewards Bernoulli."""
    rng = np.random.default_rng(seed)
    world = np.random.default_rng(0)  # the same world (true rates) for every seed
    rates = world.uniform(0.0, 0.4, size=(CONTEXTS, ACTIONS))
    logits = world.normal(size=(CONTEXTS, ACTIONS))
    logger = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    x = rng.integers(CONTEXTS, size=n)
    a = np.array([rng.choice(ACTIONS, p=logger[c]) for c in x])
    r = (rng.random(n) < rates[x, a]).astype(float)
    return rates, logger, x, a, r


def candidate(rates):
    """A deterministic candidate: the second-best action of each context (not the logger's favourite)."""
    return np.argsort(-rates, axis=1)[:, 1]


def test_every_estimator_covers_the_true_value_in_at_least_90_percent_of_logs():
    covered = {"ips": 0, "snips": 0, "dr": 0}
    runs = 100
    for seed in range(runs):
        rates, logger, x, a, r = planted(seed)
        choice = candidate(rates)
        truth = rates[np.arange(CONTEXTS), choice].mean()  # contexts are uniform
        target_p = (a == choice[x]).astype(float)
        # A reward model that is off (shrunk and noisy): DR must stay right through the weights.
        model = 0.5 * rates + 0.1 + np.random.default_rng(seed + 1000).normal(0, 0.02, rates.shape)
        estimates = ope.all_estimates(r, logger[x, a], target_p, q_logged=model[x, a], q_target=model[x, choice[x]])
        for name, estimate in estimates.items():
            covered[name] += estimate.low <= truth <= estimate.high
    assert all(count >= 0.9 * runs for count in covered.values()), covered


def test_the_point_estimates_are_close_on_a_large_log():
    rates, logger, x, a, r = planted(seed=1, n=60_000)
    choice = candidate(rates)
    truth = rates[np.arange(CONTEXTS), choice].mean()
    target_p = (a == choice[x]).astype(float)
    for estimate in ope.all_estimates(r, logger[x, a], target_p, rates[x, a], rates[x, choice[x]]).values():
        assert estimate.value == pytest.approx(truth, abs=0.01), estimate
        assert 0 < estimate.support < 1 and estimate.decisions == 60_000


def test_the_logging_policy_is_recovered_exactly_by_snips_and_support_is_full():
    _, logger, x, a, r = planted(seed=2)
    same = logger[x, a]
    estimate = ope.snips(r, same, same)
    assert estimate.value == pytest.approx(r.mean()) and estimate.support == 1.0


def test_a_candidate_the_log_never_supports_says_so():
    _, logger, x, a, r = planted(seed=3)
    estimate = ope.snips(r, logger[x, a], np.zeros(len(a)))
    assert estimate.support == 0.0 and np.isnan(estimate.value)


def test_propensities_outside_their_range_are_refused():
    with pytest.raises(ValueError, match="propensities"):
        ope.ips([1.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="one value per decision"):
        ope.ips([1.0, 0.0], [0.5, 0.5], [1.0])
