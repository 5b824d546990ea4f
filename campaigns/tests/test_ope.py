"""Off-policy evaluation on planted logs (issue 18, item 4): a log written by a known random policy, with
outcomes drawn from known rates, so what a candidate policy would have achieved is known exactly."""

import datetime as dt
import json

import numpy as np
import pytest
from django.core.management import call_command

from campaigns import ope, planner
from campaigns.models import Feedback, Notification, NotificationType, Owner
from campaigns.tests.test_planning import NOW, customer, profile_for
from devices.models import Customer
from recommender.models import Segment
from tests.factories import ItemFactory

SINCE, UNTIL = NOW - dt.timedelta(days=7), NOW
HOURS = 4  # each decision chose among 4 allowed hours
EXPLORATION = 0.5  # the planted logger's hour exploration
P_OPEN = {True: 0.4, False: 0.1}  # at the best hour, at another
P_DISMISS_IF_UNOPENED = 0.2
PEOPLE_PER_LEVEL = 300


def plant_log(seed: int = 7) -> dict:
    """PEOPLE_PER_LEVEL people whose push would be their 1st of the week (always sent) and as many whose push
    would be their 2nd (sent with probability 0.5: the rest are no-sends, never logged). The hour is the best
    one with probability 1 − ε + ε/4, another with ε/4 each. Returns the true expected totals of the
    candidates the tests evaluate."""
    rng = np.random.default_rng(seed)
    kind = NotificationType.objects.get(slug="product-recommendation")
    segment = Segment.objects.get(slug="loyal")
    people = Customer.objects.bulk_create(
        [Customer(external_id=f"planted-{i}", timezone="UTC") for i in range(2 * PEOPLE_PER_LEVEL)]
    )
    notifications, outcomes = [], []
    for i, person in enumerate(people):
        level, p_frequency = (1, 1.0) if i < PEOPLE_PER_LEVEL else (2, 0.5)
        if rng.random() >= p_frequency:
            continue
        best = rng.random() < 1 - EXPLORATION + EXPLORATION / HOURS
        p_hour = 1 - EXPLORATION + EXPLORATION / HOURS if best else EXPLORATION / HOURS
        opened = rng.random() < P_OPEN[best]
        dismissed = not opened and rng.random() < P_DISMISS_IF_UNOPENED
        sent_at = SINCE + dt.timedelta(minutes=10 * i)
        local_hour = 19 if best else 10
        notifications.append(
            Notification(
                customer=person,
                owner=Owner.AUTOMATION,
                notification_type=kind,
                idempotency_key=f"planted:{i}",
                status=Notification.Status.SENT,
                scheduled_for=sent_at,
                sent_at=sent_at,
                title="t",
                body="b",
                predicted_open=0.3,
                propensity=p_hour,
                propensities={"hour": p_hour, "type": 1.0, "frequency": p_frequency, "joint": p_hour * p_frequency},
                explanation={
                    "segment_id": segment.pk,
                    "pushes_last_7_days": level - 1,
                    "local_time": f"{sent_at.date().isoformat()} {local_hour:02d}:00",
                    "frequency": {"level": level, "learned_level": 1, "starting_level": 2},
                    "ope": {"exploration": EXPLORATION, "hours": HOURS, "best_hour": best, "greedy_type": kind.slug},
                },
            )
        )
        outcomes.append((opened, dismissed, sent_at))
    Notification.objects.bulk_create(notifications)
    feedback = []
    for n, (opened, dismissed, sent_at) in zip(notifications, outcomes, strict=True):
        if opened or dismissed:
            action = Feedback.Action.OPENED if opened else Feedback.Action.DISMISSED
            feedback.append(Feedback(notification=n, action=action, occurred_at=sent_at + dt.timedelta(minutes=3)))
    Feedback.objects.bulk_create(feedback)
    best_dismiss = (1 - P_OPEN[True]) * P_DISMISS_IF_UNOPENED
    return {
        # Greedy (exploration 0, learned level 1): the 1st pushes only, all at the best hour.
        "exploration=0": {"opens": PEOPLE_PER_LEVEL * P_OPEN[True], "sends": PEOPLE_PER_LEVEL},
        # The seed's 2 a week: both levels always sent, at the best hour — including the 2nd pushes the
        # logger did not send, which the log only shows through the ones it did.
        "seed-like": {
            "opens": 2 * PEOPLE_PER_LEVEL * P_OPEN[True],
            "sends": 2 * PEOPLE_PER_LEVEL,
            "dismissals": 2 * PEOPLE_PER_LEVEL * best_dismiss,
        },
    }


