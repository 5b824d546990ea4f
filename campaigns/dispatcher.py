"""The dispatcher and the sender: every due notification handed to the provider exactly once in effect.

    planned ──claim_due──► queued ──send_notifications──► sending ──► sent | failed | suppressed
                                                             │
                                 one Delivery per device, written before the provider call

Every time decision (claims, leases, backoff, sent_at) follows the `now` it is given, so a replay or
a simulation with its own clock behaves as it would live.

- `claim_due` moves due notifications from planned to queued in one transaction, with
  ``SELECT … FOR UPDATE SKIP LOCKED`` on MySQL / MariaDB, so two dispatchers never claim the same
  row; the ids then go to senders (Celery tasks on the `send` queue, or in-process).
- `send_notifications` checks the rules again at send time (`campaigns.rules`, as the planner
  did: opt-out, segment, muted type, quiet hours, the campaign still running, the weekly cap),
  writes one Delivery per active device, then takes a lease on the deliveries it will send (a
  conditional UPDATE), so a delivery is handed to the provider by one sender at a time; the
  provider's answers are stored per delivery.
- Transient failures (429, 5xx, timeouts) are retried by `retry_due` with exponential backoff and
  jitter, honouring Retry-After; dead tokens deactivate the device; other errors give up.
- A sender that dies leaves its notifications in queued / sending: after SEND_CLAIM_TIMEOUT_S they
  are claimed again (`reclaim_stale`). What the provider had already accepted is not resent: only
  deliveries without an answer are. The collapse key (one per notification) lets the phone drop
  the rare duplicate of a delivery whose answer was lost with the sender.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns import rules
from campaigns.models import Delivery, Notification, Reason, SegmentPolicy
from campaigns.push import Outcome, PushMessage, get_backend, push_data
from campaigns.services import sending_paused
from devices.models import Device, Platform, push_device_model
from optimus_site.bulk import insert_ignoring_duplicates
from recommender.models import CustomerProfile

log = logging.getLogger(__name__)

Status = Notification.Status
WEEK = rules.WEEK
# The words stored beside each reason a sender suppresses with (`status_reason`).
SUPPRESSION_DETAILS = {
    Reason.OPTED_OUT: "the customer opted out after planning",
    Reason.SEGMENT_NOT_CONTACTED: "the segment's policy was paused or allows no sends any more",
    Reason.MUTED_TYPE: "the customer muted this type after planning",
    Reason.QUIET_HOURS: "inside the customer's quiet hours at send time",
    Reason.WEEKLY_CAP: "the segment's weekly cap was reached before sending",
}
BATCH = 500  # notifications per sender task (FCM takes 500 messages per call)


@dataclass
class SendReport:
    notifications: int = 0
    sent: int = 0
    deliveries: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    suppressed: Counter = field(default_factory=Counter)

    def add(self, other: SendReport) -> None:
        for name in ("notifications", "sent", "deliveries", "delivered", "retrying", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.suppressed.update(other.suppressed)

    def as_dict(self) -> dict:
        out = {n: getattr(self, n) for n in ("notifications", "sent", "deliveries", "delivered", "retrying", "failed")}
        return out | {"suppressed": dict(self.suppressed)}


# Claiming ----------------------------------------------------------------------------------------


def claim_due(*, now: dt.datetime, limit: int = 20_000) -> list[int]:
    """Planned notifications due at or before `now` → queued; returns their ids (oldest first)."""
    with transaction.atomic():
        due = (
            Notification.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PLANNED, scheduled_for__lte=now)
            .order_by("scheduled_for", "pk")
        )
        ids = list(due.values_list("pk", flat=True)[:limit])
        if ids:
            Notification.objects.filter(pk__in=ids).claim(now=now)
    return ids


def reclaim_stale(*, now: dt.datetime) -> list[int]:
    """Queued or sending notifications whose sender has been silent for SEND_CLAIM_TIMEOUT_S:
    claimed again, to be handed to a new sender."""
    stale_before = now - dt.timedelta(seconds=settings.SEND_CLAIM_TIMEOUT_S)
    with transaction.atomic():
        stale = Notification.objects.select_for_update(skip_locked=True).filter(
            status__in=(Status.QUEUED, Status.SENDING), claimed_at__lt=stale_before
        )
        ids = list(stale.values_list("pk", flat=True)[:20_000])
        if ids:
            Notification.objects.filter(pk__in=ids).reclaim(now=now)
    if ids:
        log.warning("reclaimed %d notifications from senders that went silent", len(ids))
    return ids


def batches(ids: list[int], size: int = BATCH) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


# Sending -----------------------------------------------------------------------------------------


def send_notifications(ids: list[int], *, now: dt.datetime | None = None) -> SendReport:
    """Sends the queued notifications `ids` (a batch claimed by `claim_due`)."""
    now = now or timezone.now()
    report = SendReport()
    if sending_paused():
        # Back to planned, due as they were: the first pass after resuming sends them.
        Notification.objects.filter(pk__in=ids).back_to_planned()
        return report
    Notification.objects.filter(pk__in=ids).start_sending(now=now)
    notifications = list(
        Notification.objects.filter(pk__in=ids, status=Status.SENDING).select_related(
            "customer", "notification_type", "campaign"
        )
    )
    report.notifications = len(notifications)
    to_send, suppressed = [], defaultdict(list)
    for notification, reason in zip(notifications, suppression_reasons(notifications, now), strict=True):
        if reason:
            suppressed[reason].append(notification.pk)
        else:
            to_send.append(notification)
    for reason, suppressed_ids in suppressed.items():
        # Only from "sending": another sender of the same batch (a redelivered task, a reclaim of a
        # slow sender) may have sent it meanwhile, and "sent" must stay "sent".
        count = Notification.objects.filter(pk__in=suppressed_ids).suppress(
            reason=reason, detail=SUPPRESSION_DETAILS.get(reason, "the campaign is no longer running")
        )
        if count:
            report.suppressed[str(reason)] += count
    create_deliveries(to_send)
    loaded = {n.pk: n for n in to_send}
    report.add(send_deliveries(Delivery.objects.filter(notification__in=to_send), now, notifications=loaded))
    finish(to_send, report, now)
    return report


def retry_due(*, now: dt.datetime | None = None, limit: int = 20_000) -> SendReport:
    """Resends the deliveries whose transient failure has waited long enough (at most `limit` per
    pass), a batch at a time: each batch is leased just before it goes out, by a clock that moves on
    with the time spent sending the batches before it, so no lease runs out while it waits its turn."""
    now = now or timezone.now()
    report = SendReport()
    if sending_paused():
        return report
    due = Delivery.objects.filter(status=Delivery.Status.FAILED, next_attempt_at__lte=now).order_by("next_attempt_at")
    ids = list(due.values_list("pk", flat=True)[:limit])
    started = time.monotonic()
    for batch in batches(ids):
        moment = now + dt.timedelta(seconds=time.monotonic() - started)
        # Which notifications, read before sending: afterwards these deliveries are no longer "due".
        notification_ids = set(Delivery.objects.filter(pk__in=batch).values_list("notification_id", flat=True))
        report.add(send_deliveries(Delivery.objects.filter(pk__in=batch), moment))
        finish(list(Notification.objects.filter(pk__in=notification_ids, status=Status.SENDING)), report, moment)
    return report


def suppression_reasons(notifications: list[Notification], now: dt.datetime) -> list[Reason | None]:
    """Why each notification must not go out now (None = send it): the rulebook, asked again."""
    customers = {n.customer_id for n in notifications}
    batch = [n.pk for n in notifications]
    pushes = counted_pushes(customers, now=now, exclude=batch)
    # The marketer's hard ceiling: the learned frequency is the planner's, the ceiling binds both.
    policies = SegmentPolicy.objects.filter(is_active=True).only("segment_id", "weekly_cap", "weekly_ceiling")
    caps = {policy.segment_id: policy.hard_cap for policy in policies}
    segments = dict(CustomerProfile.objects.filter(customer_id__in=customers).values_list("customer_id", "segment_id"))
    reasons = []
    for n in notifications:
        segment = segments.get(n.customer_id)
        reason = rules.contact_reason(
            n.customer,
            segment_id=segment,
            weekly_cap=caps.get(segment, 0),
            notification_type=n.notification_type.slug,
            at=now,
            pushes=pushes[n.customer_id],
            campaign_status=n.campaign.status if n.campaign_id else None,
            planning=False,
        )
        reasons.append(reason)
        if reason is None:
            pushes[n.customer_id].append(now)  # counts against the next one of the same batch
    return reasons


def counted_pushes(customer_ids, *, now: dt.datetime, exclude: list[int]) -> dict[int, list[dt.datetime]]:
    """customer id → when their counted notifications of the week before `now` take place
    (`rules.counted_at`), without those of the batch being sent: a concurrent sender's success with
    the same notification is not a cap hit, and the batch's own are counted as they are accepted."""
    week_ago = now - WEEK
    rows = (
        Notification.objects.filter(
            Q(scheduled_for__gt=week_ago) | Q(sent_at__gt=week_ago),
            rules.COUNTED,
            customer_id__in=customer_ids,
        )
        .exclude(pk__in=exclude)
        .values_list("customer_id", "status", "scheduled_for", "sent_at")
    )
    pushes: dict[int, list[dt.datetime]] = defaultdict(list)
    for customer_id, status, scheduled_for, sent_at in rows.iterator():
        pushes[customer_id].append(rules.counted_at(status=status, scheduled_for=scheduled_for, sent_at=sent_at))
    return pushes


