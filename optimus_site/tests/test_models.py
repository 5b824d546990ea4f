"""Seed data and the database constraints the loop relies on."""

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import IntegrityError, transaction

from campaigns import rules
from campaigns.models import Delivery, NotificationType, SegmentPolicy
from recommender.models import Segment
from tests.factories import CustomerFactory, DeviceFactory, EventFactory, FcmDeviceFactory, NotificationFactory

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_CAPS = {
    "champions": 3,
    "loyal": 3,
    "potentially-loyal": 2,
    "new": 2,
    "promising": 2,
    "needs-attention": 1,
    "about-to-sleep": 1,
    "at-risk": 1,
    "cant-lose": 1,
    "hibernating": 1,
    "lost": 1,
}


@pytest.mark.django_db
def test_eleven_segments_each_with_a_policy_and_the_intended_cap():
    assert Segment.objects.count() == 11
    caps = dict(SegmentPolicy.objects.values_list("segment__slug", "weekly_cap"))
    assert caps == EXPECTED_CAPS


@pytest.mark.django_db
def test_every_rfm_cell_falls_in_exactly_one_segment_by_priority():
    segments = list(Segment.objects.order_by("priority"))
    assigned = {}
    for r, f, m in itertools.product(range(1, 6), repeat=3):
        first = next((s for s in segments if s.matches(r, f, m)), None)
        assert first is not None, f"no segment for R{r} F{f} M{m}"
        assigned[(r, f, m)] = first.slug
    # Recency is scored 5 = most recent: the best customers are recent, the lost ones are not.
    assert assigned[(5, 5, 5)] == "champions"
    assert assigned[(1, 1, 1)] == "lost"
    assert assigned[(5, 1, 1)] == "new"
    assert assigned[(1, 5, 5)] == "cant-lose"
    # Hibernating and Lost were the same set in the original; here they are disjoint.
    hibernating = {cell for cell, slug in assigned.items() if slug == "hibernating"}
    lost = {cell for cell, slug in assigned.items() if slug == "lost"}
    assert hibernating and lost and not hibernating & lost
    # "At Risk" covered half the population in the original.
    assert sum(slug == "at-risk" for slug in assigned.values()) < 125 / 4


@pytest.mark.django_db
def test_notification_types_merge_the_duplicate_and_drop_the_email_wording():
    assert NotificationType.objects.filter(name__icontains="educational").count() == 1
    assert NotificationType.objects.count() == 31
    assert not NotificationType.objects.filter(name__icontains="email").exists()


@pytest.mark.django_db
def test_policies_keep_the_original_table_and_restore_the_intent():
    allowed = {p.segment.slug: set(p.allowed_types.values_list("slug", flat=True)) for p in SegmentPolicy.objects.all()}
    assert "product-recommendation" in allowed["new"]  # "New: product recommendations"
    assert {"we-miss-you", "last-chance"} <= allowed["lost"]  # win-back
    assert "welcome-series" in allowed["new"] and "cart-recovery" in allowed["new"]  # from the table
    assert all(allowed.values())


@pytest.mark.django_db
def test_marketers_group_manages_campaigns_but_not_keys_devices_or_events():
    from django.contrib.auth.models import Group

    perms = set(Group.objects.get(name="Marketers").permissions.values_list("codename", flat=True))
    assert {"add_campaign", "change_segmentpolicy", "change_notificationtype", "change_segment"} <= perms
    assert "view_customer" in perms
    forbidden = {p for p in perms if p.endswith(("apikey", "customertoken", "gcmdevice", "apnsdevice", "_event"))}
    assert forbidden == set()


@pytest.mark.django_db
def test_event_id_is_unique():
    event = EventFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        EventFactory(event_id=event.event_id, customer=event.customer)


@pytest.mark.django_db
def test_notification_idempotency_key_is_unique():
    first = NotificationFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        NotificationFactory(customer=first.customer, idempotency_key=first.idempotency_key)


@pytest.mark.django_db
def test_one_delivery_per_notification_and_device():

    notification = NotificationFactory()
    phone = DeviceFactory(customer=notification.customer, platform="fcm", push_device_id=1)
    tablet = DeviceFactory(customer=notification.customer, platform="apns", push_device_id=1)
    Delivery.objects.create(notification=notification, device=phone, platform="fcm")
    Delivery.objects.create(notification=notification, device=tablet, platform="apns")
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(notification=notification, device=phone, platform="fcm")


@pytest.mark.django_db
def test_devices_belong_to_customers_and_go_with_them():
    from push_notifications.models import GCMDevice

    from devices.models import Device

    customer = CustomerFactory()
    push = FcmDeviceFactory(user=customer, registration_id="tok", cloud_message_type="FCM")
    DeviceFactory(customer=customer, platform="fcm", push_device_id=push.pk)
    customer.delete()
    assert GCMDevice.objects.count() == 0
    assert Device.objects.count() == 0


@pytest.mark.django_db
def test_quiet_hours_wrap_midnight_in_the_customers_zone():
    import datetime as dt

    customer = CustomerFactory(timezone="America/New_York", quiet_hours_start=dt.time(22), quiet_hours_end=dt.time(7))
    assert rules.is_quiet_at(customer, dt.datetime(2026, 1, 15, 4, 0, tzinfo=dt.UTC))  # 23:00 in New York
    assert rules.is_quiet_at(customer, dt.datetime(2026, 1, 15, 11, 59, tzinfo=dt.UTC))  # 06:59
    assert not rules.is_quiet_at(customer, dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC))  # 07:00, end exclusive
    # After the March change New York is UTC-4: 11:00 UTC is 07:00 local, no longer quiet.
    assert not rules.is_quiet_at(customer, dt.datetime(2026, 3, 9, 11, 0, tzinfo=dt.UTC))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OPTIMUS_ENV": "production", "DEBUG": "false"}, "SECRET_KEY"),
        ({"OPTIMUS_ENV": "production", "SECRET_KEY": "x7Gq-" * 10, "DEBUG": "true"}, "DEBUG"),
        ({"PUSH_BACKEND": "pigeon"}, "PUSH_BACKEND"),
        ({"DEBUG": "maybe"}, "not a boolean"),
    ],
)
def test_bad_settings_refuse_to_start(env, message):
    import os

    environment = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "OPTIMUS_ENV")}
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=dict(environment, DJANGO_SETTINGS_MODULE="optimus_site.settings"),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_production_settings_start_with_a_real_key_and_debug_off():
    import os

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        ],
        cwd=ROOT,
        env=dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="optimus_site.settings",
            OPTIMUS_ENV="production",
            SECRET_KEY="k3J9-vQ2_" * 6,
            ALLOWED_HOSTS="optimus.example.com",
            DEBUG="false",
        ),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
