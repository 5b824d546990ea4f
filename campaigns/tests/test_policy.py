"""The learned policy on planted logs (issue 18): the frequency follows what people did with their pushes,
a never-opened type stops being chosen, and every exploration decision stores its propensity."""

import datetime as dt

import pytest

from campaigns import planner
from campaigns.models import Feedback, Notification, NotificationType, Owner, SegmentPolicy
from campaigns.policy import PolicyLog, segment_frequencies
from campaigns.tests.test_planning import NOW, customer, profile_for
from devices.models import Customer
from recommender.models import Segment
from tests.factories import ItemFactory


@pytest.fixture
def catalog(db):
    return [ItemFactory(external_id=f"sku-{i}", title=f"Product {i}") for i in range(1, 7)]


@pytest.fixture
def quiet_planner(settings):
    # No exploration and no control group unless a test asks: the choices are then exact.
    settings.PLAN_EXPLORATION = 0.0
    settings.PLAN_CONTROL_SHARE = 0.0
    return settings


def plant(
    segment_slug: str,
    *,
    people: int,
    levels: int,
    open_every: int,
    dismiss_every: int,
    opt_out_from_level: int | None = None,
    type_slug: str = "product-recommendation",
    prefix: str = "p",
):
    """`people` customers of the segment, each with `levels` automated pushes sent in the week before NOW
    (level n = their n-th); every `open_every`-th push opened, every `dismiss_every`-th unopened one
    dismissed; with `opt_out_from_level`, each person opts out after their push at that level."""
    segment = Segment.objects.get(slug=segment_slug)
    kind = NotificationType.objects.get(slug=type_slug)
    count = 0
    for person in range(people):
        c = Customer.objects.create(external_id=f"{prefix}{segment_slug}-{person}", timezone="UTC")
        for level in range(1, levels + 1):
            count += 1
            sent_at = NOW - dt.timedelta(days=7) + dt.timedelta(hours=20 * level + person % 5)
            n = Notification.objects.create(
                customer=c,
                owner=Owner.AUTOMATION,
                notification_type=kind,
                idempotency_key=f"{c.pk}:auto:{level}",
                status=Notification.Status.SENT,
                scheduled_for=sent_at,
                sent_at=sent_at,
                title="t",
                body="b",
                explanation={"segment_id": segment.pk, "pushes_last_7_days": level - 1},
            )
            later = sent_at + dt.timedelta(minutes=5)
            if count % open_every == 0:
                Feedback.objects.create(notification=n, action=Feedback.Action.OPENED, occurred_at=later)
            elif count % dismiss_every == 0:
                Feedback.objects.create(notification=n, action=Feedback.Action.DISMISSED, occurred_at=later)
            if opt_out_from_level is not None and level == opt_out_from_level:
                Customer.objects.filter(pk=c.pk).update(opt_out=True, opted_out_at=later)
                break
    return segment


def test_the_log_is_read_per_segment_and_level(db):
    segment = plant("loyal", people=10, levels=3, open_every=5, dismiss_every=2, opt_out_from_level=3)
    log = PolicyLog.read(now=NOW)
    counts = log.segment(segment.pk)
    assert list(counts.sends[:4]) == [10, 10, 10, 0]
    assert counts.opens.sum() == 6 and counts.dismissals.sum() > 0
    assert list(counts.opt_outs[:3]) == [0, 0, 10]  # blamed on the push just before


def test_frequency_moves_up_in_a_planted_tolerant_world(db):
    start = SegmentPolicy.objects.get(segment__slug="loyal").weekly_cap
    # Opened one push in four, rarely dismissed, nobody leaves, at every level up to daily.
    segment = plant("loyal", people=60, levels=7, open_every=4, dismiss_every=20)
    learned = segment_frequencies(now=NOW)[segment.pk]
    assert learned["starting"] == start and learned["learned"] > start, learned
    assert "above the starting" in learned["why"]