def create_deliveries(notifications: list[Notification]) -> None:
    """One Delivery per active device, written before any provider call (a rerun adds none)."""
    customers = {n.customer_id for n in notifications}
    devices_of = defaultdict(list)
    for device in active_devices(customers):
        devices_of[device.customer_id].append(device)
    created = timezone.now()
    rows = [
        (n.pk, device.pk, device.platform, Delivery.Status.PENDING, 0, "", "", "", "", created)
        for n in notifications
        for device in devices_of[n.customer_id]
    ]
    # Straight to the driver (optimus_site.bulk): 500 model instances and the ORM's per-value
    # compilation cost more than the INSERT itself (bench/send_throughput.py).
    insert_ignoring_duplicates(Delivery, DELIVERY_FIELDS, rows)


DELIVERY_FIELDS = [
    "notification", "device", "platform", "status", "attempts",
    "provider_message_id", "lease", "error_code", "error_message", "created_at",
]  # fmt: skip


def active_devices(customer_ids) -> list[Device]:
    devices = list(Device.objects.filter(customer_id__in=customer_ids))
    active = set()
    for platform in Platform.values:
        rows = [d.push_device_id for d in devices if d.platform == platform]
        if rows:
            model = push_device_model(platform)
            live = model.objects.filter(pk__in=rows, active=True).values_list("pk", flat=True)
            active |= {(platform, pk) for pk in live}
    return [d for d in devices if (d.platform, d.push_device_id) in active]


