"""Writes about campaigns and notifications: the status changes a marketer makes, the feedback
phones report."""

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connections, router, transaction
from django.db.models.constants import OnConflict
from django.utils import timezone

from campaigns.models import Campaign, Delivery, Feedback, Notification, Reason, SendingSwitch
from campaigns.selectors import VISIBLE_TO_CUSTOMER
from optimus_site.bulk import BatchResult

logger = logging.getLogger(__name__)

Status = Campaign.Status


def _campaign_move(*, campaign: Campaign, to: str, allowed_from: tuple[str, ...], by: AbstractBaseUser | None) -> bool:
    """Moves the campaign to `to` if its status in the database is one of `allowed_from`.

    A conditional UPDATE rather than read-check-save, so two people (or the planner finishing the
    campaign) acting at once cannot both win: exactly one sees the row change.
    """
    now = timezone.now()
    values = {"status": to, "updated_at": now}
    if to == Status.APPROVED:
        values["approved_at"] = now
        values["approved_by"] = by
    changed = Campaign.objects.filter(pk=campaign.pk, status__in=allowed_from).update(**values) == 1
    if changed:
        for field, value in values.items():
            setattr(campaign, field, value)
        logger.info("campaign %s %s by %s", campaign.pk, to, by)
    return changed


class ApprovalRefused(Exception):
    """The approver may not approve this campaign; the message says why, in a marketer's words."""


def campaign_approve(*, campaign: Campaign, by: AbstractBaseUser | None) -> bool:
    """Draft or paused → approved: the planner starts using it within its window.

    With CAMPAIGN_APPROVAL_BY_ANOTHER on, raises ApprovalRefused when `by` wrote the campaign (or is
    nobody): a second person must read what goes to every phone.
    """
    if settings.CAMPAIGN_APPROVAL_BY_ANOTHER:
        if by is None:
            raise ApprovalRefused(f"'{campaign}' needs approval by a person.")
        if campaign.created_by_id is not None and by.pk == campaign.created_by_id:
            raise ApprovalRefused(f"'{campaign}' was written by you: someone else must approve it.")
    return _campaign_move(campaign=campaign, to=Status.APPROVED, allowed_from=(Status.DRAFT, Status.PAUSED), by=by)


def campaign_pause(*, campaign: Campaign, by: AbstractBaseUser | None) -> bool:
    """Approved → paused. Notifications already planned stay planned; the sender must check the
    campaign's status again at send time."""
    return _campaign_move(campaign=campaign, to=Status.PAUSED, allowed_from=(Status.APPROVED,), by=by)


def campaign_edited(*, campaign: Campaign) -> bool:
    """Called before an edit of a campaign is saved. With CAMPAIGN_APPROVAL_BY_ANOTHER on, an approved
    or paused campaign goes back to draft (the planner and the sender stop using it) so that what was
    changed is approved again. Returns True when it did."""
    if not settings.CAMPAIGN_APPROVAL_BY_ANOTHER or campaign.status not in (Status.APPROVED, Status.PAUSED):
        return False
    campaign.status = Status.DRAFT
    campaign.approved_at = None
    campaign.approved_by = None
    return True


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, by: AbstractBaseUser | None) -> bool:
    """Anything but finished or cancelled → cancelled, and its still-planned notifications with it.

    Queued ones are left alone, as they belong to the sender's claim; the sender must check the
    campaign's status before sending.
    """
    changed = _campaign_move(
        campaign=campaign,
        to=Status.CANCELLED,
        allowed_from=(Status.DRAFT, Status.APPROVED, Status.PAUSED),
        by=by,
    )
    if changed:
        Notification.objects.filter(campaign=campaign, status=Notification.Status.PLANNED).cancel(
            reason=Reason.CAMPAIGN_CANCELLED, detail="Campaign cancelled"
        )
    return changed


