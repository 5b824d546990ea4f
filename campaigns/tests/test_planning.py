"""The planner and the dispatcher (DESIGN.md, "Sending, exactly once in effect"), on MariaDB with
the real FCM client code talking to the loopback gateway."""

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
from django.db import OperationalError, connections
from django.test import override_settings

from campaigns import dispatcher, planner, rules
from campaigns.models import Campaign, Delivery, Notification, Reason, SegmentPolicy
from devices.models import Customer, Device
from devices.services import device_register
from recommender.models import Item, Segment
from simulation.gateways.fcm import LoopbackGateway
from tests.factories import CustomerProfileFactory, ItemFactory, NotificationTypeFactory

NOW = dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.UTC)  # a Sunday; Europe switches to summer time on 29 March


def profile_for(customer, *, segment="loyal", best_local_hour=19, items=("sku-1", "sku-2", "sku-3"), reason="viewed"):
    """Best hour of the week: `best_local_hour` on every day, then everything else."""
    first = [d * 24 + best_local_hour for d in range(7)]
    ranking = first + [h for h in range(168) if h not in first]
    return CustomerProfileFactory(
        customer=customer,
        segment=Segment.objects.get(slug=segment),
        top_items=[{"item_id": i, "score": 1.0 - n / 10, "reason": reason} for n, i in enumerate(items)],
        best_hours=ranking,
        predicted_open_rate=0.2,
        computed_at=NOW,
    )


@pytest.fixture
def catalog(db):
    return [ItemFactory(external_id=f"sku-{i}", title=f"Product {i}") for i in range(1, 7)]


def customer(external_id, zone="Europe/Berlin", *, phone=True, **fields):
    """A customer with one phone (the planner skips those nothing could reach), unless phone=False."""
    c = Customer.objects.create(external_id=external_id, timezone=zone, **fields)
    if phone:
        device_register(customer=c, platform="fcm", token=f"tok-{external_id}")
    return c


@pytest.fixture
def quiet_planner(settings):
    # No exploration and no control group unless a test asks: the choices are then exact.
    settings.PLAN_EXPLORATION = 0.0
    settings.PLAN_CONTROL_SHARE = 0.0
    return settings


def planned(c) -> list[Notification]:
    return list(Notification.objects.filter(customer=c).order_by("scheduled_for"))


def test_plans_each_customer_at_their_best_local_hour_with_available_fresh_items(catalog, quiet_planner):
    berlin, tokyo = customer("berlin"), customer("tokyo", "Asia/Tokyo")
    profile_for(berlin)
    profile_for(tokyo, best_local_hour=8)
    Item.objects.filter(external_id="sku-1").update(available=False)
    report = planner.plan(now=NOW)
    assert report.planned == 2
    (b,) = planned(berlin)
    (t,) = planned(tokyo)
    assert b.scheduled_for == dt.datetime(2026, 3, 1, 18, tzinfo=dt.UTC)  # 19:00 in Berlin (UTC+1)
    assert t.scheduled_for == dt.datetime(2026, 3, 1, 23, tzinfo=dt.UTC)  # 08:00 on Monday in Tokyo
    assert "sku-1" not in b.item_ids and b.item_ids[0] == "sku-2"
    assert b.status == Notification.Status.PLANNED and b.explanation["hour_choice"] == "best allowed hour"
    assert b.notification_type.policies.filter(segment__slug="loyal").exists()
    assert b.propensity == 1.0 and not b.is_exploration


def test_planning_twice_creates_nothing_new(catalog, quiet_planner):
    profile_for(customer("a"))
    assert planner.plan(now=NOW).planned == 1
    again = planner.plan(now=NOW + dt.timedelta(hours=1))
    assert again.planned == 0 and Notification.objects.count() == 1