def test_frequency_moves_down_in_a_planted_sensitive_one(db):
    start = SegmentPolicy.objects.get(segment__slug="loyal").weekly_cap
    # Rarely opened, mostly dismissed, and everyone gone after their second push.
    segment = plant("loyal", people=80, levels=3, open_every=40, dismiss_every=1, opt_out_from_level=2)
    learned = segment_frequencies(now=NOW)[segment.pk]
    assert learned["learned"] < start, learned
    assert "below zero" in learned["why"]


def test_the_planner_sends_more_where_the_log_says_pushes_are_welcome(catalog, quiet_planner):
    c = customer("keen")
    profile_for(c, segment="at-risk")  # starts at 1 a week
    at_risk = Segment.objects.get(slug="at-risk")
    last_week = NOW - dt.timedelta(days=2)
    Notification.objects.create(
        customer=c,
        owner=Owner.AUTOMATION,
        notification_type=NotificationType.objects.get(slug="we-miss-you"),
        idempotency_key=f"{c.pk}:auto:before",
        status=Notification.Status.SENT,
        scheduled_for=last_week,
        sent_at=last_week,
        title="t",
        body="b",
        explanation={"segment_id": at_risk.pk, "pushes_last_7_days": 0},
    )
    assert planner.plan(now=NOW).skipped == {"frequency": 1}  # without evidence: the starting 1 a week
    plant("at-risk", people=60, levels=4, open_every=3, dismiss_every=20, type_slug="we-miss-you")
    report = planner.plan(now=NOW)
    assert report.planned == 1, report.as_dict()
    latest = Notification.objects.filter(customer=c, status=Notification.Status.PLANNED).get()
    assert latest.explanation["frequency"]["level"] == 2 and latest.explanation["utility"]["utility"] > 0


def test_a_type_never_opened_stops_being_chosen_and_every_choice_logs_its_propensity(catalog, quiet_planner):
    quiet_planner.PLAN_EXPLORATION = 0.5
    # 27 newsletters to the segment, none opened; other types opened now and then.
    plant("new", people=27, levels=1, open_every=10**6, dismiss_every=3, type_slug="newsletter", prefix="n")
    plant("new", people=20, levels=1, open_every=4, dismiss_every=3, type_slug="sale-promotions", prefix="s")
    for i in range(40):
        profile_for(customer(f"x{i}"), segment="new")
    planner.plan(now=NOW)
    planned = Notification.objects.filter(status=Notification.Status.PLANNED)
    assert planned.count() > 20
    assert not planned.filter(notification_type__slug="newsletter").exists()
    for n in planned:
        assert set(n.propensities) >= {"hour", "type", "frequency", "joint"}
        assert all(0 < p <= 1 for p in n.propensities.values())
        if n.is_exploration:
            assert n.propensities["joint"] < 1


def test_a_marketer_pins_or_forbids_types(catalog, quiet_planner):
    policy = SegmentPolicy.objects.get(segment__slug="new")
    pinned = NotificationType.objects.get(slug="educational-content")
    policy.pinned_type = pinned
    policy.save()
    profile_for(customer("pinned"), segment="new")
    planner.plan(now=NOW)
    assert Notification.objects.get().notification_type == pinned
    Notification.objects.all().delete()
    policy.pinned_type = None
    policy.save()
    policy.forbidden_types.set([t for t in policy.allowed_types.all() if t.slug != "educational-content"])
    planner.plan(now=NOW)
    assert Notification.objects.get().notification_type == pinned  # the only one left


def test_the_learned_costs_are_checked_on_the_last_week(db):
    from campaigns.policy import cost_model_calibration

    plant("loyal", people=30, levels=3, open_every=5, dismiss_every=2, opt_out_from_level=3)
    report = cost_model_calibration(now=NOW, holdout_days=5)  # the third pushes, 4.5 days before NOW
    assert report["dismiss"]["n"] > 0 and report["dismiss"]["log_loss"] is not None
    assert report["opt_out"]["reliability"] and report["fitted_until"] < NOW.isoformat()
