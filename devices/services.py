"""Writes about customers, their credentials, devices and preferences."""

import datetime as dt
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from devices.models import ApiKey, Customer, CustomerToken, Device, Platform, push_device_model
from optimus_site.bulk import ensure_external_ids
from optimus_site.dbutils import retrying_lock_conflicts

UNSET = object()  # "not given" for partial updates, where None is a real value


def customers_ensure(*, external_ids: Iterable[str], cache: dict[str, int]) -> int:
    """Fills `cache` with {external_id: pk} for every id, creating the unknown ones; returns how
    many were created. New customers are created with default settings."""
    return ensure_external_ids(Customer, external_ids, cache)


def customer_upsert(
    *, external_id: str, timezone_name: str | None = None, locale: str | None = None, attributes: dict | None = None
) -> tuple[Customer, bool]:
    """Creates or updates a customer from the business backend. Fields left None are kept."""
    changes = {
        name: value
        for name, value in (("timezone", timezone_name), ("locale", locale), ("attributes", attributes))
        if value is not None
    }
    for _ in range(2):
        try:
            with transaction.atomic():
                customer, created = Customer.objects.select_for_update().get_or_create(
                    external_id=external_id, defaults=changes
                )
                if not created and any(getattr(customer, k) != v for k, v in changes.items()):
                    for name, value in changes.items():
                        setattr(customer, name, value)
                    customer.save(update_fields=[*changes, "updated_at"])
                return customer, created
        except IntegrityError:
            continue  # created concurrently by another request: the second pass updates it
    raise RuntimeError(f"could not upsert customer {external_id!r}")


ERASE_ATTEMPTS = 3

ERASED_REPR = "(erased customer)"


def admin_log_scrub(*, customer_pk: int) -> int:
    """Blanks what the admin's history says about a customer, their devices and tokens: its
    object_repr and change_message hold the external id and changed values. The entries stay (an
    operator still sees that someone acted, and when) but no longer name or describe the person."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    devices = list(Device.objects.filter(customer_id=customer_pk).values_list("pk", "platform", "push_device_id"))
    about = [(Customer, [customer_pk]), (Device, [pk for pk, _, _ in devices])]
    about.append(
        (CustomerToken, list(CustomerToken.objects.filter(customer_id=customer_pk).values_list("pk", flat=True)))
    )
    for platform in {platform for _, platform, _ in devices}:
        about.append((push_device_model(platform), [push for _, p, push in devices if p == platform]))
    scrubbed = 0
    for model, pks in about:
        if pks:
            scrubbed += LogEntry.objects.filter(
                content_type=ContentType.objects.get_for_model(model), object_id__in=[str(pk) for pk in pks]
            ).update(object_repr=ERASED_REPR, change_message="")
    return scrubbed


def customer_erase(*, external_id: str) -> bool:
    """Erases a customer and everything about them (devices, tokens, events, profile,
    notifications, deliveries, feedback) through cascading foreign keys. Idempotent.

    The customer's row is locked first: a write that refers to them (an event, a device, a token)
    needs a shared lock on that row, so none can slip in between the cascade's deletes and the
    customer's own — the erasure wins, and the racing write then fails as "customer gone" (the API
    answers 401/404). A deadlock with such a write is retried."""

    def erase() -> bool:
        with transaction.atomic():
            pks = list(
                Customer.objects.select_for_update().filter(external_id=external_id).values_list("pk", flat=True)
            )
            if not pks:
                return False
            for pk in pks:
                admin_log_scrub(customer_pk=pk)
            Customer.objects.filter(pk__in=pks).delete()
            return True

    return retrying_lock_conflicts(erase, attempts=ERASE_ATTEMPTS)


@transaction.atomic
def customer_token_mint(*, customer: Customer) -> tuple[CustomerToken, str]:
    """A new token for the customer's app. Returns the token and its plain value (shown once)."""
    plain, prefix, hashed = CustomerToken.generate()
    token = CustomerToken.objects.create(customer=customer, prefix=prefix, hashed_secret=hashed)
    return token, plain


