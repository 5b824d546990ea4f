"""The marketer dashboard: its numbers equal counts taken straight from the database, and its
charts render in a real headless Chromium."""

import datetime as dt
import shutil
import uuid

import pytest
from django.utils import timezone

from campaigns import dashboard
from campaigns.models import Delivery, Feedback, Notification, Reason
from devices.models import Platform
from recommender.models import Event, EventType, Segment
from tests.factories import CustomerFactory, CustomerProfileFactory, ItemFactory, NotificationFactory

DAY1 = dt.datetime(2026, 5, 4, 9, tzinfo=dt.UTC)


def sent(customer, at, *, opened=False, dismissed=False, campaign=None, kind=None, devices=1):
    extra = {"notification_type": kind} if kind else {}
    n = NotificationFactory(customer=customer, status=Notification.Status.SENT, scheduled_for=at, sent_at=at,
                            campaign=campaign, idempotency_key=str(uuid.uuid4()), **extra)  # fmt: skip
    for _ in range(devices):
        Delivery.objects.create(notification=n, platform=Platform.FCM, status=Delivery.Status.SENT, sent_at=at)
    if opened:
        Feedback.objects.create(notification=n, action=Feedback.Action.OPENED, occurred_at=at)
    if dismissed:
        Feedback.objects.create(notification=n, action=Feedback.Action.DISMISSED, occurred_at=at)
    return n


def bought(customer, at):
    Event.objects.create(event_id=str(uuid.uuid4()), customer=customer, item=ItemFactory(),
                         type=EventType.TRANSACTION, occurred_at=at)  # fmt: skip


@pytest.fixture
def history(db):
    loyal, lost = Segment.objects.get(slug="loyal"), Segment.objects.get(slug="lost")
    people = []
    for i in range(6):
        c = CustomerFactory()
        CustomerProfileFactory(customer=c, segment=loyal if i < 4 else lost, computed_at=DAY1)
        people.append(c)
    sent(people[0], DAY1, opened=True, devices=2)
    sent(people[1], DAY1, dismissed=True)
    sent(people[2], DAY1 + dt.timedelta(days=1), opened=True)
    sent(people[4], DAY1 + dt.timedelta(days=1))
    # Treated buyer, control buyer, control non-buyer, and a purchase too late to count.
    bought(people[0], DAY1 + dt.timedelta(hours=3))
    bought(people[2], DAY1 + dt.timedelta(days=3))
    for c, buys in ((people[3], True), (people[5], False)):
        NotificationFactory(customer=c, status=Notification.Status.SUPPRESSED, scheduled_for=DAY1,
                            status_reason="Control group: held back to measure uplift",
                            idempotency_key=str(uuid.uuid4()))  # fmt: skip
        if buys:
            bought(c, DAY1 + dt.timedelta(hours=5))
    return people


def test_daily_numbers_equal_direct_counts(history):
    start, end = dashboard.period(7, until=DAY1 + dt.timedelta(days=1))
    rows = {row["date"]: row for row in dashboard.per_day(start, end)}
    for day in (DAY1.date(), (DAY1 + dt.timedelta(days=1)).date()):
        notes = Notification.objects.filter(status="sent", sent_at__date=day)
        assert rows[day]["sends"] == notes.count()
        assert rows[day]["deliveries"] == Delivery.objects.filter(notification__in=notes, status="sent").count()
        assert rows[day]["opens"] == Feedback.objects.filter(notification__in=notes, action="opened").count()
        assert rows[day]["dismissals"] == Feedback.objects.filter(notification__in=notes, action="dismissed").count()
    assert rows[DAY1.date()] | {"date": None} == {"date": None, "sends": 2, "deliveries": 3, "opens": 1,
                                                  "dismissals": 1, "ctr": 0.5}  # fmt: skip
    assert sum(r["sends"] for r in rows.values()) == Notification.objects.filter(status="sent").count()


def test_period_totals_are_the_days_added_up(history):
    start, end = dashboard.period(7, until=DAY1 + dt.timedelta(days=1))
    days = dashboard.per_day(start, end)
    totals = dashboard.totals(start, end)
    for figure in ("sends", "deliveries", "opens", "dismissals"):
        assert getattr(totals, figure) == sum(row[figure] for row in days), figure
    assert totals.ctr == 2 / 4


