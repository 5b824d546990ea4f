"""The rulebook (campaigns.rules): one answer to "may this person be contacted with this type now, and
if not, why" — and the planner and the sender can never disagree on it."""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns import dispatcher, rules
from campaigns.models import Campaign, Notification, NotificationType, Reason, SegmentPolicy
from campaigns.planner import Planner
from devices.models import Customer
from recommender.models import CustomerProfile, Segment

WEEK = dt.timedelta(days=7)
AT = dt.datetime(2026, 3, 29, 9, 0, tzinfo=dt.UTC)  # the morning Europe moves to summer time
# Half-hour and 45-minute zones, daylight-saving zones on both hemispheres, and UTC.
ZONES = [
    "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide",
    "America/St_Johns", "Pacific/Auckland", "Asia/Tokyo",
]  # fmt: skip
TYPES = ["product-recommendation", "cart-recovery", "newsletter"]
COUNTED = [str(s) for s in rules.COUNTED_STATUSES]
NOT_COUNTED = [Notification.Status.SUPPRESSED, Notification.Status.CANCELLED, Notification.Status.FAILED]


def person(**fields):
    values = {"opt_out": False, "timezone": "UTC", "quiet_hours_start": None, "quiet_hours_end": None}
    return SimpleNamespace(**(values | {"muted_types": []} | fields))


def check(customer=None, *, cap=2, pushes=(), at=AT, planning, segment_id=1, campaign_status=None, slug=TYPES[0]):
    return rules.contact_reason(
        customer or person(),
        segment_id=segment_id,
        weekly_cap=cap,
        notification_type=slug,
        at=at,
        pushes=pushes,
        campaign_status=campaign_status,
        planning=planning,
    )


# The rules one by one ---------------------------------------------------------------------------


@pytest.mark.parametrize("planning", [True, False])
def test_the_person_rules_in_order(planning):
    assert check(person(opt_out=True), cap=0, planning=planning) == Reason.OPTED_OUT
    assert check(cap=0, planning=planning) == Reason.SEGMENT_NOT_CONTACTED  # a paused policy, or cap 0
    assert check(person(muted_types=["newsletter"]), slug="newsletter", planning=planning) == Reason.MUTED_TYPE
    quiet = person(timezone="Asia/Kolkata", quiet_hours_start=dt.time(14), quiet_hours_end=dt.time(15))
    assert check(quiet, planning=planning) == Reason.QUIET_HOURS  # 09:00 UTC is 14:30 in Kolkata
    assert check(planning=planning) is None


def test_without_a_segment_nothing_is_planned_but_a_sender_applies_the_persons_own_rules():
    assert check(segment_id=None, cap=0, planning=True) == Reason.NO_PROFILE
    assert check(segment_id=None, cap=0, planning=False) is None
    assert check(person(opt_out=True), segment_id=None, cap=0, planning=False) == Reason.OPTED_OUT


@pytest.mark.parametrize(
    "status, reason",
    [("paused", Reason.CAMPAIGN_PAUSED), ("cancelled", Reason.CAMPAIGN_CANCELLED), ("draft", Reason.CAMPAIGN_DRAFT)],
)
def test_a_campaign_that_is_not_running(status, reason):
    assert check(campaign_status=status, planning=False) == reason
    assert check(campaign_status=Campaign.Status.APPROVED, planning=False) is None


def test_quiet_hours_wrap_midnight_on_the_local_clock_across_a_daylight_saving_change():
    night = person(timezone="Europe/Berlin", quiet_hours_start=dt.time(22), quiet_hours_end=dt.time(7))
    assert rules.is_quiet_at(night, dt.datetime(2026, 3, 29, 4, 59, tzinfo=dt.UTC))  # 06:59 summer time
    assert not rules.is_quiet_at(night, dt.datetime(2026, 3, 29, 5, 0, tzinfo=dt.UTC))  # 07:00
    assert not rules.is_quiet_at(night, dt.datetime(2026, 3, 28, 6, 0, tzinfo=dt.UTC))  # 07:00 winter time
    assert rules.is_quiet_at(night, dt.datetime(2026, 3, 28, 21, 0, tzinfo=dt.UTC))  # 22:00
    assert rules.is_quiet_at_hour_of_week(night, 6) and not rules.is_quiet_at_hour_of_week(night, 7)
    assert rules.is_quiet_at_hour_of_week(night, 167) and not rules.is_quiet_at_hour_of_week(night, 21)


def test_the_weekly_cap_is_the_rolling_week_before_the_send():
    inside, edge = AT - WEEK + dt.timedelta(minutes=1), AT - WEEK
    assert check(cap=1, pushes=[inside], planning=True) == Reason.WEEKLY_CAP
    assert check(cap=1, pushes=[inside], planning=False) == Reason.WEEKLY_CAP
    assert check(cap=1, pushes=[edge], planning=True) is None  # exactly 7 × 24 h before: out
    assert check(cap=1, pushes=[edge], planning=False) is None