def test_a_chunk_rolled_back_by_a_deadlock_is_stored_again_once(catalog, quiet_planner, monkeypatch):
    # Two shards' INSERTs can deadlock on the shared indexes' gap locks (seen in a sharded run):
    # MariaDB rolls one back with 1213, and that chunk must still be planned, exactly once.
    profile_for(customer("a"))
    profile_for(customer("b"))
    real_insert = Notification.objects.insert_new
    calls = []

    def deadlock_first(fields, rows):
        calls.append(len(rows))
        if len(calls) == 1:
            real_insert(fields, rows)  # written, then the transaction is lost
            raise OperationalError(1213, "Deadlock found when trying to get lock; try restarting transaction")
        return real_insert(fields, rows)

    monkeypatch.setattr(Notification.objects, "insert_new", deadlock_first)
    report = planner.plan(now=NOW)
    assert calls == [2, 2] and report.planned == 2
    assert Notification.objects.count() == 2


def test_opted_out_muted_and_uncontacted_segments_get_nothing(catalog, quiet_planner):
    profile_for(customer("out", opt_out=True))
    muted = customer(
        "muted", muted_types=[t.slug for t in SegmentPolicy.objects.get(segment__slug="loyal").allowed_types.all()]
    )
    profile_for(muted)
    SegmentPolicy.objects.filter(segment__slug="lost").update(weekly_cap=0)
    profile_for(customer("lost"), segment="lost")
    report = planner.plan(now=NOW)
    assert report.planned == 0 and Notification.objects.count() == 0
    assert report.skipped == {"opted_out": 1, "nothing_to_say": 1, "segment_not_contacted": 1}


def test_quiet_hours_are_never_chosen_across_a_daylight_saving_change(catalog, quiet_planner):
    import datetime as _dt

    c = customer("night-owl", quiet_hours_start=_dt.time(18), quiet_hours_end=_dt.time(23))
    profile_for(c, best_local_hour=19)
    summer = dt.datetime(2026, 3, 28, 22, 30, tzinfo=dt.UTC)  # the night clocks go forward in Berlin
    planner.plan(now=summer)
    (n,) = planned(c)
    assert not rules.is_quiet_at(c, n.scheduled_for)
    local = n.scheduled_for.astimezone(c.zone)
    assert local.utcoffset() == dt.timedelta(hours=2) and local.minute == 0


def test_weekly_cap_counts_what_was_sent_and_planned(catalog, quiet_planner):
    c = customer("capped")
    profile_for(c, segment="at-risk")  # starts at 1 a week; nothing logged yet, so that is the learned frequency
    planner.plan(now=NOW)
    assert planner.plan(now=NOW + dt.timedelta(days=1)).skipped == {"frequency": 1}
    assert len(planned(c)) == 1


def test_weekly_cap_is_the_rolling_week_before_the_send(catalog, quiet_planner):
    # DESIGN: "Weekly caps count the rolling 7 × 24 hours before a send". A once-a-week customer
    # whose best hour is Sunday 19:00 gets every Sunday's, not every eighth day's.
    c = customer("weekly")
    profile_for(c, segment="at-risk", items=tuple(f"sku-{i}" for i in range(1, 7)))  # cap 1 a week
    planner.plan(now=NOW)
    [first] = planned(c)
    # Saturday, 6 days after: the learned frequency (the starting 1 a week, nothing logged yet) binds.
    assert planner.plan(now=NOW + dt.timedelta(days=6)).skipped == {"frequency": 1}
    report = planner.plan(now=NOW + dt.timedelta(days=7))
    assert report.planned == 1, report.as_dict()
    second = planned(c)[-1]
    assert second.scheduled_for - first.scheduled_for == dt.timedelta(days=7)
    assert second.scheduled_for.astimezone(c.zone).hour == 19
    assert second.explanation["pushes_last_7_days"] == 0


def test_items_shown_in_the_last_week_are_not_shown_again(catalog, quiet_planner):
    c = customer("fresh")
    profile_for(c, segment="champions", items=("sku-1", "sku-2", "sku-3", "sku-4", "sku-5", "sku-6"))
    planner.plan(now=NOW)
    assert planner.plan(now=NOW + dt.timedelta(days=1)).skipped == {"paced": 1}  # cap 3: ~2 days apart
    planner.plan(now=NOW + dt.timedelta(days=2))
    first, second = planned(c)
    assert not set(first.item_ids) & set(second.item_ids)


