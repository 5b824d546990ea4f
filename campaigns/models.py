"""Deciding and sending: notification types, segment policies, campaigns, notifications,
deliveries and the feedback phones send back."""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from campaigns.templating import PLACEHOLDER_HELP, TemplateError, template_placeholders, validate_template
from devices.models import Customer, Device, Platform
from optimus_site.bulk import insert_ignoring_duplicates
from recommender.models import Segment


class NotificationType(models.Model):
    """A kind of message (a cart reminder, a win-back offer…) with its wording."""

    slug = models.SlugField(max_length=60, unique=True, help_text="Stable id sent to the app as `type`.")
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, help_text="What this message is for, for other marketers.")
    title_template = models.CharField(
        max_length=200,
        validators=[validate_template],
        help_text=f"Title shown on the phone. {PLACEHOLDER_HELP}",
    )
    body_template = models.CharField(
        max_length=500, validators=[validate_template], help_text="Body text; same placeholders as the title."
    )
    deep_link_template = models.CharField(
        max_length=300,
        blank=True,
        validators=[validate_template],
        help_text="Where a tap takes the person in the app, e.g. myapp://item/{first_item_id}.",
    )
    carries_items = models.BooleanField(
        default=True, help_text="Shows the person's recommended products (otherwise a plain message)."
    )
    max_items = models.PositiveSmallIntegerField(default=3, validators=[MaxValueValidator(10)])
    content_value = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0)],
        help_text="How much an open of this type is worth relative to others (1 = normal).",
    )
    ttl_hours = models.PositiveSmallIntegerField(
        default=24, help_text="After this many hours an undelivered push is dropped by the provider."
    )
    is_active = models.BooleanField(default=True, help_text="Inactive types are never planned.")
    requires_offer = models.BooleanField(
        default=False,
        help_text="The wording promises a discount, a coupon, a gift or a reward: the type is only sent "
        "while an offer is filled in below, so a push never promises what the shop does not give.",
    )
    offer = models.CharField(
        max_length=200,
        blank=True,
        help_text="What the shop gives with this message, e.g. '15 % off with code SPRING15'. "
        "The wording can show it with {offer}. Empty the field to stop sending the type.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_offer(self) -> bool:
        return bool(self.offer.strip())

    @property
    def may_be_sent(self) -> bool:
        """False for a type whose wording promises an offer while none is attached."""
        return not self.requires_offer or self.has_offer

    def clean(self) -> None:
        check_offer_wording(
            self, [self.title_template, self.body_template, self.deep_link_template], "this type's wording"
        )


def check_offer_wording(notification_type: NotificationType, templates: list[str], what: str) -> None:
    """A wording showing {offer} needs an offer to show: refuse it rather than send an empty promise."""
    try:
        uses_offer = any("offer" in template_placeholders(t) for t in templates)
    except TemplateError:
        return  # the field validators report the template itself
    if uses_offer and not notification_type.has_offer:
        raise ValidationError(
            f"{what.capitalize()} shows {{offer}}, but the type '{notification_type}' has no offer: "
            "fill in its offer first."
        )


class SegmentPolicy(models.Model):
    """How a segment may be contacted: which types and how often."""

    segment = models.OneToOneField(Segment, on_delete=models.CASCADE, related_name="policy")
    # The seed's weekly number: where the learned frequency starts (campaigns.policy); the hard limit is
    # weekly_ceiling.
    weekly_cap = models.PositiveSmallIntegerField(
        "starting frequency",
        validators=[MaxValueValidator(50)],
        help_text="Pushes a week Optimus starts from for this segment; it then learns more or fewer from how "
        "people react, never above the ceiling (0 = none).",
    )
    weekly_ceiling = models.PositiveSmallIntegerField(
        default=7,
        validators=[MaxValueValidator(50)],
        help_text="Most notifications a customer in this segment gets in any 7 days, whatever Optimus learns "
        "(7 = at most daily; 0 = none).",
    )
    allowed_types = models.ManyToManyField(NotificationType, blank=True, related_name="policies")
    pinned_type = models.ForeignKey(
        NotificationType,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pinned_by",
        help_text="Always send this type when it applies, instead of the one Optimus learns is best.",
    )
    forbidden_types = models.ManyToManyField(
        NotificationType,
        blank=True,
        related_name="forbidden_by",
        help_text="Never send these types to the segment, even if allowed.",
    )
    strategy = models.CharField(max_length=200, blank=True, help_text="The intent, in a phrase.")
    is_active = models.BooleanField(default=True, help_text="Paused policies send nothing to the segment.")

    class Meta:
        verbose_name_plural = "segment policies"
        ordering = ["segment__priority"]

    def __str__(self) -> str:
        return f"Policy for {self.segment}"

    @property
    def hard_cap(self) -> int:
        """The rulebook's weekly cap, the same for planner and sender: the ceiling, or 0 (the segment is
        not contacted) when the starting frequency is 0."""
        return self.weekly_ceiling if self.weekly_cap > 0 else 0


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved (running in its window)"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"
        FINISHED = "finished", "Finished"

    class Timing(models.TextChoices):
        BEST_TIME = "best_time", "At each person's best time"
        FIXED_LOCAL_TIME = "fixed_local_time", "At a fixed local time"

    name = models.CharField(max_length=150)
    notification_type = models.ForeignKey(NotificationType, on_delete=models.PROTECT, related_name="campaigns")
    segments = models.ManyToManyField(
        Segment, blank=True, related_name="campaigns", help_text="Who receives it. None selected = everyone."
    )
    title_template = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_template],
        help_text=f"Leave empty to use the type's title. {PLACEHOLDER_HELP}",
    )
    body_template = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_template],
        help_text="Leave empty to use the type's body. Same placeholders as the title.",
    )
    personalised_items = models.BooleanField(default=True, help_text="Fill in each person's recommended items.")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    timing = models.CharField(max_length=20, choices=Timing.choices, default=Timing.BEST_TIME)
    fixed_local_time = models.TimeField(null=True, blank=True, help_text="Used with 'at a fixed local time'.")
    max_per_customer = models.PositiveSmallIntegerField(
        default=1, help_text="Most notifications of this campaign one person gets (segment caps still apply)."
    )
    control_share = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.1"),  # a float 0.1 is 0.1000000000000000055…: more places than the field allows
        validators=[MinValueValidator(0), MaxValueValidator(0.5)],
        help_text="Share of the audience held back to measure uplift (0.1 = 10 %).",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["status", "starts_at"], name="campaign_status_start")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError("The campaign must end after it starts.")
        if self.timing == self.Timing.FIXED_LOCAL_TIME and self.fixed_local_time is None:
            raise ValidationError("Choose the local time to send at.")
        notification_type = self.notification_type if self.notification_type_id else None
        if notification_type is not None:
            if not notification_type.may_be_sent:
                raise ValidationError(
                    f"The type '{notification_type}' promises an offer and none is attached: fill in the "
                    "type's offer first, or choose another type."
                )
            check_offer_wording(notification_type, [self.title_template, self.body_template], "the campaign's wording")