def send_deliveries(deliveries, now: dt.datetime, notifications: dict[int, Notification] | None = None) -> SendReport:
    """Takes a lease on the deliveries not yet answered, sends them in one backend call, stores answers.

    `notifications`: the deliveries' notifications (with their types) when the caller has them
    loaded already, so they are not read again."""
    report = SendReport()
    lease = uuid.uuid4().hex
    lease_until = now + dt.timedelta(seconds=settings.SEND_CLAIM_TIMEOUT_S)
    claimable = Q(status=Delivery.Status.PENDING) | Q(status=Delivery.Status.FAILED)
    free = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    pairs = list(deliveries.values_list("pk", "notification_id"))
    # Not for a notification another sender of the same batch has suppressed (or failed) meanwhile;
    # "sent" stays sendable: its other devices' failed deliveries are retried. Read apart from the
    # UPDATE: joining the notifications into it locks their rows too, in the opposite order to
    # `finish`, and two senders deadlock (bench/faults.py found it). A suppression landing between
    # the two is healed by `finish`: an accepted delivery makes the notification "sent".
    wanted = set(
        Notification.objects.filter(pk__in={n for _, n in pairs}, status__in=(Status.SENDING, Status.SENT)).values_list(
            "pk", flat=True
        )
    )
    ids = [pk for pk, notification_id in pairs if notification_id in wanted]
    Delivery.objects.filter(claimable & free, pk__in=ids).update(lease=lease, next_attempt_at=lease_until)
    mine = Delivery.objects.filter(pk__in=ids, lease=lease)
    if notifications is None:
        mine = list(mine.select_related("notification__notification_type"))
    else:
        mine = list(mine)
        for delivery in mine:
            delivery.notification = notifications[delivery.notification_id]
    if not mine:
        return report
    tokens = device_tokens(mine)
    messages, by_id = [], {}
    for delivery in mine:
        token = tokens.get(delivery.device_id)
        if token is None:  # the device was removed or deactivated since the delivery was written
            delivery.status, delivery.error_code = Delivery.Status.DEAD_TOKEN, "device_gone"
            delivery.lease, delivery.next_attempt_at = "", None
            delivery.save(update_fields=["status", "error_code", "lease", "next_attempt_at"])
            continue
        messages.append(push_message(delivery, *token))
        by_id[delivery.pk] = delivery
    results = get_backend().send(messages) if messages else []
    report.deliveries = len(results)
    dead_devices = []
    for result in results:
        delivery = by_id[result.delivery_id]
        delivery.attempts += 1
        delivery.lease = ""
        delivery.error_code, delivery.error_message = result.error_code, result.error_message
        if result.outcome == Outcome.OK:
            delivery.status, delivery.sent_at, delivery.next_attempt_at = Delivery.Status.SENT, now, None
            delivery.provider_message_id = result.provider_message_id
            report.delivered += 1
        elif result.outcome == Outcome.TRANSIENT and delivery.attempts < settings.SEND_MAX_ATTEMPTS:
            delivery.status = Delivery.Status.FAILED
            wait = backoff(delivery.attempts, result.retry_after)
            delivery.next_attempt_at = now + dt.timedelta(seconds=wait)
            report.retrying += 1
        elif result.outcome == Outcome.DEAD_TOKEN:
            delivery.status, delivery.next_attempt_at = Delivery.Status.DEAD_TOKEN, None
            dead_devices.append(delivery.device_id)
        else:
            delivery.status, delivery.next_attempt_at = Delivery.Status.GAVE_UP, None
            report.failed += 1
    store_answers(by_id.values())
    deactivate_devices(dead_devices)
    return report


