"""The rulebook: may this person be contacted with this type at this moment, and if not, why.

The planner (for each slot it considers), the sender (at send time) and the explanations ask here and get
the same `Reason`. Pure: no queries. Callers load what the rules need — the customer's preferences, the
segment's weekly cap, the campaign's status, the counted pushes around the moment — and pass it in, so the
planner keeps its batch loading (one query per chunk, not one per customer).

`customer` is anything with a Customer's preference attributes (`opt_out`, `timezone`,
`quiet_hours_start`, `quiet_hours_end`, `muted_types`): the model instance, loaded with `.only(...)`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from functools import lru_cache
from typing import Protocol

from django.db.models import Q

from campaigns.models import Campaign, Notification, Reason
from recommender.ml.clock import HOURS_PER_WEEK, is_quiet

WEEK = dt.timedelta(days=7)
# What counts against the weekly cap: whatever is planned or on its way, and what was sent.
COUNTED_STATUSES = (
    Notification.Status.PLANNED,
    Notification.Status.QUEUED,
    Notification.Status.SENDING,
    Notification.Status.SENT,
)
# A control-group decision counts like a send: held back, it stands for the push the person would have
# had, so the control group gets the same number of decisions per person under the same cap and pacing
# as the treated, and the uplift compares like with like.
COUNTED = Q(status__in=COUNTED_STATUSES) | Q(status=Notification.Status.SUPPRESSED, reason=Reason.CONTROL_GROUP)
CAMPAIGN_NOT_RUNNING = {
    Campaign.Status.DRAFT: Reason.CAMPAIGN_DRAFT,
    Campaign.Status.PAUSED: Reason.CAMPAIGN_PAUSED,
    Campaign.Status.CANCELLED: Reason.CAMPAIGN_CANCELLED,
    Campaign.Status.FINISHED: Reason.CAMPAIGN_FINISHED,
}
# A week with no daylight-saving change anywhere: 1 January 2024 was a Monday.
_REFERENCE_MONDAY = dt.datetime(2024, 1, 1)


class Contactable(Protocol):
    opt_out: bool
    timezone: str
    quiet_hours_start: dt.time | None
    quiet_hours_end: dt.time | None
    muted_types: list[str]


@lru_cache(maxsize=1024)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name or "UTC")


def counted_at(*, status: str, scheduled_for: dt.datetime, sent_at: dt.datetime | None) -> dt.datetime:
    """When a counted notification takes its place in a week: when it was sent, else when it is due."""
    return sent_at if status == Notification.Status.SENT and sent_at is not None else scheduled_for


def is_quiet_at(customer: Contactable, at: dt.datetime) -> bool:
    """True when the aware instant `at` falls inside the customer's quiet hours, on their wall clock."""
    start, end = customer.quiet_hours_start, customer.quiet_hours_end
    if start is None or end is None:  # most people: the planner asks for every hour of every window
        return False
    return is_quiet(at.astimezone(_zone(customer.timezone)).time(), start, end)


def is_quiet_at_hour_of_week(customer: Contactable, hour: int) -> bool:
    """True when a send at the start of the local hour of the week `hour` (0 = Monday 00:00) falls in
    the customer's quiet hours: the check the planner makes on each hour's start, for the explanations."""
    local = _REFERENCE_MONDAY + dt.timedelta(hours=hour % HOURS_PER_WEEK)
    return is_quiet(local.time(), customer.quiet_hours_start, customer.quiet_hours_end)


def is_muted(customer: Contactable, notification_type: str) -> bool:
    return notification_type in (customer.muted_types or [])


def pushes_counted(*, at: dt.datetime, pushes: Iterable[dt.datetime], planning: bool) -> int:
    """The pushes that count against the weekly cap of a send at `at`: the rolling 7 × 24 hours before it.

    When planning, also whatever is planned after `at`: that later send's own week then holds this one,
    so counting it keeps the later send within the cap too (and a weekly push at the same best hour
    still finds room once last week's has left the window). The sender, at `at`, counts only what is
    before it; so, given the same pushes, a send the planner accepted is never refused by the sender
    for the cap, and one the sender would refuse was never planned."""
    since = at - WEEK
    if planning:
        return sum(1 for t in pushes if t > since)
    return sum(1 for t in pushes if since < t <= at)


def weekly_cap_reached(*, at: dt.datetime, weekly_cap: int, pushes: Iterable[dt.datetime], planning: bool) -> bool:
    return pushes_counted(at=at, pushes=pushes, planning=planning) >= weekly_cap


def who_reason(customer: Contactable, *, segment_id: int | None, weekly_cap: int, planning: bool) -> Reason | None:
    """The rules about the person alone: opted out, no segment to plan from, a segment not contacted.

    `weekly_cap` is the segment's active policy's cap, 0 when the policy is paused or missing. Without a
    segment there is nothing to plan from; at send time, a notification for someone without a segment
    (written by the simulator's stand-in policies, or by hand) is held to the person's own rules only."""
    if customer.opt_out:
        return Reason.OPTED_OUT
    if segment_id is None:
        return Reason.NO_PROFILE if planning else None
    if weekly_cap <= 0:
        return Reason.SEGMENT_NOT_CONTACTED
    return None


def contact_reason(
    customer: Contactable,
    *,
    segment_id: int | None,
    weekly_cap: int,
    notification_type: str,
    at: dt.datetime,
    pushes: Iterable[dt.datetime],
    campaign_status: str | None = None,
    planning: bool,
) -> Reason | None:
    """Why `customer` may not get a notification of `notification_type` (a slug) at `at`, or None.

    `pushes`: when the customer's other counted notifications (COUNTED) take place (`counted_at`);
    `campaign_status`: the status of the notification's campaign, None for the planner's own;
    `planning`: the planner's question (a slot ahead) rather than the sender's (now)."""
    reason = who_reason(customer, segment_id=segment_id, weekly_cap=weekly_cap, planning=planning)
    if reason is not None:
        return reason
    if is_muted(customer, notification_type):
        return Reason.MUTED_TYPE
    if is_quiet_at(customer, at):
        return Reason.QUIET_HOURS
    if campaign_status is not None and campaign_status != Campaign.Status.APPROVED:
        return CAMPAIGN_NOT_RUNNING.get(campaign_status, Reason.CAMPAIGN_PAUSED)
    if segment_id is not None and weekly_cap_reached(at=at, weekly_cap=weekly_cap, pushes=pushes, planning=planning):
        return Reason.WEEKLY_CAP
    return None
