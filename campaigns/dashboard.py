"""The marketer dashboard's numbers: what was sent and what came of it, per day, segment, type and
campaign, and the uplift of the treated over the control group. Reads only; every figure is a
COUNT in the database (the dashboard test recomputes each one independently).

- the period's notifications are those sent in it, dated by when they went out; what is counted
  of them (sends, deliveries, opens, dismissals, CTR) is defined once, in campaigns.results;
- uplift: people whose automated notification went out vs people held back in the control group
  (their notification was planned, then suppressed), compared on the share who bought within
  CONVERSION_WINDOW after the planned time, with a 95 % confidence interval (normal approximation
  of the difference of two proportions).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.db.models import Exists, OuterRef
from django.utils import timezone

from campaigns.models import Notification
from campaigns.results import Results, notification_results, notification_results_by
from recommender.models import Event, EventType

CONVERSION_WINDOW = dt.timedelta(hours=24)
CONTROL_PREFIX = "Control group"


@dataclass(frozen=True)
class Uplift:
    treated: int
    treated_converted: int
    control: int
    control_converted: int

    @property
    def treated_rate(self) -> float:
        return self.treated_converted / self.treated if self.treated else 0.0

    @property
    def control_rate(self) -> float:
        return self.control_converted / self.control if self.control else 0.0

    @property
    def difference(self) -> float:
        return self.treated_rate - self.control_rate

    @property
    def interval(self) -> tuple[float, float] | None:
        """95 % confidence interval of the difference; None without both groups."""
        if not self.treated or not self.control:
            return None
        p1, p2 = self.treated_rate, self.control_rate
        se = math.sqrt(p1 * (1 - p1) / self.treated + p2 * (1 - p2) / self.control)
        return (self.difference - 1.96 * se, self.difference + 1.96 * se)


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


def uplift(start: dt.datetime, end: dt.datetime) -> Uplift:
    """Treated (automated and sent) vs control (held back), on buying within CONVERSION_WINDOW."""
    automated = Notification.objects.filter(campaign__isnull=True, scheduled_for__gte=start, scheduled_for__lt=end)
    bought = Event.objects.filter(
        customer=OuterRef("customer"),
        type=EventType.TRANSACTION,
        occurred_at__gte=OuterRef("scheduled_for"),
        occurred_at__lt=OuterRef("scheduled_for") + CONVERSION_WINDOW,
    )
    treated = automated.filter(status=Notification.Status.SENT).annotate(converted=Exists(bought))
    control = automated.filter(
        status=Notification.Status.SUPPRESSED, status_reason__startswith=CONTROL_PREFIX
    ).annotate(converted=Exists(bought))
    return Uplift(
        treated=treated.count(),
        treated_converted=treated.filter(converted=True).count(),
        control=control.count(),
        control_converted=control.filter(converted=True).count(),
    )