def customer_tokens_revoke(*, customer: Customer) -> int:
    return CustomerToken.objects.filter(customer=customer).revoke()


@transaction.atomic
def api_key_create(*, name: str) -> tuple[ApiKey, str]:
    """Creates a server API key. Returns the key and its plain value, which is never stored."""
    plain, prefix, hashed = ApiKey.generate()
    key = ApiKey.objects.create(name=name, prefix=prefix, hashed_secret=hashed)
    return key, plain


def device_register(
    *,
    customer: Customer,
    platform: str,
    token: str,
    app_version: str = "",
    timezone_name: str = "",
    webpush_keys: dict | None = None,
    browser: str | None = None,
) -> tuple[Device, bool]:
    """Registers a push token for the customer. Idempotent per (platform, token): a repeat, a
    reinstall or a new owner of the phone updates the existing device instead of adding one.

    Returns (device, created). A reported time zone becomes the customer's time zone: the phone
    knows best where the person is now.
    """
    PushDevice = push_device_model(platform)
    extra: dict = {}
    if platform == Platform.WEBPUSH:
        extra = {"p256dh": webpush_keys["p256dh"], "auth": webpush_keys["auth"], "browser": browser or "CHROME"}
    elif platform == Platform.FCM:
        extra = {"cloud_message_type": "FCM"}

    with transaction.atomic():
        # Locking the customer serialises one app's retries; the token match below handles a
        # phone that moves between customers. Tokens cannot be unique on MySQL (TEXT column).
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
        existing = list(PushDevice.objects.select_for_update().filter(registration_id=token).order_by("-pk"))
        if existing:
            push, duplicates = existing[0], existing[1:]
            for stale in duplicates:
                Device.objects.filter(platform=platform, push_device_id=stale.pk).delete()
                stale.delete()
            push.user = customer
            push.active = True
            for name, value in extra.items():
                setattr(push, name, value)
            push.save()
        else:
            push = PushDevice.objects.create(user=customer, registration_id=token, active=True, **extra)
        device, created = Device.objects.update_or_create(
            platform=platform,
            push_device_id=push.pk,
            defaults={"customer": customer, "app_version": app_version, "timezone": timezone_name},
        )
        if timezone_name and customer.timezone != timezone_name:
            customer.timezone = timezone_name
            customer.save(update_fields=["timezone", "updated_at"])
    return device, created


@transaction.atomic
def device_remove(*, device: Device) -> None:
    """Forgets a device: its token row and its handle. Past deliveries keep their history."""
    push_device_model(device.platform).objects.filter(pk=device.push_device_id).delete()
    device.delete()


def preferences_update(
    *,
    customer: Customer,
    opt_out: bool | object = UNSET,
    quiet_hours: tuple[dt.time, dt.time] | None | object = UNSET,
    timezone_name: str | object = UNSET,
    muted_types: list[str] | object = UNSET,
    now: dt.datetime | None = None,
) -> Customer:
    """Applies the preferences the app sent; arguments left UNSET are unchanged."""
    fields: list[str] = []
    if opt_out is not UNSET and opt_out != customer.opt_out:
        customer.opt_out = opt_out
        customer.opted_out_at = (now or timezone.now()) if opt_out else None
        fields += ["opt_out", "opted_out_at"]
    if quiet_hours is not UNSET:
        start, end = quiet_hours if quiet_hours is not None else (None, None)
        customer.quiet_hours_start, customer.quiet_hours_end = start, end
        fields += ["quiet_hours_start", "quiet_hours_end"]
    if timezone_name is not UNSET:
        customer.timezone = timezone_name
        fields.append("timezone")
    if muted_types is not UNSET:
        customer.muted_types = sorted(set(muted_types))
        fields.append("muted_types")
    if fields:
        customer.save(update_fields=[*fields, "updated_at"])
    return customer