class Reason(models.TextChoices):
    """Why a notification was not planned, not sent, or cancelled: the codes the rulebook
    (campaigns.rules), the planner's and the sender's reports and the `reason` column share. The human
    detail, when there is one, is `Notification.status_reason`."""

    OPTED_OUT = "opted_out", "The customer opted out"
    NO_PROFILE = "no_profile", "No profile or segment yet"
    SEGMENT_NOT_CONTACTED = "segment_not_contacted", "The segment's policy is paused or allows no sends"
    MUTED_TYPE = "muted_type", "The customer muted this type"
    QUIET_HOURS = "quiet_hours", "Inside the customer's quiet hours"
    NO_ALLOWED_HOUR = "no_allowed_hour", "No allowed hour in the planning window"
    WEEKLY_CAP = "weekly_cap", "The segment's weekly ceiling"
    PACED = "paced", "Too soon after the previous one (pacing)"
    CAMPAIGN_DRAFT = "campaign_draft", "The campaign is back to draft"
    CAMPAIGN_PAUSED = "campaign_paused", "The campaign is paused"
    CAMPAIGN_CANCELLED = "campaign_cancelled", "The campaign was cancelled"
    CAMPAIGN_FINISHED = "campaign_finished", "The campaign has finished"
    CONTROL_GROUP = "control_group", "Control group: held back to measure uplift"
    NO_OFFER = "no_offer", "The type promises an offer and none is attached"
    CANCELLED_BY_PERSON = "cancelled_by_person", "Cancelled by a person"
    NOTHING_TO_SAY = "nothing_to_say", "No type with something to say"
    LOW_EXPECTED_VALUE = "low_expected_value", "Expected value below the minimum"
    FREQUENCY = "frequency", "More than the learned weekly frequency"
    TEMPLATE_ERROR = "template_error", "The wording's template cannot be filled in"
    NO_ACTIVE_DEVICE = "no_active_device", "No active device"
    DELIVERY_FAILED = "delivery_failed", "Every device failed"