ANSWER_COLUMNS = (
    "status",
    "attempts",
    "error_code",
    "error_message",
    "next_attempt_at",
    "sent_at",
    "provider_message_id",
)
ANSWERS_PER_STATEMENT = 500


def store_answers(deliveries) -> None:
    """Writes the provider's answers in one transaction: on MySQL / MariaDB one UPDATE joined to
    the answers as a derived table per 500 deliveries, elsewhere one parametrised UPDATE per
    delivery (Django's bulk_update builds a CASE per column and row, which cost more than the
    sending; an UPDATE per row is a round trip each).

    The pushes have gone out by now, so their answers are worth waiting for: if the database is
    away (restarting), the write is tried again on a new connection for up to a minute (and less
    than half the lease), rather than leaving the deliveries unanswered, to be sent a second time
    when the lease ends."""
    ops = connection.ops
    rows = [
        (
            d.pk,
            d.status,
            d.attempts,
            d.error_code,
            d.error_message,
            ops.adapt_datetimefield_value(d.next_attempt_at),
            ops.adapt_datetimefield_value(d.sent_at),
            d.provider_message_id,
        )
        for d in deliveries
    ]
    if not rows:
        return
    patience = time.monotonic() + min(60.0, settings.SEND_CLAIM_TIMEOUT_S / 2)
    pause = 0.2
    while True:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                _write_answers(cursor, rows)
            return
        except (OperationalError, InterfaceError):
            # Inside a caller's transaction a new connection would lose that transaction's work.
            if connection.in_atomic_block or time.monotonic() + pause > patience:
                raise
            log.warning("could not store %d provider answers (database unavailable); trying again", len(rows))
            connection.close()
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def _write_answers(cursor, rows: list[tuple]) -> None:
    table = connection.ops.quote_name(Delivery._meta.db_table)
    if connection.vendor != "mysql":
        assignments = ", ".join(f"{column} = %s" for column in ANSWER_COLUMNS)
        sql = f"UPDATE {table} SET {assignments}, lease = '' WHERE id = %s"  # noqa: S608 (names are ours)
        cursor.executemany(sql, [(*row[1:], row[0]) for row in rows])
        return
    first = "SELECT %s AS id, " + ", ".join(f"%s AS {column}" for column in ANSWER_COLUMNS)
    other = "SELECT " + ", ".join(["%s"] * (len(ANSWER_COLUMNS) + 1))
    assignments = ", ".join(f"d.{column} = a.{column}" for column in ANSWER_COLUMNS)
    for start in range(0, len(rows), ANSWERS_PER_STATEMENT):
        chunk = rows[start : start + ANSWERS_PER_STATEMENT]
        answers = " UNION ALL ".join([first] + [other] * (len(chunk) - 1))
        sql = f"UPDATE {table} d JOIN ({answers}) a ON d.id = a.id SET {assignments}, d.lease = ''"  # noqa: S608
        cursor.execute(sql, [value for row in chunk for value in row])


