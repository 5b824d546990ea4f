"""recommender.ml.bandits: the push utility, the learned frequency and the type bandit (issue 18)."""

import numpy as np

from recommender.ml import bandits

SETTINGS = bandits.Costs(dismiss=0.2, reachable_weeks=26.0)
CEILING = 7


def stats(levels: int, sends: float, open_rate: float, dismiss_rate: float, opt_out_rate: float):
    sends_ = np.zeros(CEILING)
    sends_[:levels] = sends
    return bandits.LevelStats(
        sends=sends_,
        opens=sends_ * open_rate,
        dismissals=sends_ * (1 - open_rate) * dismiss_rate,
        opt_outs=sends_ * opt_out_rate,
    )


def learned(log: bandits.LevelStats, *, p_open: float, fatigue: float, start: int) -> int:
    costs = bandits.segment_costs(log, log, fatigue_rate=fatigue)
    means, _ = bandits.level_utilities(
        p_open=p_open,
        level=1,
        value=1.0,
        costs=costs,
        settings=SETTINGS,
        start_level=start,
        logged=log.sends,
        ceiling=CEILING,
    )
    return bandits.learned_level(means)


def test_without_data_the_seed_number_is_the_learned_frequency():
    empty = stats(0, 0, 0, 0, 0)
    for start in (1, 2, 3):
        assert learned(empty, p_open=0.1, fatigue=0.0, start=start) == start


def test_frequency_moves_up_in_a_tolerant_world_and_down_in_a_sensitive_one():
    # Tolerant: opened often, rarely dismissed, nobody opts out, little fatigue, at every level tried.
    tolerant = stats(CEILING, 200, open_rate=0.15, dismiss_rate=0.1, opt_out_rate=0.0)
    assert learned(tolerant, p_open=0.15, fatigue=0.02, start=2) > 2
    # Sensitive: each push beyond the first fatigues hard and makes people leave.
    sensitive = stats(CEILING, 200, open_rate=0.06, dismiss_rate=0.5, opt_out_rate=0.01)
    assert learned(sensitive, p_open=0.06, fatigue=0.3, start=2) < 2


def test_the_utility_changes_sign_where_the_learned_costs_say():
    cheap = bandits.SegmentCosts(dismiss_if_unopened=0.1, opt_out_hazard=(0.0005,) * CEILING, fatigue_rate=0.0)
    costly = bandits.SegmentCosts(dismiss_if_unopened=0.9, opt_out_hazard=(0.02,) * CEILING, fatigue_rate=0.3)
    welcome = bandits.push_utility(p_open=0.1, value=1.0, level=3, costs=cheap, settings=SETTINGS)
    unwelcome = bandits.push_utility(p_open=0.1, value=1.0, level=3, costs=costly, settings=SETTINGS)
    assert welcome.total > 0 > unwelcome.total
    assert unwelcome.opt_out_cost > welcome.opt_out_cost and unwelcome.fatigue_cost > welcome.fatigue_cost
    # A dearer dismissal alone flips it too.
    dear = bandits.Costs(dismiss=2.0, reachable_weeks=26.0)
    assert bandits.push_utility(p_open=0.1, value=1.0, level=1, costs=cheap, settings=dear).total < 0


def test_learned_costs_come_from_the_counts():
    log = stats(3, 100, open_rate=0.2, dismiss_rate=0.5, opt_out_rate=0.02)
    costs = bandits.segment_costs(log, log, fatigue_rate=0.1)
    assert 0.4 < costs.dismiss_if_unopened < 0.5  # 120 of 240 unopened, shrunk a little toward the prior
    assert costs.hazard(1) > bandits.OPT_OUT_PRIOR[0]
    assert list(costs.opt_out_hazard) == sorted(costs.opt_out_hazard)  # never falls with more pushes


def test_fatigue_rate_is_recovered_within_people():
    rng = np.random.default_rng(0)
    people, levels, opened = [], [], []
    for person in range(3000):
        base = rng.uniform(0.05, 0.4)
        for level in range(1, 6):
            people.append(person)
            levels.append(level)
            opened.append(rng.random() < base * np.exp(-0.2 * level))
    rate = bandits.fatigue_rate(np.array(people), np.array(levels), np.array(opened))
    assert 0.12 <= rate <= 0.28
    assert bandits.fatigue_rate(np.array([]), np.array([]), np.array([], dtype=bool)) == 0.0


def test_thompson_levels_and_their_exact_send_probability():
    means = np.array([0.02, 0.0, -0.01, -0.02])
    spreads = np.full(4, 0.02)
    rng = np.random.default_rng(1)
    levels = [bandits.sampled_level(means, spreads, rng.standard_normal(4)) for _ in range(20_000)]
    for level in (1, 2, 3):
        share = np.mean(np.array(levels) >= level)
        assert abs(share - bandits.send_probability(means, spreads, level)) < 0.015
    assert bandits.sampled_level(means, spreads, None) == 1 == bandits.learned_level(means)


def test_a_type_never_opened_stops_being_chosen():
    arms = [
        bandits.TypeArm("newsletter", opens=0, sends=27, value=1.0),
        bandits.TypeArm("picks", opens=4, sends=30, value=1.0),
    ]
    for seed in range(200):
        index, propensity, shares = bandits.choose_type(arms, prior_mean=0.1, rng=np.random.default_rng(seed))
        assert index == 1 and shares[0] == 0.0 and propensity == 1.0
    # Before that, both are drawn, each with its logged propensity.
    young = [bandits.TypeArm("a", 0, 5, 1.0), bandits.TypeArm("b", 1, 5, 1.0)]
    chosen = set()
    for seed in range(200):
        index, propensity, shares = bandits.choose_type(young, prior_mean=0.1, rng=np.random.default_rng(seed))
        chosen.add(index)
        assert 0 < propensity < 1 and abs(sum(shares) - 1) < 1e-9 and propensity == round(shares[index], 6)
    assert chosen == {0, 1}


def test_the_same_seed_gives_the_same_choice_and_propensity():
    arms = [bandits.TypeArm("a", 1, 10, 1.0), bandits.TypeArm("b", 2, 10, 1.0), bandits.TypeArm("c", 0, 3, 1.5)]
    first = bandits.choose_type(arms, prior_mean=0.1, rng=np.random.default_rng(42))
    assert first == bandits.choose_type(arms, prior_mean=0.1, rng=np.random.default_rng(42))
    # Greedy: the best posterior mean × value, the first on a tie.
    assert bandits.choose_type(arms, prior_mean=0.1, rng=None)[:2] == (1, 1.0)  # 3 / 20 beats 1.5 × 1 / 13
    tie = [bandits.TypeArm("x", 0, 0, 1.0), bandits.TypeArm("y", 0, 0, 1.0)]
    assert bandits.choose_type(tie, prior_mean=0.1, rng=None)[0] == 0


def test_calibration_reports_log_loss_and_reliability():
    rng = np.random.default_rng(3)
    predicted = rng.uniform(0.05, 0.6, 5000)
    happened = rng.random(5000) < predicted
    report = bandits.calibration(predicted, happened)
    assert report["n"] == 5000 and report["log_loss"] < report["base_log_loss"]
    for row in report["reliability"]:
        assert abs(row["predicted"] - row["observed"]) < 0.05
    assert bandits.calibration(np.array([]), np.array([]))["log_loss"] is None