def test_breakdowns_and_uplift_equal_direct_counts(history):
    start, end = dashboard.period(7, until=DAY1 + dt.timedelta(days=1))
    by_segment = {row["group"]: row for row in dashboard.breakdown(start, end, "segment")}
    assert by_segment["Loyal"]["sends"] == 3 and by_segment["Loyal"]["opens"] == 2
    assert by_segment["Lost"]["sends"] == 1 and by_segment["Lost"]["ctr"] == 0
    by_type = dashboard.breakdown(start, end, "type")
    assert sum(row["sends"] for row in by_type) == 4
    assert dashboard.breakdown(start, end, "campaign")[0]["group"] == "automated (no campaign)"
    uplift = dashboard.uplift(start, end)
    assert (uplift.treated, uplift.treated_converted, uplift.control, uplift.control_converted) == (4, 1, 2, 1)
    low, high = uplift.interval
    assert uplift.difference == pytest.approx(0.25 - 0.5)
    assert low < uplift.difference < high


def test_dashboard_page_for_marketers_not_for_staff_without_rights(history, client, mia, charlie):
    client.force_login(charlie)
    assert client.get("/admin/dashboard/").status_code == 403
    client.force_login(mia)
    response = client.get("/admin/dashboard/?days=14")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("<svg") >= 6 and "Treated vs control" in page and "Loyal" in page
    assert client.get("/admin/").content.decode().count("/admin/dashboard/") == 1


def test_charts_render_with_data_in_headless_chromium(live_server, alice, tmp_path):
    """A real browser logs in, opens the dashboard and takes a screenshot; the charts must have
    drawn lines with data. Needs chromium and chromium-driver (installed by .ci/run)."""
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    assert shutil.which("chromium") and shutil.which("chromedriver"), "apt-get install chromium chromium-driver"
    customer = CustomerFactory()
    for day in range(5):
        sent(customer, timezone.now() - dt.timedelta(days=day), opened=day % 2 == 0)
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium")
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    browser = webdriver.Chrome(options=options, service=service)
    try:
        browser.get(f"{live_server.url}/admin/login/?next=/admin/dashboard/")
        browser.find_element(By.NAME, "username").send_keys("alice")
        browser.find_element(By.NAME, "password").send_keys("password")
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        assert browser.current_url.endswith("/admin/dashboard/")
        shot = tmp_path / "dashboard.png"
        browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 20_000
        lines = browser.execute_script(
            "return [...document.querySelectorAll('svg.chart polyline')]"
            ".map(p => [p.getBBox().width, p.getAttribute('points').split(' ').length])"
        )
        # Five days with sends: every line has a point per day it has data for, and is drawn.
        assert len(lines) >= 5 and all(width > 50 and points >= 5 for width, points in lines)
        bars = browser.execute_script("return document.querySelectorAll('svg.chart rect.bar').length")
        assert bars >= 1
    finally:
        browser.quit()


def test_uplift_counts_people_not_notifications_and_says_too_few_to_tell(db, client, mia):
    # Before, three pushes to one person were "3 people" and a rate was drawn from any handful.
    c = CustomerFactory()
    for day in range(3):
        sent(c, DAY1 + dt.timedelta(days=day))
    uplift = dashboard.uplift(DAY1 - dt.timedelta(days=1), DAY1 + dt.timedelta(days=7))
    assert (uplift.treated, uplift.treated_decisions) == (1, 3)
    assert not uplift.enough
    client.force_login(mia)
    page = client.get("/admin/dashboard/?days=30").content.decode()
    assert "too few to tell" in page


def test_wilson_interval_holds_the_rate_and_stays_within_0_and_1():
    from campaigns.results import wilson_interval

    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and 0.25 < high < 0.35  # the normal approximation would say [0, 0]
    low, high = wilson_interval(50, 100)
    assert low < 0.5 < high and high - low == pytest.approx(0.19, abs=0.01)


def test_failures_opt_outs_and_purchases_are_on_the_dashboard(history, client, mia):
    # Before, a notification that failed (no device) left no trace on the dashboard.
    people = history
    NotificationFactory(customer=people[5], status=Notification.Status.FAILED, scheduled_for=DAY1,
                        reason=Reason.NO_ACTIVE_DEVICE, idempotency_key=str(uuid.uuid4()))  # fmt: skip
    people[0].opt_out = True
    people[0].save()
    start, end = dashboard.period(7, until=DAY1 + dt.timedelta(days=1))
    assert dashboard.failures(start, end) == [{"reason": "No active device", "count": 1}]
    assert dashboard.totals(start, end).opt_outs == 1
    assert dashboard.purchases(start, end) == 2  # the one three days later is after the period
    client.force_login(mia)
    page = client.get("/admin/dashboard/?days=7").content.decode()
    assert "no active device: 1" in page and "<th>Purchases</th>" in page