def backoff(attempts: int, retry_after: float | None) -> float:
    """Seconds to wait: Retry-After when the provider gave one, else SEND_BACKOFF_BASE_S (30 s) ×
    2^(attempts-1) with jitter; at most SEND_BACKOFF_MAX_S."""
    if retry_after:
        return min(float(retry_after), settings.SEND_BACKOFF_MAX_S)
    ceiling = min(settings.SEND_BACKOFF_MAX_S, settings.SEND_BACKOFF_BASE_S * 2 ** (attempts - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (jitter, not security)


def device_tokens(deliveries: list[Delivery]) -> dict[int, tuple]:
    """device id → (platform, token, p256dh, auth) for active devices."""
    devices = {d.pk: d for d in Device.objects.filter(pk__in={x.device_id for x in deliveries if x.device_id})}
    out = {}
    for platform in Platform.values:
        rows = {d.push_device_id: d.pk for d in devices.values() if d.platform == platform}
        if not rows:
            continue
        model = push_device_model(platform)
        fields = ["pk", "registration_id"] + (["p256dh", "auth"] if platform == Platform.WEBPUSH else [])
        for values in model.objects.filter(pk__in=rows, active=True).values_list(*fields):
            out[rows[values[0]]] = (platform, values[1], *(values[2:] or ("", "")))
    return out


def push_message(delivery: Delivery, platform: str, token: str, p256dh: str, auth: str) -> PushMessage:
    n = delivery.notification
    return PushMessage(
        delivery_id=delivery.pk,
        platform=platform,
        token=token,
        title=n.title,
        body=n.body,
        data=push_data(notification_id=n.pk, type_slug=n.notification_type.slug, item_ids=n.item_ids, link=n.link),
        collapse_key=f"n{n.pk}",
        ttl_seconds=n.notification_type.ttl_hours * 3600,
        webpush_p256dh=p256dh,
        webpush_auth=auth,
    )


def deactivate_devices(device_ids: list[int]) -> None:
    for device in Device.objects.filter(pk__in=device_ids):
        push_device_model(device.platform).objects.filter(pk=device.push_device_id).update(active=False)


def finish(notifications: list[Notification], report: SendReport, now: dt.datetime) -> None:
    """A notification is sent once any device accepted it, failed when none can any more."""
    if not notifications:
        return
    states = defaultdict(set)
    for notification_id, status in Delivery.objects.filter(notification__in=notifications).values_list(
        "notification_id", "status"
    ):
        states[notification_id].add(status)
    sent, failed = [], defaultdict(list)
    for n in notifications:
        seen = states[n.pk]
        if Delivery.Status.SENT in seen:
            sent.append(n.pk)
        elif Delivery.Status.PENDING in seen or Delivery.Status.FAILED in seen:
            continue  # retries pending
        elif not seen:
            failed[(Reason.NO_ACTIVE_DEVICE, "no active device")].append(n.pk)
        else:
            failed[(Reason.DELIVERY_FAILED, "every device failed: " + ", ".join(sorted(seen)))].append(n.pk)
    # One UPDATE per outcome, not a save per notification; only from "sending", so that of two
    # senders finishing the same notification, one counts it. An accepted delivery is the ground
    # truth: it also turns "suppressed" into "sent" (another sender of the batch suppressed it
    # while this one had it with the provider).
    report.sent += Notification.objects.filter(pk__in=sent).mark_sent(now=now)
    for (reason, detail), ids in failed.items():
        report.failed += Notification.objects.filter(pk__in=ids).fail(reason=reason, detail=detail)


def dispatch(*, now: dt.datetime | None = None, send=None) -> SendReport:
    """One dispatcher pass: reclaim stale claims, claim what is due, send it, retry what waited.

    `send` hands a batch of ids to a sender (default: in this process)."""
    now = now or timezone.now()
    send = send or (lambda batch: send_notifications(batch, now=now))
    report = SendReport()
    if sending_paused():
        log.warning("dispatch: sending is paused (kill switch); nothing claimed")
        return report
    ids = reclaim_stale(now=now) + claim_due(now=now)
    for batch in batches(ids):
        result = send(batch)
        if isinstance(result, SendReport):
            report.add(result)
    report.add(retry_due(now=now))
    return report