def test_cart_reminder_when_something_is_left_in_the_cart(catalog, quiet_planner):
    c = customer("cart")
    profile_for(c, segment="new", reason="in_cart")
    planner.plan(now=NOW)
    (n,) = planned(c)
    assert n.notification_type.slug == "cart-recovery" and n.title.startswith("Still thinking about Product 1")


def test_control_group_is_held_back_and_never_sent(catalog, quiet_planner):
    quiet_planner.PLAN_CONTROL_SHARE = 0.5
    for i in range(40):
        profile_for(customer(f"c{i}"))
    report = planner.plan(now=NOW)
    held = Notification.objects.filter(status=Notification.Status.SUPPRESSED)
    assert 8 <= report.control == held.count() <= 32 and report.planned + report.control == 40
    assert all("Control group" in n.status_reason for n in held)
    dispatcher.dispatch(now=NOW + dt.timedelta(days=1))
    assert not Delivery.objects.filter(notification__in=held).exists()
    # The same people stay held back.
    assert planner.in_control_group("c1", "auto", 0.5) == planner.in_control_group("c1", "auto", 0.5)


def test_exploration_is_logged_with_its_probability(catalog, quiet_planner):
    quiet_planner.PLAN_EXPLORATION = 0.5
    for i in range(60):
        profile_for(customer(f"e{i}"))
    planner.plan(now=NOW)
    notes = list(Notification.objects.all())
    # is_exploration covers every explored choice (hour, type, frequency); the hour's is in the explanation.
    explored = [n for n in notes if n.explanation["hour_choice"] == "exploration"]
    assert 10 <= len(explored) <= 50
    for n in notes:
        allowed = 24  # no quiet hours: every hour of the window is allowed
        hour_explored = n.explanation["hour_choice"] == "exploration"
        expected = 0.5 / allowed if hour_explored else 0.5 + 0.5 / allowed
        assert n.propensity == pytest.approx(expected, abs=1e-5)
        assert n.propensities["hour"] == n.propensity and n.is_exploration >= hour_explored
        assert 0 < n.propensities["type"] <= 1 and 0 < n.propensities["frequency"] <= 1


def test_low_expected_value_sends_are_skipped(catalog, quiet_planner):
    # The utility (P(open) × value − P(dismiss) × PLAN_DISMISS_COST − …) replaced PLAN_PUSH_COST.
    quiet_planner.PLAN_DISMISS_COST = 0.5
    profile_for(customer("keen"))  # P(open) 0.2
    dull = customer("dull")
    p = profile_for(dull)
    p.predicted_open_rate = 0.01
    p.save()
    report = planner.plan(now=NOW)
    assert report.planned == 1 and report.skipped == {"low_expected_value": 1}
    assert not planned(dull)


def test_a_campaign_at_a_fixed_local_time_goes_through_the_same_caps(catalog, quiet_planner, alice):
    from campaigns.models import NotificationType

    # "The sale is on" promises a sale: the shop attaches what it gives (issue 17, item 15).
    NotificationType.objects.filter(slug="sale-promotions").update(offer="20 % off everything")
    campaign = Campaign.objects.create(
        name="Spring sale",
        notification_type=NotificationType.objects.get(slug="sale-promotions"),
        starts_at=NOW,
        ends_at=NOW + dt.timedelta(days=3),
        timing=Campaign.Timing.FIXED_LOCAL_TIME,
        fixed_local_time=dt.time(10, 15),
        control_share=0,
        status=Campaign.Status.APPROVED,
    )
    campaign.segments.add(Segment.objects.get(slug="loyal"))
    inside, outside = customer("inside"), customer("outside")
    profile_for(inside)
    profile_for(outside, segment="champions")
    planner.plan(now=NOW)
    (n,) = planned(inside)
    assert n.campaign == campaign and n.scheduled_for == dt.datetime(2026, 3, 1, 9, 15, tzinfo=dt.UTC)
    assert planned(outside)[0].campaign is None  # not in the audience: the automation instead