class Owner(models.TextChoices):
    """Who decided a notification: the planner on its own, a campaign (see `Notification.campaign`), or
    one of the simulator's stand-in policies."""

    AUTOMATION = "auto", "The planner, on its own"
    CAMPAIGN = "campaign", "A campaign"
    SIMULATED_BLAST = "blast", "Simulation: daily blast"
    SIMULATED_SEED = "seed", "Simulation: the original method"


class NotificationStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    QUEUED = "queued", "Queued for sending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    SUPPRESSED = "suppressed", "Suppressed (not sent)"


_S = NotificationStatus

# Which status may move to which; the only ways a row is created are `planned` and (the control group)
# `suppressed`. NotificationQuerySet's transitions are checked against this table.
TRANSITIONS: dict[str, frozenset[str]] = {
    _S.PLANNED: frozenset({_S.QUEUED, _S.CANCELLED}),
    # queued → queued and sending → queued: a stale claim taken again; → planned: the kill switch.
    _S.QUEUED: frozenset({_S.QUEUED, _S.SENDING, _S.PLANNED, _S.CANCELLED}),
    _S.SENDING: frozenset({_S.QUEUED, _S.PLANNED, _S.SENT, _S.FAILED, _S.SUPPRESSED}),
    # An accepted delivery is the ground truth: another sender of the same batch may have suppressed
    # the notification while this one had it with the provider.
    _S.SUPPRESSED: frozenset({_S.SENT}),
    _S.SENT: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELLED: frozenset(),
}


def idempotency_key(*, customer_id: int, owner: str, campaign_id: int | None, local_date: dt.date) -> str:
    """customer : "auto", "c<campaign id>" or a simulated policy : local date — one notification per
    owner per local day; the unique constraint on it is what makes planning idempotent."""
    owner_part = f"c{campaign_id}" if owner == Owner.CAMPAIGN else owner
    return f"{customer_id}:{owner_part}:{local_date.isoformat()}"


class NotificationQuerySet(models.QuerySet):
    """The life of a notification: every status change is one of these named transitions, each ONE
    conditional UPDATE (only rows still in an allowed status move) that returns how many rows moved.
    Call them on the rows concerned: ``Notification.objects.filter(pk__in=ids).claim(now=now)``."""

    # name → (statuses it moves from, status it moves to); checked against TRANSITIONS at import.
    MOVES: dict[str, tuple[tuple[str, ...], str]] = {
        "claim": ((_S.PLANNED,), _S.QUEUED),
        "reclaim": ((_S.QUEUED, _S.SENDING), _S.QUEUED),
        "start_sending": ((_S.QUEUED,), _S.SENDING),
        "back_to_planned": ((_S.QUEUED, _S.SENDING), _S.PLANNED),
        "suppress": ((_S.SENDING,), _S.SUPPRESSED),
        "mark_sent": ((_S.SENDING, _S.SUPPRESSED), _S.SENT),
        "fail": ((_S.SENDING,), _S.FAILED),
        "cancel": ((_S.PLANNED, _S.QUEUED), _S.CANCELLED),
    }

    def _move(self, name: str, **values) -> int:
        allowed_from, to = self.MOVES[name]
        return self.filter(status__in=allowed_from).update(status=to, updated_at=timezone.now(), **values)

    def claim(self, *, now: dt.datetime) -> int:
        """planned → queued, for a dispatcher that will hand them to a sender."""
        return self._move("claim", claimed_at=now)

    def reclaim(self, *, now: dt.datetime) -> int:
        """queued / sending → queued: the claim of a sender that went silent, taken again."""
        return self._move("reclaim", claimed_at=now)

    def start_sending(self, *, now: dt.datetime) -> int:
        """queued → sending, by the sender that is about to send them."""
        return self._move("start_sending", claimed_at=now)

    def back_to_planned(self) -> int:
        """queued / sending → planned, due as they were (the kill switch)."""
        return self._move("back_to_planned", claimed_at=None)

    def suppress(self, *, reason: str, detail: str = "") -> int:
        """sending → suppressed: a rule forbids it at send time."""
        return self._move("suppress", reason=reason, status_reason=detail[:200])

    def mark_sent(self, *, now: dt.datetime) -> int:
        """sending (or suppressed meanwhile by another sender) → sent: a device accepted it."""
        return self._move("mark_sent", sent_at=now, reason="", status_reason="")

    def fail(self, *, reason: str, detail: str = "") -> int:
        """sending → failed: no device can take it any more."""
        return self._move("fail", reason=reason, status_reason=detail[:200])

    def cancel(self, *, reason: str, detail: str = "") -> int:
        """planned / queued (not yet with a sender) → cancelled."""
        return self._move("cancel", reason=reason, status_reason=detail[:200])


