"""What came of notifications: the one definition of the numbers the dashboard, the campaign admin
and the simulator report (DESIGN.md, `simulate`).

The caller chooses the notifications (sent in a period, of a campaign, of a simulated population);
these functions count what became of them, each in one query:

- sends: those with status sent;
- deliveries: their device messages handed to the provider (deliveries with status sent);
- opens, dismissals: the phones' feedback on them (at most one of each per notification);
- ctr: opens / sends (None without sends: no rate, rather than a 0 % that reads as a failure);
- opt_outs: the customers reached by them (one sent to them) who have opted out since. Not those
  of unsent ones: a notification suppressed because its customer had opted out is no opt-out.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate

from campaigns.models import Delivery, Feedback, Notification, Reason
from recommender.models import CustomerProfile, Event, EventType

Grouping = Literal["day", "campaign", "type", "segment", "customer"]


def click_through_rate(*, opens: int, sends: int) -> float | None:
    return opens / sends if sends else None


@dataclass(frozen=True)
class Results:
    sends: int = 0
    deliveries: int = 0
    opens: int = 0
    dismissals: int = 0
    opt_outs: int = 0

    @property
    def ctr(self) -> float | None:
        return click_through_rate(opens=self.opens, sends=self.sends)


# One COUNT per figure over the notifications joined to their deliveries, feedback and customer.
# The joins multiply rows (devices × feedback), hence DISTINCT on every count.
_COUNTS = {
    "sends": Count("id", filter=Q(status=Notification.Status.SENT), distinct=True),
    "deliveries": Count("deliveries", filter=Q(deliveries__status=Delivery.Status.SENT), distinct=True),
    "opens": Count("feedback", filter=Q(feedback__action=Feedback.Action.OPENED), distinct=True),
    "dismissals": Count("feedback", filter=Q(feedback__action=Feedback.Action.DISMISSED), distinct=True),
    "opt_outs": Count("customer", filter=Q(status=Notification.Status.SENT, customer__opt_out=True), distinct=True),
}


def notification_results(notifications: QuerySet[Notification]) -> Results:
    """Sends, deliveries, opens, dismissals and opt-outs of `notifications`, in one query."""
    return Results(**notifications.order_by().aggregate(**_COUNTS))


def notification_results_by(notifications: QuerySet[Notification], *, by: Grouping) -> dict:
    """The same figures per group, in one query: {group: Results}, groups without notifications absent.

    by: "day" (UTC date sent, None for those not sent), "campaign" (its name, None for automated
    ones), "type" (the notification type's name), "segment" (the customer's segment name now, None
    without one: profiles keep no history of it) or "customer" (the customer's id).
    """
    grouped = notifications.order_by().annotate(group=_group_expression(by)).values("group")
    return {row.pop("group"): Results(**row) for row in grouped.annotate(**_COUNTS)}


def _group_expression(by: Grouping):
    if by == "day":
        return TruncDate("sent_at", tzinfo=dt.UTC)
    if by == "campaign":
        return F("campaign__name")
    if by == "type":
        return F("notification_type__name")
    if by == "segment":
        return CustomerProfile.objects.filter(customer=OuterRef("customer")).values("segment__name")[:1]
    if by == "customer":
        return F("customer_id")
    raise ValueError(f"unknown grouping {by!r}")


# Treated vs control ------------------------------------------------------------------------------

CONVERSION_WINDOW = dt.timedelta(hours=24)
# Below this many people in a group its rate is "too few to tell": a handful of people gives an
# interval wider than any effect a push could have.
MIN_PEOPLE = 30
Z95 = 1.96


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (sound for small n and rates near 0, unlike the
    normal approximation); None without observations."""
    if not n:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Comparison:
    """People whose automated notification went out vs people held back in the control group, and
    how many of each bought within CONVERSION_WINDOW after a planned time. Counted in people (a person
    with several decisions counts once, converted when any of them was followed by a purchase); the
    decisions are there for the sample sizes. Held-back decisions count against the weekly cap and
    pacing like sends (`rules.COUNTED`), so both groups get the same number of decisions per person."""

    treated: int = 0
    treated_converted: int = 0
    control: int = 0
    control_converted: int = 0
    treated_decisions: int = 0
    control_decisions: int = 0

    @property
    def treated_rate(self) -> float:
        return self.treated_converted / self.treated if self.treated else 0.0

    @property
    def control_rate(self) -> float:
        return self.control_converted / self.control if self.control else 0.0

    @property
    def treated_interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.treated_converted, self.treated)

    @property
    def control_interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.control_converted, self.control)

    @property
    def enough(self) -> bool:
        """Both groups have MIN_PEOPLE people: below that, say "too few to tell", not a number."""
        return self.treated >= MIN_PEOPLE and self.control >= MIN_PEOPLE

    @property
    def difference(self) -> float:
        return self.treated_rate - self.control_rate

    @property
    def interval(self) -> tuple[float, float] | None:
        """95 % interval of the difference from the two Wilson intervals (Newcombe's method 10);
        None without both groups."""
        t, c = self.treated_interval, self.control_interval
        if t is None or c is None:
            return None
        p1, p2 = self.treated_rate, self.control_rate
        low = self.difference - math.sqrt((p1 - t[0]) ** 2 + (c[1] - p2) ** 2)
        high = self.difference + math.sqrt((t[1] - p1) ** 2 + (p2 - c[0]) ** 2)
        return (low, high)

    def as_dict(self) -> dict:
        return {
            "treated": self.treated,
            "treated_converted": self.treated_converted,
            "treated_decisions": self.treated_decisions,
            "control": self.control,
            "control_converted": self.control_converted,
            "control_decisions": self.control_decisions,
        }


def treated_vs_control(notifications: QuerySet[Notification]) -> Comparison:
    """The comparison over the automated ones among `notifications` (the caller chooses: those
    planned in a period, those of a simulated population), in two queries."""
    automated = notifications.order_by().filter(campaign__isnull=True)
    bought = Event.objects.filter(
        customer=OuterRef("customer"),
        type=EventType.TRANSACTION,
        occurred_at__gte=OuterRef("scheduled_for"),
        occurred_at__lt=OuterRef("scheduled_for") + CONVERSION_WINDOW,
    )
    held_back = Q(status=Notification.Status.SUPPRESSED) & (
        Q(reason=Reason.CONTROL_GROUP) | Q(status_reason__startswith="Control group")
    )
    counts = {}
    for group, rows in (
        ("treated", automated.filter(status=Notification.Status.SENT)),
        ("control", automated.filter(held_back)),
    ):
        row = rows.annotate(converted=Exists(bought)).aggregate(
            people=Count("customer", distinct=True),
            converted_people=Count("customer", filter=Q(converted=True), distinct=True),
            decisions=Count("id"),
        )
        counts[group] = row["people"]
        counts[f"{group}_converted"] = row["converted_people"]
        counts[f"{group}_decisions"] = row["decisions"]
    return Comparison(**counts)