# --- dispatching -----------------------------------------------------------------------------


@pytest.fixture
def gateway(tmp_path):
    gw = LoopbackGateway(record=str(tmp_path / "fcm.jsonl"), seed=1).start()
    with override_settings(PUSH_BACKEND="fcm", FCM_ENDPOINT=gw.url, FCM_PROJECT_ID="optimus-test"):
        yield gw
    gw.stop()


def received(gateway) -> list[dict]:
    gateway._record.flush()
    return [json.loads(line) for line in Path(gateway._record.name).read_text().splitlines()]


def with_phone(external_id, token, **fields):
    c = customer(external_id, phone=False, **fields)
    device_register(customer=c, platform="fcm", token=token)
    profile_for(c)
    return c


def test_due_notifications_are_delivered_once_with_their_payload(catalog, quiet_planner, gateway):
    c = with_phone("phone", "tok-phone")
    planner.plan(now=NOW)
    (n,) = planned(c)
    assert dispatcher.dispatch(now=n.scheduled_for - dt.timedelta(minutes=1)).sent == 0  # not due yet
    report = dispatcher.dispatch(now=n.scheduled_for)
    assert report.sent == 1 and report.delivered == 1
    n.refresh_from_db()
    assert n.status == Notification.Status.SENT
    (delivery,) = n.deliveries.all()
    assert delivery.status == Delivery.Status.SENT and delivery.provider_message_id
    (message,) = [r["message"] for r in received(gateway)]
    assert message["token"] == "tok-phone"
    assert message["data"]["notification_id"] == str(n.pk) and json.loads(message["data"]["item_ids"]) == n.item_ids
    assert message["android"]["collapse_key"] == f"n{n.pk}"
    assert dispatcher.dispatch(now=n.scheduled_for + dt.timedelta(hours=1)).sent == 0
    assert len(received(gateway)) == 1


def test_rules_are_checked_again_at_send_time(catalog, quiet_planner, gateway):
    opted = with_phone("opted", "tok-1")
    muted = with_phone("muted", "tok-2")
    planner.plan(now=NOW)
    Customer.objects.filter(pk=opted.pk).update(opt_out=True)
    kind = planned(muted)[0].notification_type.slug
    Customer.objects.filter(pk=muted.pk).update(muted_types=[kind])
    report = dispatcher.dispatch(now=NOW + dt.timedelta(days=1))
    assert report.sent == 0 and dict(report.suppressed) == {"opted_out": 1, "muted_type": 1}
    assert received(gateway) == []


def test_dead_tokens_deactivate_the_device_and_transient_errors_are_retried_alone(catalog, quiet_planner, gateway):
    dead = with_phone("dead", "dead-1")
    busy = customer("busy", phone=False)
    device_register(customer=busy, platform="fcm", token="ok-token")
    device_register(customer=busy, platform="fcm", token="throttle-1")
    profile_for(busy)
    planner.plan(now=NOW)
    sent_at = NOW + dt.timedelta(days=1)
    report = dispatcher.dispatch(now=sent_at)
    assert report.retrying == 1
    device = Device.objects.get(customer=dead)
    assert device.push_device_model.objects.get(pk=device.push_device_id).active is False
    assert planned(dead)[0].status == Notification.Status.FAILED
    note = planned(busy)[0]
    assert note.status == Notification.Status.SENT  # one device accepted it
    failed = note.deliveries.get(status=Delivery.Status.FAILED)
    assert failed.attempts == 1 and failed.next_attempt_at > sent_at
    before = len(received(gateway))
    dispatcher.retry_due(now=failed.next_attempt_at + dt.timedelta(seconds=1))
    retried = received(gateway)[before:]
    assert [r["message"]["token"] for r in retried] == ["throttle-1"]  # only what failed