class NotificationManager(models.Manager.from_queryset(NotificationQuerySet)):
    def insert_new(self, fields: list[str], rows: list[tuple]) -> int:
        """The one way notifications are created: `rows` (tuples in `fields` order, which must name
        customer, owner, campaign, local_date, status and reason) are inserted with their idempotency
        key built from those columns; a row whose key exists already is skipped. Returns how many were
        inserted. Only `planned` rows, or `suppressed` ones of the control group, may be created.

        Straight to the driver (optimus_site.bulk): model instances and the ORM's per-value compilation
        cost more than the database does on the planner's path (bench/send_throughput.py)."""
        at = {name: fields.index(name) for name in ("customer", "owner", "campaign", "local_date", "status", "reason")}
        keyed = []
        for row in rows:
            status, reason = row[at["status"]], row[at["reason"]]
            if (status, reason) not in _NEW_ROWS:
                raise ValueError(f"a notification cannot be created as {status!r} with reason {reason!r}")
            key = idempotency_key(
                customer_id=row[at["customer"]],
                owner=row[at["owner"]],
                campaign_id=row[at["campaign"]],
                local_date=row[at["local_date"]],
            )
            keyed.append((*row, key))
        return insert_ignoring_duplicates(self.model, [*fields, "idempotency_key"], keyed)


_NEW_ROWS = {(_S.PLANNED, ""), (_S.SUPPRESSED, Reason.CONTROL_GROUP)}


for _name, (_from, _to) in NotificationQuerySet.MOVES.items():
    assert all(_to in TRANSITIONS[f] for f in _from), f"{_name}: not in TRANSITIONS"  # noqa: S101