class FeedbackOutcome:
    RECORDED = "recorded"
    REPEAT = "repeat"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class FeedbackRow:
    notification_id: int
    action: str
    at: dt.datetime
    context: dict


def feedback_record_many(*, customer_id: int, rows: dict[int, FeedbackRow], result: BatchResult) -> None:
    """Stores a batch of what the customer's phone reported (`POST /me/feedback`, and the single
    endpoint as a batch of one): a repeat of (notification, action) is a duplicate, another
    customer's (or an unsent) notification is that row's `not_found`. ``rows`` maps each valid row's index in the
    batch to it; the outcome of each goes into ``result``.

    This is the API's hottest write. One INSERT IGNORE … SELECT for the whole batch, guarded by the
    unique (notification, action) constraint: the rows come in as a derived table joined to the
    customer's visible notifications, so a stranger's id simply yields nothing. Only when fewer rows
    went in than were sent does one more query tell repeats from strangers' ids.
    """
    if not rows:
        return
    table = Feedback._meta.db_table
    notifications = Notification._meta.db_table
    visible = list(VISIBLE_TO_CUSTOMER)
    connection = connections[router.db_for_write(Feedback)]
    insert = connection.ops.insert_statement(on_conflict=OnConflict.IGNORE)
    moment = timezone.now()  # received_at of every row this call writes: how they are told apart below
    derived, params = [], []
    for row in rows.values():
        derived.append("SELECT %s AS nid, %s AS act, %s AS occurred, %s AS battery, %s AS charging, "
                       "%s AS network, %s AS app_state, %s AS os")  # fmt: skip
        params += [
            row.notification_id,
            row.action,
            connection.ops.adapt_datetimefield_value(row.at),
            row.context.get("battery"),
            row.context.get("charging"),
            row.context.get("network", ""),
            row.context.get("app_state", ""),
            row.context.get("os", ""),
        ]
    # Only table names and placeholders are interpolated; every value is a parameter.
    sql = (
        f"{insert} {table} (notification_id, action, occurred_at, received_at, battery, charging, network, "  # noqa: S608
        f"app_state, os) SELECT n.id, v.act, v.occurred, %s, v.battery, v.charging, v.network, v.app_state, "
        f"v.os FROM ({' UNION ALL '.join(derived)}) v JOIN {notifications} n ON n.id = v.nid "
        f"WHERE n.customer_id = %s AND n.status IN ({', '.join(['%s'] * len(visible))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datetimefield_value(moment), *params, customer_id, *visible])
        inserted = cursor.rowcount
    if inserted == len(rows):
        for index in rows:
            result.accept(index)
        return
    # Some rows went nowhere: repeats, or ids that are not this customer's. Every (notification,
    # action) of a visible notification now has a row; ours carry this call's received_at.
    stored = {
        (notification_id, action): received_at == moment
        for notification_id, action, received_at in Feedback.objects.filter(
            notification_id__in={row.notification_id for row in rows.values()},
            notification__customer_id=customer_id,
            notification__status__in=visible,
        ).values_list("notification_id", "action", "received_at")
    }
    seen: set[tuple[int, str]] = set()
    for index, row in rows.items():
        pair = (row.notification_id, row.action)
        if pair not in stored:
            result.reject(index, "not_found: no such notification for this customer")
        elif stored[pair] and pair not in seen:
            result.accept(index)
        else:
            result.duplicate(index)
        seen.add(pair)


def feedback_record(*, customer_id: int, notification_id: int, action: str, at, context: dict) -> str:
    """Stores what the customer's phone reported about one of their notifications.

    Returns RECORDED, REPEAT (the same action was already recorded: phones retry, and the first
    report is the true one) or NOT_FOUND (no such notification visible to this customer). A batch
    of one for `feedback_record_many`: one statement in the common case, the same rules.
    """
    result = BatchResult(size=1)
    row = FeedbackRow(notification_id=notification_id, action=action, at=at, context=context)
    feedback_record_many(customer_id=customer_id, rows={0: row}, result=result)
    return {"accepted": FeedbackOutcome.RECORDED, "duplicate": FeedbackOutcome.REPEAT}.get(
        result.statuses[0], FeedbackOutcome.NOT_FOUND
    )


# --- Operator controls ------------------------------------------------------------------------
# Each is recorded in the admin's history of the object (who, when, what), as the admin's own
# edits are, so "who paused sending?" has an answer.


def record(*, by: AbstractBaseUser | None, objects, message: str) -> None:
    objects = list(objects)
    if by is not None and getattr(by, "pk", None) and objects:
        LogEntry.objects.log_actions(by.pk, objects, CHANGE, message, single_object=len(objects) == 1)
    logger.info("%s by %s on %d object(s)", message, by, len(objects))


def sending_paused() -> bool:
    return SendingSwitch.objects.filter(pk=1, paused=True).exists()


def sending_pause(*, by: AbstractBaseUser | None, reason: str = "") -> bool:
    """The kill switch: nothing is claimed or sent until `sending_resume`. False if already paused."""
    switch = SendingSwitch.current()
    changed = SendingSwitch.objects.filter(pk=switch.pk, paused=False).update(
        paused=True, reason=reason[:200], changed_by=by if by and by.pk else None, changed_at=timezone.now()
    )
    if changed:
        record(by=by, objects=[switch], message=f"Paused all sending: {reason or 'no reason given'}")
    return bool(changed)


def sending_resume(*, by: AbstractBaseUser | None) -> bool:
    switch = SendingSwitch.current()
    changed = SendingSwitch.objects.filter(pk=switch.pk, paused=True).update(
        paused=False, reason="", changed_by=by if by and by.pk else None, changed_at=timezone.now()
    )
    if changed:
        record(by=by, objects=[switch], message="Resumed sending")
    return bool(changed)


def notifications_cancel(*, notifications, by: AbstractBaseUser | None) -> int:
    """Planned or queued (not yet handed to a sender) → cancelled. Returns how many."""
    ids = list(
        notifications.filter(status__in=(Notification.Status.PLANNED, Notification.Status.QUEUED)).values_list(
            "pk", flat=True
        )
    )
    n = Notification.objects.filter(pk__in=ids).cancel(reason=Reason.CANCELLED_BY_PERSON, detail=f"Cancelled by {by}")
    record(by=by, objects=Notification.objects.filter(pk__in=ids), message="Cancelled")
    return n


def notifications_send_now(*, notifications, by: AbstractBaseUser | None) -> int:
    """Planned → due now: the next dispatcher pass (within a minute) sends them. Returns how many."""
    now = timezone.now()
    ids = list(notifications.filter(status=Notification.Status.PLANNED).values_list("pk", flat=True))
    n = Notification.objects.filter(pk__in=ids, status=Notification.Status.PLANNED).update(
        scheduled_for=now, updated_at=now
    )
    record(by=by, objects=Notification.objects.filter(pk__in=ids), message="Send now")
    return n


def cleanup(*, now=None, delivery_days: int = 180) -> dict:
    """Nightly: removes devices whose token the provider declared dead (their deliveries stay,
    without a device) and deliveries older than `delivery_days`."""
    from devices.models import Device, Platform, push_device_model

    now = now or timezone.now()
    removed_devices = 0
    for platform in Platform.values:
        model = push_device_model(platform)
        dead = list(model.objects.filter(active=False).values_list("pk", flat=True))
        handles = Device.objects.filter(platform=platform, push_device_id__in=dead)
        removed_devices += handles.count()
        handles.delete()
        model.objects.filter(pk__in=dead).delete()
    old, _ = Delivery.objects.filter(created_at__lt=now - dt.timedelta(days=delivery_days)).delete()
    return {"devices_removed": removed_devices, "deliveries_removed": old}
