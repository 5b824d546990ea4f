"""The marketer dashboard's numbers: what was sent and what came of it, per day, segment, type and
campaign, and the uplift of the treated over the control group. Reads only; every figure is a
COUNT in the database (the dashboard test recomputes each one independently).

- a send is a notification with status sent, dated by when it went out;
- opens and dismissals are feedback on those notifications (one per notification at most);
- CTR = opens / sends;
- uplift: people whose automated notification went out vs people held back in the control group
  (their notification was planned, then suppressed), compared on the share who bought within
  CONVERSION_WINDOW after the planned time, with a 95 % confidence interval (normal approximation
  of the difference of two proportions).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.models import Delivery, Feedback, Notification
from recommender.models import CustomerProfile, Event, EventType

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
    """sends, deliveries, opens, dismissals and CTR per UTC day of sending."""
    sent = sent_between(start, end)
    rows: dict[dt.date, dict] = {}
    day = start.date()
    while day < end.date():
        rows[day] = {"date": day, "sends": 0, "deliveries": 0, "opens": 0, "dismissals": 0}
        day += dt.timedelta(days=1)
    for day, n in count_by_day(sent, "sent_at"):
        rows[day]["sends"] = n
    deliveries = Delivery.objects.filter(status=Delivery.Status.SENT, notification__in=sent)
    for day, n in count_by_day(deliveries, "notification__sent_at"):
        rows[day]["deliveries"] = n
    for action, key in ((Feedback.Action.OPENED, "opens"), (Feedback.Action.DISMISSED, "dismissals")):
        feedback = Feedback.objects.filter(notification__in=sent, action=action)
        for day, n in count_by_day(feedback, "notification__sent_at"):
            rows[day][key] = n
    for row in rows.values():
        row["ctr"] = row["opens"] / row["sends"] if row["sends"] else None
    return list(rows.values())


def count_by_day(queryset, field: str):
    """(UTC date of `field`, rows) pairs, grouped in the database."""
    return queryset.annotate(day=TruncDate(field, tzinfo=dt.UTC)).values_list("day").annotate(n=Count("id"))


def breakdown(start: dt.datetime, end: dt.datetime, by: str) -> list[dict]:
    """sends, opens, dismissals and CTR grouped by `by`: "segment", "type" or "campaign"."""
    sent = sent_between(start, end)
    if by == "segment":
        # The customer's segment now (profiles keep no history of it).
        segment = CustomerProfile.objects.filter(customer=OuterRef("customer")).values("segment__name")[:1]
        sent = sent.annotate(group=segment)
    elif by == "type":
        sent = sent.annotate(group=F("notification_type__name"))
    elif by == "campaign":
        sent = sent.annotate(group=F("campaign__name"))
    else:
        raise ValueError(f"unknown breakdown {by!r}")
    groups: dict[str, dict] = defaultdict(lambda: {"sends": 0, "opens": 0, "dismissals": 0})
    counted = sent.values("group").annotate(
        sends=Count("id", distinct=True),
        opens=Count("feedback", filter=Q(feedback__action=Feedback.Action.OPENED), distinct=True),
        dismissals=Count("feedback", filter=Q(feedback__action=Feedback.Action.DISMISSED), distinct=True),
    )
    for row in counted:
        name = row["group"] or ("automated (no campaign)" if by == "campaign" else "none")
        for key in ("sends", "opens", "dismissals"):
            groups[name][key] += row[key]
    out = [{"group": name, **values} for name, values in groups.items()]
    for row in out:
        row["ctr"] = row["opens"] / row["sends"] if row["sends"] else None
    return sorted(out, key=lambda row: -row["sends"])


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