class Notification(models.Model):
    """One decision to notify one customer, and what became of it.

    ``planned → queued → sending → sent | failed``; ``cancelled`` by a person, ``suppressed`` by
    a rule at send time (cap, quiet hours, opt-out) or because the customer is in the control group.
    Every move is in TRANSITIONS and made by a NotificationQuerySet method; rows are created by
    `Notification.objects.insert_new` only.
    """

    Status = NotificationStatus

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notifications")
    campaign = models.ForeignKey(
        Campaign,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notifications",
        help_text="Empty for notifications the planner chose on its own.",
    )
    owner = models.CharField(
        max_length=20, choices=Owner.choices, default=Owner.AUTOMATION, help_text="Who decided it."
    )
    notification_type = models.ForeignKey(NotificationType, on_delete=models.PROTECT, related_name="notifications")
    local_date = models.DateField(
        null=True,
        blank=True,
        help_text="The customer's local date it is planned for (one per owner and day). "
        "Empty only for rows written outside the planner.",
    )
    # Built from customer, owner and local date (`idempotency_key()`). The unique constraint is what makes
    # planning idempotent: a rerun for the same slot collides instead of creating a second notification.
    idempotency_key = models.CharField(max_length=191, unique=True, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    reason = models.CharField(
        max_length=30, choices=Reason.choices, blank=True, help_text="Why it was suppressed, failed or cancelled."
    )
    scheduled_for = models.DateTimeField(help_text="When it should go out (UTC).")
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=500)
    link = models.CharField(max_length=300, blank=True)
    item_ids = models.JSONField(default=list, blank=True, help_text="External ids of the items shown.")
    predicted_open = models.FloatField(null=True, blank=True, help_text="Predicted probability of an open.")
    expected_value = models.FloatField(null=True, blank=True)
    is_exploration = models.BooleanField(
        default=False, help_text="A choice (hour, type or frequency) made by exploration, to keep learning."
    )
    propensity = models.FloatField(null=True, blank=True, help_text="Probability the policy chose this slot.")
    # Nullable: rows inserted straight to the driver without this column (the simulator's stand-in
    # policies) would otherwise be dropped silently by INSERT IGNORE on a NOT NULL column.
    propensities = models.JSONField(
        default=dict,
        null=True,
        blank=True,
        help_text="Probability of each stochastic choice behind it: hour, type, frequency (for off-policy "
        "evaluation). Empty for rows written outside the planner.",
    )
    explanation = models.JSONField(default=dict, blank=True, help_text="Why this was decided.")
    status_reason = models.CharField(max_length=200, blank=True, help_text="The details of the reason, in words.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = NotificationManager()

    class Meta:
        indexes = [
            # The dispatcher's query: due rows by status and time.
            models.Index(fields=["status", "scheduled_for"], name="notification_due"),
            # Caps (the last 7 days) and the inbox.
            models.Index(fields=["customer", "scheduled_for"], name="notification_customer_time"),
            # Caps count a sent notification by when it was sent.
            models.Index(fields=["customer", "sent_at"], name="notification_customer_sent"),
            models.Index(fields=["campaign", "status"], name="notification_campaign_status"),
        ]

    def __str__(self) -> str:
        return f"{self.notification_type} to {self.customer} at {self.scheduled_for:%Y-%m-%d %H:%M} ({self.status})"


class Delivery(models.Model):
    """A notification handed to one device. Written before the provider call, so a retry after
    a crash knows what was already attempted and resends only what failed."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Accepted by provider"
        FAILED = "failed", "Failed (will retry)"
        GAVE_UP = "gave_up", "Failed for good"
        DEAD_TOKEN = "dead_token", "Device no longer registered"

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    # SET_NULL: a device the customer removes later keeps its delivery history.
    device = models.ForeignKey(Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    platform = models.CharField(max_length=8, choices=Platform.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    # Set by the sender that is sending it right now (with next_attempt_at as the lease's end), so
    # two senders never both hand the same delivery to the provider.
    lease = models.CharField(max_length=32, blank=True, editable=False)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["notification", "device"], name="one_delivery_per_device"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_retry")]

    def __str__(self) -> str:
        return f"Notification {self.notification_id} → device {self.device_id} ({self.status})"


class Feedback(models.Model):
    """What the phone reported about a notification. One row per action: a repeat is ignored."""

    class Action(models.TextChoices):
        DELIVERED = "delivered", "Delivered"
        OPENED = "opened", "Opened"
        DISMISSED = "dismissed", "Dismissed"

    class Network(models.TextChoices):
        WIFI = "wifi", "Wi-Fi"
        CELLULAR = "cellular", "Cellular"
        NONE = "none", "No network"
        UNKNOWN = "unknown", "Unknown"

    class AppState(models.TextChoices):
        FOREGROUND = "foreground", "Foreground"
        BACKGROUND = "background", "Background"
        KILLED = "killed", "Not running"

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="feedback")
    action = models.CharField(max_length=10, choices=Action.choices)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    battery = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(100)])
    charging = models.BooleanField(null=True, blank=True)
    network = models.CharField(max_length=8, choices=Network.choices, blank=True)
    app_state = models.CharField(max_length=10, choices=AppState.choices, blank=True)
    os = models.CharField(max_length=100, blank=True)

    class Meta:
        verbose_name_plural = "feedback"
        constraints = [models.UniqueConstraint(fields=["notification", "action"], name="one_feedback_per_action")]
        indexes = [models.Index(fields=["action", "occurred_at"], name="feedback_action_time")]

    def __str__(self) -> str:
        return f"{self.action} for notification {self.notification_id}"


class SendingSwitch(models.Model):
    """The global kill switch: while paused, nothing is claimed or handed to a provider.

    One row (pk 1). Planning goes on, so resuming sends what is due from then on.
    """

    paused = models.BooleanField(default=False)
    reason = models.CharField(max_length=200, blank=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "sending switch"
        verbose_name_plural = "sending switch"

    def __str__(self) -> str:
        return "Sending is PAUSED" if self.paused else "Sending is on"

    @classmethod
    def current(cls) -> "SendingSwitch":
        switch, _ = cls.objects.get_or_create(pk=1)
        return switch