def test_a_second_sender_of_the_same_batch_never_undoes_a_send(catalog, quiet_planner, gateway, monkeypatch):
    # A weekly cap of 1: the first sender's success must not count as a cap hit for the second one
    # (a redelivered task or a reclaim of a slow sender), and "sent" must stay "sent".
    SegmentPolicy.objects.filter(segment__slug="loyal").update(weekly_cap=1)
    c = with_phone("capped", "tok-capped")
    planner.plan(now=NOW)
    (n,) = planned(c)
    ids = dispatcher.claim_due(now=n.scheduled_for)
    original = dispatcher.suppression_reasons
    first = []

    def the_other_sender_finishes_first(notifications, now):
        if not first:  # the second sender has loaded the batch; the first one completes now
            first.append(None)
            first[0] = dispatcher.send_notifications(ids, now=now)
        return original(notifications, now)

    monkeypatch.setattr(dispatcher, "suppression_reasons", the_other_sender_finishes_first)
    second = dispatcher.send_notifications(ids, now=n.scheduled_for)
    n.refresh_from_db()
    assert n.status == Notification.Status.SENT and n.status_reason == ""
    assert first[0].sent == 1 and second.sent == 0 and not second.suppressed
    assert len(received(gateway)) == 1
    assert n.deliveries.get().attempts == 1


def test_an_accepted_push_is_recorded_as_sent_even_if_another_sender_suppressed_it_meanwhile(
    catalog, quiet_planner, gateway, monkeypatch
):
    c = with_phone("raced", "tok-raced")
    planner.plan(now=NOW)
    (n,) = planned(c)
    real_backend = dispatcher.get_backend()

    class SuppressedWhileSending:
        def send(self, messages):
            # Another sender of the batch decides "suppress" while this one has it with the provider.
            Notification.objects.filter(pk=n.pk).update(status=Notification.Status.SUPPRESSED)
            return real_backend.send(messages)

    monkeypatch.setattr(dispatcher, "get_backend", SuppressedWhileSending)
    report = dispatcher.dispatch(now=n.scheduled_for)
    n.refresh_from_db()
    assert n.status == Notification.Status.SENT and report.sent == 1  # the provider took it
    assert len(received(gateway)) == 1


def test_a_notification_suppressed_by_another_sender_is_not_pushed(catalog, quiet_planner, gateway, monkeypatch):
    c = with_phone("late", "tok-late")
    planner.plan(now=NOW)
    (n,) = planned(c)
    ids = dispatcher.claim_due(now=n.scheduled_for)
    original = dispatcher.suppression_reasons

    def the_other_sender_suppresses_it(notifications, now):
        reasons = original(notifications, now)  # "send it", as this sender sees it
        Notification.objects.filter(pk=n.pk).update(status=Notification.Status.SUPPRESSED, status_reason="opted_out")
        return reasons

    monkeypatch.setattr(dispatcher, "suppression_reasons", the_other_sender_suppresses_it)
    report = dispatcher.send_notifications(ids, now=n.scheduled_for)
    n.refresh_from_db()
    assert n.status == Notification.Status.SUPPRESSED and report.sent == 0 and report.delivered == 0
    assert received(gateway) == []


