"""The marketer dashboard's numbers: what was sent and what came of it, per day, segment, type and
campaign, and the uplift of the treated over the control group. Reads only; every figure is a
COUNT in the database (the dashboard test recomputes each one independently).

- the period's notifications are those sent in it, dated by when they went out; what is counted
  of them (sends, deliveries, opens, dismissals, CTR) is defined once, in campaigns.results;
- uplift: people whose automated notification went out vs people held back in the control group
  (their notification was planned, then suppressed), compared on the share who bought within
  CONVERSION_WINDOW after the planned time, with Wilson intervals: campaigns.results.treated_vs_control,
  the same function the simulation report uses.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count
from django.utils import timezone

from campaigns.models import Notification, Reason
from campaigns.results import CONVERSION_WINDOW as CONVERSION_WINDOW  # re-exported: the page says it
from campaigns.results import (
    Comparison,
    Results,
    notification_results,
    notification_results_by,
    treated_vs_control,
)
from recommender.models import Event, EventType

Uplift = Comparison  # the dashboard's name for it


def period(days: int, until: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The last `days` days up to `until` (default: the latest send, or now), whole UTC days."""
    if until is None:
        latest = Notification.objects.filter(status=Notification.Status.SENT).order_by("-sent_at").first()
        until = latest.sent_at if latest else timezone.now()
    end = (until + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return end - dt.timedelta(days=days), end


def sent_between(start: dt.datetime, end: dt.datetime):
    return Notification.objects.filter(status=Notification.Status.SENT, sent_at__gte=start, sent_at__lt=end)


def per_day(start: dt.datetime, end: dt.datetime) -> list[dict]:
    """sends, deliveries, opens, dismissals and CTR per UTC day of sending, every day of the period."""
    by_day = notification_results_by(sent_between(start, end), by="day")
    rows = []
    day = start.date()
    while day < end.date():
        results = by_day.get(day, Results())
        rows.append(
            {
                "date": day,
                "sends": results.sends,
                "deliveries": results.deliveries,
                "opens": results.opens,
                "dismissals": results.dismissals,
                "ctr": results.ctr,
            }
        )
        day += dt.timedelta(days=1)
    return rows


def totals(start: dt.datetime, end: dt.datetime) -> Results:
    """The period's figures as one: what was sent in it and what came of it."""
    return notification_results(sent_between(start, end))


def failures(start: dt.datetime, end: dt.datetime) -> list[dict]:
    """The notifications due in the period that failed, per reason (label and count), most first:
    what was planned and could not go out (no active device, every device failed...)."""
    rows = (
        Notification.objects.filter(status=Notification.Status.FAILED, scheduled_for__gte=start, scheduled_for__lt=end)
        .order_by()
        .values("reason")
        .annotate(count=Count("id"))
    )
    labels = dict(Reason.choices)
    out = [{"reason": labels.get(r["reason"], r["reason"] or "unknown"), "count": r["count"]} for r in rows]
    return sorted(out, key=lambda row: -row["count"])


def purchases(start: dt.datetime, end: dt.datetime) -> int:
    """Purchases (transaction events) in the period, by anyone."""
    return Event.objects.filter(type=EventType.TRANSACTION, occurred_at__gte=start, occurred_at__lt=end).count()


BREAKDOWNS = {"segment": "none", "type": "none", "campaign": "automated (no campaign)"}  # by: label of no group


def breakdown(start: dt.datetime, end: dt.datetime, by: str) -> list[dict]:
    """sends, opens, dismissals and CTR grouped by `by`: "segment", "type" or "campaign"."""
    if by not in BREAKDOWNS:
        raise ValueError(f"unknown breakdown {by!r}")
    rows = [
        {
            "group": group or BREAKDOWNS[by],
            "sends": results.sends,
            "opens": results.opens,
            "dismissals": results.dismissals,
            "ctr": results.ctr,
        }
        for group, results in notification_results_by(sent_between(start, end), by=by).items()
    ]
    return sorted(rows, key=lambda row: -row["sends"])


def uplift(start: dt.datetime, end: dt.datetime) -> Comparison:
    """Treated (automated and sent) vs control (held back), in people, on buying within
    CONVERSION_WINDOW: campaigns.results.treated_vs_control, as the simulation report computes it."""
    return treated_vs_control(Notification.objects.filter(scheduled_for__gte=start, scheduled_for__lt=end))
