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
from dataclasses import dataclass
from typing import Literal

from django.db.models import Count, F, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate

from campaigns.models import Delivery, Feedback, Notification
from recommender.models import CustomerProfile

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