def test_the_dispatch_command_says_what_is_unconfirmed_when_no_worker_answers(catalog, quiet_planner, gateway):
    from django.core.management import CommandError, call_command

    from optimus_site.celery import app

    c = with_phone("unanswered", "tok-unanswered")
    planner.plan(now=NOW)
    (n,) = planned(c)
    try:
        # A real Redis broker and no worker on the `send` queue: the batch is published, never run.
        with pytest.raises(CommandError, match=r"1 notifications were handed to workers without an answer within 1 s"):
            call_command("dispatch", "--now", n.scheduled_for.isoformat(), "--timeout", "1")
    finally:
        app.control.purge()
    n.refresh_from_db()
    assert n.status == Notification.Status.QUEUED  # not lost: reclaimed after SEND_CLAIM_TIMEOUT_S
    assert received(gateway) == []


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_never_claim_the_same_notification():

    # Its own type: a transactional test may run after another one flushed the seeded rows.
    c = customer("many")
    kind = NotificationTypeFactory(slug="claim-test", name="Claim test", title_template="t", body_template="b")
    Notification.objects.bulk_create(
        Notification(
            customer=c, notification_type=kind, idempotency_key=f"k{i}", scheduled_for=NOW, title="t", body="b"
        )
        for i in range(400)
    )
    claims: list[list[int]] = []

    def claim():
        try:
            claims.append(dispatcher.claim_due(now=NOW, limit=150))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for claim in claims for i in claim]
    assert len(everything) == len(set(everything)) == min(400, 150 * 4)


# --- operator controls -----------------------------------------------------------------------


def test_the_kill_switch_stops_every_send_until_resumed(catalog, quiet_planner, gateway, alice):
    from django.contrib.admin.models import LogEntry

    from campaigns import services

    c = with_phone("switch", "tok-switch")
    planner.plan(now=NOW)
    later = NOW + dt.timedelta(days=1)
    assert services.sending_pause(by=alice, reason="wrong prices in the feed")
    assert not services.sending_pause(by=alice)  # already paused
    assert dispatcher.dispatch(now=later).sent == 0
    # A batch already handed to a sender goes back to planned instead of out.
    (n,) = planned(c)
    Notification.objects.filter(pk=n.pk).update(status=Notification.Status.QUEUED)
    dispatcher.send_notifications([n.pk], now=later)
    n.refresh_from_db()
    assert n.status == Notification.Status.PLANNED and received(gateway) == []
    assert services.sending_resume(by=alice)
    assert dispatcher.dispatch(now=later).sent == 1
    history = list(LogEntry.objects.filter(user=alice).values_list("change_message", flat=True))
    assert "Paused all sending: wrong prices in the feed" in history and "Resumed sending" in history


def test_marketers_send_now_and_cancel_from_the_admin_and_it_is_recorded(catalog, quiet_planner, mia, charlie, client):
    from django.contrib.admin.models import LogEntry

    first, second = customer("first"), customer("second")
    profile_for(first)
    profile_for(second)
    planner.plan(now=NOW)
    (a,), (b,) = planned(first), planned(second)
    url = "/admin/campaigns/notification/"
    client.force_login(charlie)
    assert client.post(url, {"action": "send_now", "_selected_action": [a.pk]}).status_code == 403
    client.force_login(mia)
    client.post(url, {"action": "send_now", "_selected_action": [a.pk]})
    client.post(url, {"action": "cancel", "_selected_action": [b.pk]})
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.scheduled_for <= dt.datetime.now(tz=dt.UTC) and a.status == Notification.Status.PLANNED
    assert b.status == Notification.Status.CANCELLED and "mia" in b.status_reason
    assert set(LogEntry.objects.filter(user=mia).values_list("change_message", flat=True)) == {"Send now", "Cancelled"}


def test_a_test_push_goes_to_the_device_right_away(db, gateway, alice, client):
    c = customer("tester", phone=False)
    device, _ = device_register(customer=c, platform="fcm", token="tok-test")
    client.force_login(alice)
    response = client.post(
        "/admin/devices/device/", {"action": "send_test", "_selected_action": [device.pk]}, follow=True
    )
    assert response.status_code == 200
    (message,) = [r["message"] for r in received(gateway)]
    assert message["token"] == "tok-test" and message["data"]["type"] == "test"
    assert not Notification.objects.exists()