@pytest.fixture
def planted(db):
    return plant_log()


def test_ope_recovers_a_known_policys_value_on_a_planted_log(planted):
    for name, truth in planted.items():
        evaluation = ope.policy_evaluate(candidate=name, since=SINCE, until=UNTIL)
        for outcome, value in truth.items():
            for method in ("ips", "dr"):
                estimate, low, high = evaluation.figure(method, outcome)
                assert low <= value <= high, (name, outcome, method, estimate, low, high, value)
        # SNIPS is a rate per send: every candidate send here is at the best hour.
        _, low, high = evaluation.figure("snips", "opens")
        assert low <= P_OPEN[True] <= high, (name, low, high)
        assert 0 < evaluation.support < 1


def test_the_logged_candidate_reproduces_the_logs_own_totals(planted):
    evaluation = ope.policy_evaluate(candidate="logged", since=SINCE, until=UNTIL)
    assert evaluation.support == 1.0 and evaluation.effective_size == pytest.approx(evaluation.decisions)
    opened = Feedback.objects.filter(action=Feedback.Action.OPENED).count()
    dismissed = Feedback.objects.filter(action=Feedback.Action.DISMISSED).count()
    sent = Notification.objects.filter(status=Notification.Status.SENT).count()
    assert evaluation.logged == {"opens": opened, "dismissals": dismissed, "opt_outs": 0, "sends": sent}
    for method in ("ips", "dr"):
        for outcome, total in evaluation.logged.items():
            assert evaluation.figure(method, outcome)[0] == pytest.approx(total)
    assert evaluation.figure("snips", "opens")[0] == pytest.approx(opened / sent)


def test_a_candidate_without_support_says_so(planted):
    # Nothing was sent at 10:00 at the best hour... and fixed-frequency=0 never sends at all.
    for name in ("fixed-frequency=0",):
        evaluation = ope.policy_evaluate(candidate=name, since=SINCE, until=UNTIL)
        assert evaluation.support == 0.0
        assert evaluation.figure("ips", "opens")[0] == 0.0
        assert evaluation.as_dict()["estimates"]["snips"]["opens"]["value"] is None  # no candidate send to rate
    blast = ope.policy_evaluate(candidate="blast-like", since=SINCE, until=UNTIL)
    explored = Notification.objects.filter(explanation__ope__best_hour=False).count()
    assert blast.support == pytest.approx(explored / blast.decisions)  # only the pushes logged at 10:00


def test_an_empty_period_has_no_support(db):
    evaluation = ope.policy_evaluate(candidate="exploration=0", since=SINCE, until=UNTIL)
    assert evaluation.decisions == 0 and evaluation.support == 0.0
    assert evaluation.as_dict()["estimates"]["ips"]["opens"]["value"] is None


def test_unknown_candidates_are_refused():
    for name in ("greedy", "exploration=2", "fixed-frequency=x"):
        with pytest.raises(ValueError):
            ope.candidate_named(name)


