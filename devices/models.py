"""Who is there: customers, the credentials that speak for them, and their push devices.

Push devices are django-push-notifications' own models (``GCMDevice`` for FCM, ``APNSDevice``,
``WebPushDevice``); their ``user`` foreign key points at :class:`Customer` through
``PUSH_NOTIFICATIONS_SETTINGS["USER_MODEL"]``, so erasing a customer erases their devices.
"""

import datetime as dt
import hashlib
import secrets
import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from devices import credential_cache

EXTERNAL_ID_LENGTH = 191  # utf8mb4 keeps an index under 767 bytes on old MySQL row formats


def customer_id_problem(value: str) -> str | None:
    """Why `value` cannot be a customer's external id, or None. A customer id is part of URLs
    (/customers/{id}, /customers/{id}/token), so it may not contain "/" — the path could not address
    it, and such a customer could never be erased; control characters (NUL included) are refused too:
    an id no one could type or look up again."""
    if "/" in value:
        return 'must not contain "/" (customer ids are part of URLs)'
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "must not contain control characters"
    return None


def validate_timezone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone name (for example 'Europe/London')")


_TIMEZONES: frozenset[str] | None = None


def available_timezones() -> frozenset[str]:
    global _TIMEZONES
    if _TIMEZONES is None:
        # "localtime" (the server's own zone file) and "Factory" (a placeholder) are no places.
        _TIMEZONES = frozenset(zoneinfo.available_timezones()) - {"localtime", "Factory"}
    return _TIMEZONES


def validate_slug_list(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise ValidationError("Must be a list of notification type slugs")


class Customer(models.Model):
    """A person using the business's app, known by the business's own id."""

    external_id = models.CharField(
        max_length=EXTERNAL_ID_LENGTH,
        unique=True,
        help_text="The customer's id in your own system (what your backend calls them).",
    )
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text="IANA time zone, e.g. Europe/London. Sends are timed in this zone.",
    )
    locale = models.CharField(max_length=35, blank=True, help_text="Language tag, e.g. en-GB.")
    attributes = models.JSONField(default=dict, blank=True, help_text="Free-form data from your backend.")
    opt_out = models.BooleanField(
        default=False, help_text="Opted out of all notifications. Nothing is planned or sent to them."
    )
    opted_out_at = models.DateTimeField(null=True, blank=True)
    quiet_hours_start = models.TimeField(
        null=True, blank=True, help_text="Local time when quiet hours begin (no sends). Leave both empty for none."
    )
    quiet_hours_end = models.TimeField(
        null=True, blank=True, help_text="Local time when quiet hours end (exclusive). May be earlier than the start."
    )
    muted_types = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_slug_list],
        help_text="Slugs of notification types this customer does not want.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The mobile API authenticates a customer token and puts the Customer on request.user, so
    # that django-push-notifications' Authorized viewsets filter devices by their owner.
    is_authenticated = True
    is_anonymous = False

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.external_id

    def clean(self) -> None:
        if (self.quiet_hours_start is None) != (self.quiet_hours_end is None):
            raise ValidationError("Quiet hours need both a start and an end, or neither.")
        if self.quiet_hours_start is not None and self.quiet_hours_start == self.quiet_hours_end:
            raise ValidationError("Quiet hours start and end must differ.")

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def local_time(self, at: dt.datetime) -> dt.datetime:
        return at.astimezone(self.zone)


class Platform(models.TextChoices):
    FCM = "fcm", "Android / FCM"
    APNS = "apns", "iOS / APNs"
    WEBPUSH = "webpush", "Web Push"


class Device(models.Model):
    """A phone or browser that a customer's app registered for pushes.

    The push token and the sending belong to django-push-notifications' table for the platform
    (``GCMDevice`` for FCM, ``APNSDevice``, ``WebPushDevice``); this row is the public,
    platform-independent handle (``/devices/{id}``) with what the app reports about itself. Both
    rows point at the same customer, so erasing the customer erases both.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="devices")
    platform = models.CharField(max_length=8, choices=Platform.choices)
    push_device_id = models.PositiveBigIntegerField(help_text="Row id in the platform's push device table.")
    app_version = models.CharField(max_length=50, blank=True)
    timezone = models.CharField(
        max_length=64, blank=True, validators=[validate_timezone], help_text="Time zone the phone reported."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "push_device_id"], name="one_device_per_push_row")]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} device {self.pk} of {self.customer_id}"

    @property
    def push_device_model(self) -> type[models.Model]:
        return push_device_model(self.platform)


def push_device_model(platform: str) -> type[models.Model]:
    """django-push-notifications' model that holds tokens for `platform`."""
    from push_notifications.models import APNSDevice, GCMDevice, WebPushDevice

    return {Platform.FCM: GCMDevice, Platform.APNS: APNSDevice, Platform.WEBPUSH: WebPushDevice}[platform]


class CredentialQuerySet(models.QuerySet):
    def active(self) -> "CredentialQuerySet":
        return self.filter(revoked_at__isnull=True)

    def revoke(self) -> int:
        """Revokes the still-active credentials in the set; returns how many. When this returns, no
        request starting afterwards is let in with them, in any process (see credential_cache)."""
        with transaction.atomic():
            prefixes = list(self.active().values_list("prefix", flat=True))
            credential_cache.changed(self.model, prefixes)  # acts once the UPDATE has committed
            return self.model.objects.filter(prefix__in=prefixes).update(revoked_at=timezone.now())


class Credential(models.Model):
    """A secret shown once and stored hashed: ``<prefix>.<secret>``.

    The prefix is stored in clear to find the row; only the SHA-256 of the whole value is kept.
    A fast hash is right here (unlike for passwords) because the secret is 256 random bits, not
    something a person chose, so there is nothing to brute-force.
    """

    PREFIX_LENGTH = 12

    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True, editable=False)
    hashed_secret = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="Set to revoke: the key stops working at once.")

    objects = CredentialQuerySet.as_manager()

    class Meta:
        abstract = True

    @staticmethod
    def hash(value: str) -> str:
        return hashlib.sha256(value.encode()).hexdigest()

    @classmethod
    def generate(cls) -> tuple[str, str, str]:
        """Returns (plain value to show once, prefix, hash to store)."""
        prefix = secrets.token_hex(cls.PREFIX_LENGTH // 2)
        plain = f"{prefix}.{secrets.token_urlsafe(32)}"
        return plain, prefix, cls.hash(plain)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def matches(self, plain: str) -> bool:
        return secrets.compare_digest(self.hashed_secret, self.hash(plain))

    def revoke(self) -> None:
        self.revoked_at = timezone.now()


class ApiKey(Credential):
    """Lets the business backend call the server API (``Authorization: Api-Key <key>``)."""

    name = models.CharField(max_length=100, unique=True, help_text="Who uses this key, e.g. 'shop backend'.")

    class Meta:
        verbose_name = "API key"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class CustomerToken(Credential):
    """Lets one customer's app call the mobile API (``Authorization: Bearer <token>``)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tokens")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"token {self.prefix}… for {self.customer_id}"