def test_marketers_steer_the_kill_switch_and_tests_respect_it(catalog, quiet_planner, gateway, mia, charlie, client):
    """Issue 17 #12: a marketer may pause sending and send a test; a paused switch holds test pushes
    too, "send now" says it waits, and the admin index and dashboard say sending is paused."""
    c = with_phone("paused", "tok-paused")
    planner.plan(now=NOW)
    (n,) = planned(c)
    device = Device.objects.get(customer=c)
    client.force_login(charlie)
    assert client.get("/admin/campaigns/sendingswitch/1/change/").status_code == 403
    client.force_login(mia)
    assert "Sending is paused" not in client.get("/admin/").content.decode()
    assert client.get("/admin/campaigns/sendingswitch/").status_code == 200  # creates the one row
    response = client.post(
        "/admin/campaigns/sendingswitch/1/change/", {"paused": "on", "reason": "bad feed"}, follow=True
    )
    assert response.status_code == 200
    assert rules_paused()
    for page in ("/admin/", "/admin/dashboard/"):
        body = client.get(page).content.decode()
        assert "Sending is paused" in body and "bad feed" in body, page
    response = client.post(
        "/admin/devices/device/", {"action": "send_test", "_selected_action": [device.pk]}, follow=True
    )
    assert response.status_code == 200 and "Sending is paused" in response.content.decode()
    response = client.post(
        "/admin/campaigns/notification/", {"action": "send_now", "_selected_action": [n.pk]}, follow=True
    )
    assert "when sending is resumed" in response.content.decode()
    assert "within a minute" not in response.content.decode()
    assert received(gateway) == []


def rules_paused() -> bool:
    from campaigns.services import sending_paused

    return sending_paused()


def test_cleanup_removes_dead_devices_and_keeps_their_delivery_history(catalog, quiet_planner, gateway):
    from campaigns import services

    c = with_phone("gone", "dead-2")
    planner.plan(now=NOW)
    dispatcher.dispatch(now=NOW + dt.timedelta(days=1))
    assert services.cleanup()["devices_removed"] == 1
    assert not Device.objects.filter(customer=c).exists()
    assert Delivery.objects.filter(notification__customer=c, device__isnull=True).count() == 1


def test_customers_with_no_active_device_are_skipped_with_the_reason(catalog, quiet_planner):
    # Planned, they would only fail at send time: nothing could reach them.
    reachable, never_registered, dead = customer("reachable"), customer("none", phone=False), customer("dead")
    for c in (reachable, never_registered, dead):
        profile_for(c)
    device = Device.objects.get(customer=dead)
    device.push_device_model.objects.filter(pk=device.push_device_id).update(active=False)
    report = planner.plan(now=NOW)
    assert report.planned == 1 and len(planned(reachable)) == 1
    assert planned(never_registered) == [] and planned(dead) == []
    assert report.skipped[Reason.NO_ACTIVE_DEVICE] == 2


def test_a_held_back_decision_counts_against_the_cap_like_a_send(catalog, quiet_planner, gateway):
    # Control and treated get the same number of decisions per person (uplift compares like with like):
    # before, held-back rows escaped the weekly cap and the pacing, and a control person had one every day.
    quiet_planner.PLAN_CONTROL_SHARE = 0.5
    ids = [f"p{i}" for i in range(40)]
    held_id = next(i for i in ids if planner.in_control_group(i, "auto", 0.5))
    treated_id = next(i for i in ids if not planner.in_control_group(i, "auto", 0.5))
    held, treated = with_phone(held_id, "tok-held"), with_phone(treated_id, "tok-treated")
    for day in range(14):
        at = NOW + dt.timedelta(days=day)
        planner.plan(now=at)
        dispatcher.dispatch(now=at + dt.timedelta(days=1) - dt.timedelta(minutes=31))
    held_rows = Notification.objects.filter(customer=held, status=Notification.Status.SUPPRESSED)
    sent = Notification.objects.filter(customer=treated, status=Notification.Status.SENT)
    assert held_rows.count() == sent.count() <= 2 * 3  # loyal: 3 a week
    assert not Notification.objects.filter(customer=held).exclude(status=Notification.Status.SUPPRESSED).exists()
