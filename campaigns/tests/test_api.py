"""The campaigns API (DESIGN.md, "REST API"): the inbox, feedback and preferences."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import rules
from campaigns.models import Feedback, Notification
from tests.api import API, assert_error, now_iso, sent_notification
from tests.factories import NotificationFactory

# --- inbox and feedback -----------------------------------------------------------------------


@pytest.mark.django_db
def test_inbox_lists_own_sent_notifications_newest_first_with_feedback(ana):
    old = sent_notification(ana.customer, scheduled_for=timezone.now() - dt.timedelta(days=2), item_ids=["sku-1"])
    new = sent_notification(ana.customer, scheduled_for=timezone.now() - dt.timedelta(hours=1))
    NotificationFactory(customer=ana.customer, status=Notification.Status.PLANNED)  # not yet sent: invisible
    ana.post(f"{API}/notifications/{old.pk}/feedback", {"action": "opened", "at": now_iso()}, format="json")

    body = ana.get(f"{API}/notifications?page_size=1").json()
    assert body["count"] == 2 and body["next"]
    assert [n["id"] for n in body["results"]] == [new.pk]
    second = ana.get(f"{API}/notifications?page=2&page_size=1").json()["results"][0]
    assert second["id"] == old.pk and second["item_ids"] == ["sku-1"] and second["opened_at"]
    assert second["type"] == "product-recommendation"
    assert_error(ana.get(f"{API}/notifications?page=9"), 404, "not_found")
    # A page size it cannot honour is refused, not quietly replaced by the default.
    for size in ("ten", "0", "101", "-1", "1.5", "\u0661"):
        assert_error(ana.get(f"{API}/notifications", {"page_size": size}), 400, "invalid")
    assert ana.get(f"{API}/notifications?page_size=100").status_code == 200


@pytest.mark.django_db
def test_feedback_is_recorded_once_with_its_context(ana):
    notification = sent_notification(ana.customer)
    url = f"{API}/notifications/{notification.pk}/feedback"
    body = {
        "action": "dismissed",
        "at": now_iso(),
        "context": {"battery": 42, "charging": False, "network": "cellular", "app_state": "killed", "os": "iOS 19"},
    }
    first = ana.post(url, body, format="json")
    assert first.status_code == 201 and first.json()["duplicate"] is False
    repeat = ana.post(url, body, format="json")
    assert repeat.status_code == 200 and repeat.json()["duplicate"] is True
    feedback = Feedback.objects.get()
    assert (feedback.battery, feedback.charging, feedback.network, feedback.app_state, feedback.os) == (
        42,
        False,
        "cellular",
        "killed",
        "iOS 19",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "liked", "at": "2026-01-01T00:00:00Z"}, "action"),
        ({"action": "opened"}, "at"),
        ({"action": "opened", "at": "2026-01-01T00:00:00Z", "context": {"battery": 140}}, "context.battery"),
        ({"action": "opened", "at": "2026-01-01T00:00:00Z", "context": {"network": "5g"}}, "context.network"),
        ({"action": "opened", "at": "2026-01-01T00:00:00Z", "context": {"gps": "x"}}, "context.gps"),
    ],
)
def test_feedback_validation(ana, body, field):
    notification = sent_notification(ana.customer)
    error = assert_error(
        ana.post(f"{API}/notifications/{notification.pk}/feedback", body, format="json"), 400, "invalid"
    )
    assert field in error["fields"]


def hours_ago(customer, hours: int) -> Notification:
    return sent_notification(customer, scheduled_for=timezone.now() - dt.timedelta(hours=hours))


@pytest.mark.django_db
def test_a_batch_of_feedback_follows_the_single_endpoints_rules_row_by_row(ana, ben):
    mine, other = hours_ago(ana.customer, 1), hours_ago(ana.customer, 2)
    unsent = NotificationFactory(customer=ana.customer, status=Notification.Status.PLANNED)
    bens = sent_notification(ben.customer)
    ana.post(f"{API}/notifications/{other.pk}/feedback", {"action": "opened", "at": now_iso()}, format="json")
    rows = [
        {"notification_id": mine.pk, "action": "delivered", "at": now_iso(), "action_id": "q-1"},
        {"notification_id": mine.pk, "action": "opened", "at": now_iso(), "context": {"battery": 7, "network": "wifi"}},
        {"notification_id": other.pk, "action": "opened", "at": now_iso()},  # already reported alone
        {"notification_id": bens.pk, "action": "opened", "at": now_iso()},  # another customer's
        {"notification_id": unsent.pk, "action": "delivered", "at": now_iso()},  # never sent
        {"notification_id": mine.pk, "action": "clicked", "at": now_iso()},
        {"notification_id": mine.pk, "action": "dismissed", "at": "yesterday"},
        ["not", "an", "object"],
        {"notification_id": mine.pk, "action": "delivered", "at": now_iso()},  # twice in this batch
        {"notification_id": other.pk, "action": "dismissed", "at": now_iso(), "extra": 1},
    ]
    body = ana.post(f"{API}/me/feedback", {"feedback": rows}, format="json").json()
    assert [r["status"] for r in body["results"]] == [
        "accepted", "accepted", "duplicate", "rejected", "rejected", "rejected", "rejected", "rejected",
        "duplicate", "rejected",
    ]  # fmt: skip
    assert body["accepted"] == 2 and body["duplicates"] == 2
    errors = {r["index"]: r["error"] for r in body["rejected"]}
    assert "not_found" in errors[3] and "not_found" in errors[4]
    assert "action" in errors[5] and "at" in errors[6] and "object" in errors[7] and "extra" in errors[9]
    assert set(Feedback.objects.filter(notification=mine).values_list("action", "battery", "network")) == {
        ("delivered", None, ""),
        ("opened", 7, "wifi"),
    }
    assert not Feedback.objects.filter(notification__in=[bens, unsent]).exists()
    # The same batch again: nothing new, every valid row a duplicate.
    again = ana.post(f"{API}/me/feedback", {"feedback": rows[:3]}, format="json").json()
    assert (again["accepted"], again["duplicates"]) == (0, 3)


@pytest.mark.django_db
def test_a_batch_of_new_feedback_is_one_statement(ana):
    notifications = [hours_ago(ana.customer, hours) for hours in range(1, 21)]
    rows = [{"notification_id": n.pk, "action": "delivered", "at": now_iso()} for n in notifications]
    ana.post(f"{API}/me/feedback", {"feedback": rows[:1]}, format="json")  # warms the credential cache
    with CaptureQueriesContext(connection) as queries:
        body = ana.post(f"{API}/me/feedback", {"feedback": rows[1:]}, format="json").json()
    assert body["accepted"] == 19
    writes = [q["sql"] for q in queries.captured_queries if "feedback" in q["sql"].lower()]
    assert len(writes) == 1, writes


@pytest.mark.django_db
def test_a_feedback_batch_must_be_a_list_of_at_most_500(ana):
    assert_error(ana.post(f"{API}/me/feedback", {"feedback": {}}, format="json"), 400, "invalid")
    assert_error(ana.post(f"{API}/me/feedback", [], format="json"), 400, "invalid")
    many = [{"notification_id": 1, "action": "opened", "at": now_iso()}] * 501
    assert_error(ana.post(f"{API}/me/feedback", {"feedback": many}, format="json"), 400, "invalid")


# --- preferences ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_preferences_round_trip(ana):
    assert ana.get(f"{API}/me/preferences").json() == {
        "opt_out": False,
        "quiet_hours": None,
        "timezone": "Europe/Madrid",
        "muted_types": [],
    }
    body = {"quiet_hours": {"start": "22:00", "end": "07:30"}, "muted_types": ["satisfaction-survey"], "opt_out": True}
    response = ana.patch(f"{API}/me/preferences", body, format="json")
    assert response.status_code == 200
    assert response.json()["quiet_hours"] == {"start": "22:00", "end": "07:30"}
    ana.customer.refresh_from_db()
    assert ana.customer.opt_out and ana.customer.opted_out_at is not None
    assert rules.is_quiet_at(ana.customer, dt.datetime(2026, 7, 1, 21, 0, tzinfo=dt.UTC))  # 23:00 in Madrid
    response = ana.patch(f"{API}/me/preferences", {"quiet_hours": None, "opt_out": False}, format="json")
    assert response.json()["quiet_hours"] is None and response.json()["opt_out"] is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Europe/Nowhere"}, "timezone"),
        ({"muted_types": ["no-such-type"]}, "muted_types"),
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours.start"),
        ({"quiet_hours": {"start": "07:00", "end": "07:00"}}, "quiet_hours"),
        ({"opt_out": "perhaps"}, "opt_out"),
        ({"volume": 11}, "volume"),
        ({"quiet_hours": {}}, "quiet_hours"),
        ({"quiet_hours": {"start": "22:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": 22, "end": ["07:00"]}}, "quiet_hours"),
        ({"quiet_hours": "22:00-07:00"}, "quiet_hours"),
        ({"timezone": "localtime"}, "timezone"),
        ({"timezone": "Factory"}, "timezone"),
    ],
)
def test_preferences_validation(ana, body, field):
    error = assert_error(ana.patch(f"{API}/me/preferences", body, format="json"), 400, "invalid")
    assert field in error["fields"], error