def test_the_command_prints_the_table_and_the_same_numbers_as_json(planted, tmp_path, capsys):
    out = tmp_path / "ope.json"
    call_command("evaluate_policy", "--candidate", "seed-like", "--until", UNTIL.isoformat(), "--json", str(out))
    table = capsys.readouterr().out
    assert "seed-like" in table and "support" in table and "dr total" in table
    numbers = json.loads(out.read_text())
    evaluation = ope.policy_evaluate(candidate="seed-like", since=UNTIL - dt.timedelta(days=28), until=UNTIL)
    assert numbers["estimates"]["dr"]["opens"]["value"] == pytest.approx(evaluation.figure("dr", "opens")[0])
    assert f"{numbers['estimates']['dr']['opens']['value']:.1f}" in table


def test_the_admin_page_shows_the_offered_candidates_to_staff_only(planted, client, alice, charlie):
    client.force_login(charlie)  # staff without the notification permission
    assert client.get("/admin/policy-evaluation/").status_code == 403
    client.force_login(alice)
    page = client.get("/admin/policy-evaluation/?days=28")
    assert page.status_code == 200
    text = page.content.decode()
    for name in ope.OFFERED:
        assert name in text
    assert "support" in text


def test_the_planner_stores_what_evaluation_needs(settings, db):
    settings.PLAN_EXPLORATION = 0.5
    settings.PLAN_CONTROL_SHARE = 0.0
    for i in range(1, 7):
        ItemFactory(external_id=f"sku-{i}", title=f"Product {i}")
    for i in range(20):
        profile_for(customer(f"o{i}"))
    planner.plan(now=NOW)
    notes = list(Notification.objects.all())
    assert notes
    for n in notes:
        context = n.explanation["ope"]
        assert context["exploration"] == 0.5 and context["hours"] == 24
        assert context["best_hour"] == (n.explanation["hour_choice"] != "exploration")
        assert NotificationType.objects.filter(slug=context["greedy_type"]).exists()
        # Pacing can only make a send less likely than its level alone.
        assert 0 < context["send"] <= n.propensities["frequency"] and context["pace_level"] >= 1
    # The planned notifications, once sent, are read back with those propensities.
    Notification.objects.update(status=Notification.Status.SENT, sent_at=NOW)
    decisions, left_out = ope.read_log(since=NOW - dt.timedelta(hours=1), until=NOW + dt.timedelta(hours=1))
    assert left_out == 0 and len(decisions) == len(notes)
    for d in decisions:
        assert ope.hour_probability(d, 0.5) == pytest.approx(d.p_hour, abs=1e-5)


def decision(**fields) -> ope.LoggedDecision:
    base = dict(
        notification_id=1, segment_id=1, type_slug="newsletter", local_hour=19, level=2, learned_level=2,
        starting_level=1, p_hour=0.9, p_type=0.6, p_frequency=0.8, p_send=0.7, pace_level=3, exploration=0.1,
        hours=10, best_hour=True, greedy_type="newsletter", dismiss_cost=0.15, predicted_open=0.1,
        opened=False, dismissed=False, opted_out=False,
        utility={"utility": 0.01, "dismiss_cost": 0.02},
    )  # fmt: skip
    return ope.LoggedDecision(**(base | fields))


def test_candidates_pace_as_the_planner_does_and_rescale_the_dismissal_cost():
    d = decision()
    assert ope.Logged().choice(d).joint == pytest.approx(d.logged_p) and d.logged_p == pytest.approx(0.9 * 0.6 * 0.7)
    # Level 2, but pacing needed a week of at least 3: greedy at 2 a week would not have sent it.
    assert ope.candidate_named("exploration=0").choice(d).frequency == 0.0
    assert ope.candidate_named("fixed-frequency=3").choice(d).frequency == 0.7
    assert ope.candidate_named("fixed-frequency=2").choice(d).frequency == 0.0
    assert ope.candidate_named("exploration=0.2").choice(d).hour == pytest.approx(0.8 + 0.02)
    # Utility 0.01 with a dismissal term of 0.02 at cost 0.15: at 0.3 it would be −0.01, skipped.
    assert ope.candidate_named("dismiss-cost=0.3").choice(d).frequency == 0.0
    assert ope.candidate_named("dismiss-cost=0.1").choice(d).frequency == 0.7