def test_when_planning_what_is_planned_later_counts_too():
    # A send planned for tomorrow already has this one in its week: planning this one as well would
    # put tomorrow's over the cap. The sender, now, only looks back.
    later = AT + dt.timedelta(days=1)
    assert check(cap=1, pushes=[later], planning=True) == Reason.WEEKLY_CAP
    assert check(cap=1, pushes=[later], planning=False) is None


def test_a_sent_notification_counts_from_when_it_was_sent():
    due, sent = AT - WEEK - dt.timedelta(hours=2), AT - WEEK + dt.timedelta(hours=1)
    assert rules.counted_at(status="sent", scheduled_for=due, sent_at=sent) == sent
    assert rules.counted_at(status="queued", scheduled_for=due, sent_at=None) == due


# The planner and the sender never disagree ---------------------------------------------------------

offsets = st.integers(min_value=-200 * 60, max_value=200 * 60).map(lambda m: dt.timedelta(minutes=m))


@settings(max_examples=300, deadline=None)
@given(
    cap=st.integers(0, 4),
    pushes=st.lists(offsets, max_size=6),
    opt_out=st.booleans(),
    zone=st.sampled_from(ZONES),
    quiet=st.one_of(st.none(), st.tuples(st.integers(0, 23), st.integers(0, 23))),
    at=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 1, 1), timezones=st.just(dt.UTC)),
)
def test_a_send_the_planner_accepts_is_never_refused_by_the_sender_for_the_cap(cap, pushes, opt_out, zone, quiet, at):
    customer = person(
        opt_out=opt_out,
        timezone=zone,
        quiet_hours_start=dt.time(quiet[0]) if quiet else None,
        quiet_hours_end=dt.time(quiet[1]) if quiet else None,
    )
    times = [at + offset for offset in pushes]
    planner_says = check(customer, cap=cap, pushes=times, at=at, planning=True)
    sender_says = check(customer, cap=cap, pushes=times, at=at, planning=False)
    if planner_says is None:
        assert sender_says is None
    if all(t <= at for t in times):  # nothing planned after the moment: the very same answer
        assert planner_says == sender_says
    else:
        assert planner_says in (sender_says, Reason.WEEKLY_CAP)


pushes_before = st.lists(
    st.tuples(
        st.sampled_from(COUNTED + NOT_COUNTED),
        st.integers(min_value=0, max_value=9 * 24 * 60),  # minutes before the moment it was due
        st.integers(min_value=0, max_value=3 * 60),  # minutes it took to send, when sent
    ),
    max_size=5,
)


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    zone=st.sampled_from(ZONES),
    quiet=st.one_of(st.none(), st.tuples(st.integers(0, 23), st.integers(0, 23)).filter(lambda q: q[0] != q[1])),
    opt_out=st.booleans(),
    muted=st.lists(st.sampled_from(TYPES), unique=True, max_size=2),
    slug=st.sampled_from(TYPES),
    cap=st.integers(0, 3),
    policy_active=st.booleans(),
    pushes=pushes_before,
    at=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 1, 1), timezones=st.just(dt.UTC)),
    hours_ahead=st.integers(0, 23),
)
def test_the_planner_and_the_sender_give_the_same_answer_from_their_own_loading(
    zone, quiet, opt_out, muted, slug, cap, policy_active, pushes, at, hours_ahead
):
    at = at.replace(microsecond=0)
    with transaction.atomic():
        segment = Segment.objects.get(slug="loyal")
        SegmentPolicy.objects.filter(segment=segment).update(weekly_cap=cap, is_active=policy_active)
        customer = Customer.objects.create(
            external_id="prop",
            timezone=zone,
            opt_out=opt_out,
            muted_types=muted,
            quiet_hours_start=dt.time(quiet[0]) if quiet else None,
            quiet_hours_end=dt.time(quiet[1]) if quiet else None,
        )
        CustomerProfile.objects.create(customer=customer, segment=segment, computed_at=at)
        notification_type = NotificationType.objects.get(slug=slug)
        for i, (status, before, took) in enumerate(pushes):
            due = at - dt.timedelta(minutes=before)
            Notification.objects.create(
                customer=customer,
                notification_type=notification_type,
                idempotency_key=f"prop-{i}",
                status=status,
                scheduled_for=due,
                sent_at=min(due + dt.timedelta(minutes=took), at) if status == "sent" else None,
                title="t",
                body="b",
            )
        # The planner, planning this slot some hours ahead, with its own chunk loading.
        planner = Planner(at - dt.timedelta(hours=hours_ahead))
        (context,), _, _ = planner.load_chunk([customer.pk])
        planner_says = planner.slot_reason(context, at, slug)
        # The sender, at that moment, with the notification in its batch.
        sending = Notification.objects.create(
            customer=customer,
            notification_type=notification_type,
            idempotency_key="prop-now",
            status=Notification.Status.SENDING,
            scheduled_for=at,
            title="t",
            body="b",
        )
        loaded = list(Notification.objects.filter(pk=sending.pk).select_related("customer", "notification_type"))
        (sender_says,) = dispatcher.suppression_reasons(loaded, at)
        transaction.set_rollback(True)
    assert planner_says == sender_says
