"""The admin, as alice (superuser), mia (marketer) and charlie (staff with no rights) see it.

Page tests are parametrized over ``admin.site._registry``, so a newly registered model is covered
without touching this file (and fails until the `world` fixture holds a row of it).
"""

import csv
import datetime as dt
import io

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from push_notifications.models import APNSDevice, GCMDevice, WebPushDevice, WNSDevice

from campaigns import services
from campaigns.models import Campaign, Delivery, Feedback, Notification, NotificationType, SendingSwitch
from devices.models import ApiKey, Customer, CustomerToken, Device, Platform
from optimus_site.admin_tools import export_as_csv
from recommender.models import CustomerProfile, ModelErasure, ModelVersion, Segment
from tests.factories import (
    ApiKeyFactory,
    CustomerFactory,
    CustomerProfileFactory,
    CustomerTokenFactory,
    DeviceFactory,
    EventFactory,
    FcmDeviceFactory,
    ItemFactory,
    ModelVersionFactory,
    NotificationFactory,
)

REGISTRY = sorted(admin.site._registry.items(), key=lambda pair: pair[0]._meta.label_lower)
MODELS = [model for model, _ in REGISTRY]
IDS = [model._meta.label_lower for model in MODELS]

# What the Marketers group may do (campaigns/migrations/0003_marketers_group.py); every other
# registered model, including any added later, is expected to be closed to them.
MARKETER_MANAGES = {
    "recommender.segment",
    "campaigns.segmentpolicy",
    "campaigns.notificationtype",
    "campaigns.campaign",
}
MARKETER_VIEWS = MARKETER_MANAGES | {
    "devices.customer",
    "recommender.customerprofile",
    "recommender.item",
    "recommender.category",
    "recommender.modelversion",
    "campaigns.notification",
    "campaigns.delivery",
    "campaigns.feedback",
    # They steer sending (0009_marketers_steer_sending): the kill switch, and the device list for a
    # test push (it shows no tokens).
    "campaigns.sendingswitch",
    "devices.device",
}
# Rows that only the system creates: no add page, even for a superuser.
NO_ADD = {
    "devices.customer",
    "devices.device",
    "devices.customertoken",
    "recommender.event",
    "recommender.customerprofile",
    "recommender.modelversion",
    "recommender.modelerasure",
    "campaigns.notification",
    "campaigns.delivery",
    "campaigns.feedback",
    "campaigns.sendingswitch",
}
CSV_EXPORTS = {
    "devices.customer",
    "recommender.customerprofile",
    "recommender.item",
    "recommender.segment",
    "campaigns.notification",
    "campaigns.feedback",
    "campaigns.campaign",
}


def url(model, view: str = "changelist", *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def run_action(client, model, action: str, objects, query: str = "", follow: bool = True):
    return client.post(
        url(model) + query,
        {"action": action, "_selected_action": [obj.pk for obj in objects]},
        follow=follow,
    )


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def notification_type() -> NotificationType:
    return NotificationType.objects.get(slug="product-recommendation")


def make_campaign(name: str = "Spring sale", status: str = Campaign.Status.DRAFT, **fields) -> Campaign:
    now = timezone.now()
    defaults = {"starts_at": now - dt.timedelta(days=1), "ends_at": now + dt.timedelta(days=6)}
    return Campaign.objects.create(
        name=name, notification_type=notification_type(), status=status, **{**defaults, **fields}
    )


def add_activity(campaign: Campaign) -> Customer:
    """One more customer with everything the big lists show about them."""
    customer = CustomerFactory()
    segments = list(Segment.objects.order_by("priority")[:2])
    CustomerProfileFactory(
        customer=customer,
        segment=segments[0],
        previous_segment=segments[1],
        recency_score=5,
        frequency_score=4,
        monetary_score=3,
        best_hours=[43, 19],
        top_items=[{"item_id": "item-1", "score": 0.9, "reason": "bought together"}],
        predicted_open_rate=0.12,
        computed_at=timezone.now(),
    )
    EventFactory(customer=customer)
    push = FcmDeviceFactory(user=customer, registration_id=f"fcm-{customer.external_id}")
    device = DeviceFactory(customer=customer, platform=Platform.FCM, push_device_id=push.pk)
    _, prefix, hashed = CustomerToken.generate()
    CustomerTokenFactory(customer=customer, prefix=prefix, hashed_secret=hashed)
    notification = NotificationFactory(
        customer=customer,
        campaign=campaign,
        predicted_open=0.2,
        explanation={"segment": segments[0].name, "reasons": ["bought shoes last week"]},
    )
    Delivery.objects.create(
        notification=notification, platform=Platform.FCM, device=device, status=Delivery.Status.SENT
    )
    Feedback.objects.create(notification=notification, action=Feedback.Action.OPENED, occurred_at=timezone.now())
    return customer


@pytest.fixture
def world(customer):
    """At least one row of every registered model."""
    SendingSwitch.current()
    campaign = make_campaign()
    campaign.segments.set(Segment.objects.order_by("priority")[:2])
    add_activity(campaign)
    CustomerProfileFactory(
        customer=customer, recency_score=1, frequency_score=1, monetary_score=1, computed_at=timezone.now()
    )
    ItemFactory(title="Blue running shoes")
    ModelVersionFactory(
        status=ModelVersion.Status.SUCCEEDED,
        started_at=timezone.now(),
        data_until=timezone.now(),
        metrics={"lightfm": {"ndcg@10": 0.21}},
    )
    APNSDevice.objects.create(user=customer, registration_id="apns-token")
    WebPushDevice.objects.create(user=customer, registration_id="https://push.example/1", p256dh="k", auth="a")
    WNSDevice.objects.create(user=customer, registration_id="https://wns.example/1")
    _, prefix, hashed = ApiKey.generate()
    ApiKeyFactory(name="shop backend", prefix=prefix, hashed_secret=hashed)
    interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.create(name="dispatch", task="campaigns.tasks.dispatch", interval=interval)
    CrontabSchedule.objects.create(minute="0", hour="3")
    SolarSchedule.objects.create(event="sunrise", latitude=51.5, longitude=0.1)
    ClockedSchedule.objects.create(clocked_time=timezone.now())
    ModelErasure.objects.create(customer_pk=999_999)
    return campaign


# --- Every page, every persona --------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_superuser_sees_every_list_with_rows_and_a_search(client, alice, world, model):
    client.force_login(alice)
    assert model.objects.exists(), f"add a {model._meta.label} row to the `world` fixture"
    response = client.get(url(model))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1
    if admin.site._registry[model].search_fields:
        assert client.get(url(model), {"q": "c-100"}).status_code == 200


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_superuser_add_page_only_where_people_create_rows(client, alice, model):
    client.force_login(alice)
    expected = 403 if model._meta.label_lower in NO_ADD else 200
    assert client.get(url(model, "add")).status_code == expected


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_superuser_sees_every_detail_page(client, alice, world, model):
    client.force_login(alice)
    obj = model.objects.first()
    assert client.get(url(model, "change", obj.pk)).status_code == 200


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_marketer_sees_what_the_marketers_group_allows(client, mia, world, model):
    client.force_login(mia)
    label = model._meta.label_lower
    assert client.get(url(model)).status_code == (200 if label in MARKETER_VIEWS else 403)
    expected_add = 200 if label in MARKETER_MANAGES and label not in NO_ADD else 403
    assert client.get(url(model, "add")).status_code == expected_add
    obj = model.objects.first()
    assert client.get(url(model, "change", obj.pk)).status_code == (200 if label in MARKETER_VIEWS else 403)


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_staff_without_rights_sees_nothing(client, charlie, model):
    client.force_login(charlie)
    assert client.get(url(model)).status_code == 403


def test_admin_index_is_branded_and_hides_credentials_from_marketers(client, alice, mia):
    client.force_login(alice)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert "Optimus" in response.text
    assert "API keys" in response.text

    client.force_login(mia)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert "Campaigns" in response.text
    assert "API keys" not in response.text
    assert "Events" not in response.text


def test_marketer_reads_a_customer_but_cannot_change_it(client, mia, customer):
    client.force_login(mia)
    page = client.get(url(Customer, "change", customer.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    response = client.post(url(Customer, "change", customer.pk), {"opt_out": "on"})
    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.opt_out is False


# --- Big lists stay fast --------------------------------------------------------------------

BIG_LISTS = [
    Customer,
    CustomerProfile,
    CustomerToken,
    Device,
    GCMDevice,
    Notification,
    Delivery,
    Feedback,
    Campaign,
    Segment,
    ModelVersion,
]


@pytest.mark.parametrize("model", BIG_LISTS, ids=[m._meta.label_lower for m in BIG_LISTS])
def test_list_queries_do_not_grow_with_rows(client, alice, world, model):
    client.force_login(alice)
    client.get(url(model))  # warm the session and content-type caches

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url(model)).status_code == 200
        return len(ctx.captured_queries)

    before = queries()
    for n in range(4):
        add_activity(make_campaign(f"Campaign {n}"))
    assert queries() == before


@pytest.mark.parametrize(
    "model", [Customer, Notification, Feedback, Delivery], ids=["customer", "notification", "feedback", "delivery"]
)
def test_big_tables_skip_the_full_count_and_cannot_be_edited(alice, rf, model):
    model_admin = admin.site._registry[model]
    request = rf.get("/")
    request.user = alice
    assert model_admin.show_full_result_count is False
    assert model_admin.has_add_permission(request) is False
    if model is not Customer:
        assert model_admin.has_change_permission(request) is False


def test_customer_search_finds_by_external_id(client, mia, world, customer):
    client.force_login(mia)
    response = client.get(url(Customer), {"q": "c-10"})
    assert [c.external_id for c in response.context["cl"].result_list] == ["c-100"]


def test_notification_search_and_filters(client, mia, world, customer):
    client.force_login(mia)
    NotificationFactory(customer=customer, status=Notification.Status.SENT)
    response = client.get(url(Notification), {"q": "c-100", "status__exact": "sent"})
    assert [n.customer_id for n in response.context["cl"].result_list] == [customer.pk]
    response = client.get(url(Notification), {"campaign__id__exact": world.pk, "scheduled": "next24"})
    assert response.status_code == 200
    assert all(n.campaign_id == world.pk for n in response.context["cl"].result_list)


# --- Details --------------------------------------------------------------------------------


def test_customer_page_shows_profile_devices_and_recent_notifications(client, mia, world):
    customer = Customer.objects.exclude(external_id="c-100").get()
    client.force_login(mia)
    page = client.get(url(Customer, "change", customer.pk)).text
    assert "543" in page  # RFM scores
    assert "Tue 19:00, Mon 19:00" in page  # best hours, read as times
    assert "FCM device: 1 active of 1" in page
    assert "Picked for you" in page  # the notification's title
    assert f"customer__id__exact={customer.pk}" in page


def test_superuser_sets_opt_out_and_the_time_is_recorded(client, alice, customer):
    client.force_login(alice)
    response = client.post(
        url(Customer, "change", customer.pk),
        {
            "opt_out": "on",
            "quiet_hours_start": "22:00",
            "quiet_hours_end": "07:00",
            "muted_types": '["win-back"]',
            "profile-TOTAL_FORMS": "0",
            "profile-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert customer.opt_out is True
    assert customer.opted_out_at is not None
    assert customer.muted_types == ["win-back"]
    assert customer.quiet_hours_start == dt.time(22)


def test_quiet_hours_need_both_ends(client, alice, customer):
    client.force_login(alice)
    response = client.post(
        url(Customer, "change", customer.pk),
        {"quiet_hours_start": "22:00", "muted_types": "[]", "profile-TOTAL_FORMS": "0", "profile-INITIAL_FORMS": "0"},
    )
    assert response.status_code == 200
    assert "Quiet hours need both a start and an end" in response.text


def test_notification_page_pretty_prints_the_explanation(client, mia, world):
    notification = Notification.objects.get(campaign=world)
    client.force_login(mia)
    page = client.get(url(Notification, "change", notification.pk)).text
    assert "&quot;reasons&quot;: [\n    &quot;bought shoes last week&quot;" in page
    assert "<pre" in page
    assert "Accepted by provider" in page  # the delivery inline
    assert "Opened" in page  # the feedback inline


def test_segment_list_counts_customers_and_shows_rule_and_cap(client, mia, world):
    client.force_login(mia)
    response = client.get(url(Segment))
    first = Segment.objects.order_by("priority").first()
    row = next(s for s in response.context["cl"].result_list if s.pk == first.pk)
    assert row.customer_count == 1
    assert first.rule in response.text
    assert f"segment__id__exact={first.pk}" in response.text


def test_marketer_edits_a_segment_policy_from_the_segment_page(client, mia):
    segment = Segment.objects.order_by("priority").first()
    policy = segment.policy
    types = list(NotificationType.objects.all()[:2])
    client.force_login(mia)
    data = {
        "name": segment.name,
        "slug": segment.slug,
        "description": segment.description,
        "priority": segment.priority,
        "recency_min": segment.recency_min,
        "recency_max": segment.recency_max,
        "frequency_min": segment.frequency_min,
        "frequency_max": segment.frequency_max,
        "monetary_min": segment.monetary_min,
        "monetary_max": segment.monetary_max,
        "policy-TOTAL_FORMS": "1",
        "policy-INITIAL_FORMS": "1",
        "policy-MIN_NUM_FORMS": "0",
        "policy-MAX_NUM_FORMS": "1",
        "policy-0-id": policy.pk,
        "policy-0-segment": segment.pk,
        "policy-0-weekly_cap": "2",
        "policy-0-weekly_ceiling": "7",  # the marketer's hard ceiling, a required field since issue 18
        "policy-0-allowed_types": [t.pk for t in types],
        "policy-0-strategy": "Keep them close",
        "policy-0-is_active": "on",
    }
    response = client.post(url(Segment, "change", segment.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    policy.refresh_from_db()
    assert policy.weekly_cap == 2
    assert set(policy.allowed_types.all()) == set(types)


def test_marketer_creates_a_campaign_which_starts_as_draft(client, mia):
    client.force_login(mia)
    now = timezone.now()
    response = client.post(
        url(Campaign, "add"),
        {
            "name": "Winter boots",
            "notification_type": notification_type().pk,
            "segments": [Segment.objects.order_by("priority").first().pk],
            "personalised_items": "on",
            "starts_at_0": f"{now:%Y-%m-%d}",
            "starts_at_1": "10:00:00",
            "ends_at_0": f"{now + dt.timedelta(days=7):%Y-%m-%d}",
            "ends_at_1": "10:00:00",
            "timing": Campaign.Timing.BEST_TIME,
            "max_per_customer": "1",
            "control_share": "0.1",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get(name="Winter boots")
    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.created_by == mia


def test_notification_type_slug_is_fixed_once_created(client, mia):
    client.force_login(mia)
    page = client.get(url(NotificationType, "change", notification_type().pk)).text
    assert 'name="slug"' not in page
    assert 'name="slug"' in client.get(url(NotificationType, "add")).text


# --- Default filters ------------------------------------------------------------------------


def test_campaign_list_defaults_to_current_campaigns(client, mia, world):
    make_campaign("Old", status=Campaign.Status.FINISHED)
    client.force_login(mia)
    names = {c.name for c in client.get(url(Campaign)).context["cl"].result_list}
    assert names == {"Spring sale"}
    names = {c.name for c in client.get(url(Campaign), {"show": "all"}).context["cl"].result_list}
    assert names == {"Spring sale", "Old"}
    names = {c.name for c in client.get(url(Campaign), {"show": "ended"}).context["cl"].result_list}
    assert names == {"Old"}
    names = {c.name for c in client.get(url(Campaign), {"show": "finished"}).context["cl"].result_list}
    assert names == {"Old"}


def test_api_key_list_defaults_to_active_keys(client, alice):
    for name, revoked in (("live", None), ("old", timezone.now())):
        _, prefix, hashed = ApiKey.generate()
        ApiKeyFactory(name=name, prefix=prefix, hashed_secret=hashed, revoked_at=revoked)
    client.force_login(alice)
    assert [k.name for k in client.get(url(ApiKey)).context["cl"].result_list] == ["live"]
    assert [k.name for k in client.get(url(ApiKey), {"status": "all"}).context["cl"].result_list] == ["live", "old"]
    assert [k.name for k in client.get(url(ApiKey), {"status": "revoked"}).context["cl"].result_list] == ["old"]


# --- CSV export -----------------------------------------------------------------------------


@pytest.mark.parametrize("label", sorted(CSV_EXPORTS))
def test_marketer_exports_lists_as_csv(client, mia, world, label):
    model = next(m for m in MODELS if m._meta.label_lower == label)
    assert export_as_csv in admin.site._registry[model].actions
    client.force_login(mia)
    objects = list(model.objects.all())
    rows = csv_rows(run_action(client, model, "export_as_csv", objects, follow=False))
    header = list(admin.site._registry[model].csv_columns.values())
    assert rows[0] == header
    assert len(rows) == 1 + len(objects)


def test_customer_export_has_the_selected_customers_with_their_segment(client, mia, world, customer):
    other = Customer.objects.exclude(pk=customer.pk).get()
    client.force_login(mia)
    rows = csv_rows(run_action(client, Customer, "export_as_csv", [other], follow=False))
    assert rows[0][:2] == ["customer_id", "timezone"]
    assert len(rows) == 2
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["customer_id"] == other.external_id
    assert record["segment"] == other.profile.segment.name
    assert record["opt_out"] == "False"


def test_export_defuses_spreadsheet_formulas(client, mia):
    client.force_login(mia)
    CustomerFactory(external_id="=HYPERLINK(1)")
    rows = csv_rows(run_action(client, Customer, "export_as_csv", Customer.objects.all(), follow=False))
    assert rows[1][0] == "'=HYPERLINK(1)"


def test_export_of_everything_follows_the_list_filters(client, mia, world):
    make_campaign("Old", status=Campaign.Status.CANCELLED)
    client.force_login(mia)
    response = client.post(
        url(Campaign), {"action": "export_as_csv", "select_across": "1", "_selected_action": [world.pk]}
    )
    assert [row[1] for row in csv_rows(response)[1:]] == ["Spring sale"]


# --- Credentials ----------------------------------------------------------------------------


def test_new_api_key_is_shown_once_and_stored_hashed(client, alice):
    client.force_login(alice)
    response = client.post(url(ApiKey, "add"), {"name": "shop backend"}, follow=True)
    assert response.status_code == 200
    shown = [m for m in messages_of(response) if "copy it now" in m]
    assert len(shown) == 1
    plain = next(word for word in shown[0].split() if "." in word and len(word) > 30)
    key = ApiKey.objects.get(name="shop backend")
    assert key.hashed_secret == ApiKey.hash(plain)
    assert plain.startswith(key.prefix + ".")
    assert plain not in (key.name, key.prefix, key.hashed_secret)
    assert plain not in client.get(url(ApiKey, "change", key.pk)).text
    assert plain not in client.get(url(ApiKey)).text


def test_revoking_keys_reports_how_many_changed(client, alice):
    keys = []
    for name, revoked in (("a", None), ("b", None), ("c", timezone.now())):
        _, prefix, hashed = ApiKey.generate()
        keys.append(ApiKeyFactory(name=name, prefix=prefix, hashed_secret=hashed, revoked_at=revoked))
    client.force_login(alice)
    response = run_action(client, ApiKey, "revoke", keys, query="?status=all")
    assert "2 keys revoked" in messages_of(response)
    assert ApiKey.objects.active().count() == 0


def test_customer_tokens_are_read_only_but_revocable(client, alice, mia, customer):
    _, prefix, hashed = CustomerToken.generate()
    token = CustomerTokenFactory(customer=customer, prefix=prefix, hashed_secret=hashed)
    client.force_login(alice)
    page = client.get(url(CustomerToken, "change", token.pk)).text
    assert 'name="_save"' not in page
    response = run_action(client, CustomerToken, "revoke", [token])
    assert "1 token revoked" in messages_of(response)
    token.refresh_from_db()
    assert token.revoked_at is not None

    client.force_login(mia)
    assert run_action(client, CustomerToken, "revoke", [token], follow=False).status_code == 403


def test_deactivating_devices(client, alice, customer):
    devices = [FcmDeviceFactory(user=customer, registration_id=f"t{i}") for i in range(3)]
    GCMDevice.objects.filter(pk=devices[0].pk).update(active=False)
    client.force_login(alice)
    response = run_action(client, GCMDevice, "deactivate", devices)
    assert "2 devices deactivated" in messages_of(response)
    assert not GCMDevice.objects.filter(active=True).exists()
    response = client.get(url(GCMDevice), {"q": "c-100", "status": "inactive"})
    assert len(response.context["cl"].result_list) == 3


def test_deleting_a_device_removes_its_push_registration_too(client, alice, world):
    device = Device.objects.get()
    client.force_login(alice)
    response = client.post(url(Device, "delete", device.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Device.objects.exists()
    assert not GCMDevice.objects.filter(pk=device.push_device_id).exists()
    assert Delivery.objects.get().device is None  # the delivery history stays


def test_push_registrations_are_deactivated_not_deleted(client, alice, world):
    push = GCMDevice.objects.get()
    client.force_login(alice)
    assert client.get(url(GCMDevice, "delete", push.pk)).status_code == 403
    assert client.get(url(Device, "change", Device.objects.get().pk)).status_code == 200


# --- Campaign status ------------------------------------------------------------------------

S = Campaign.Status
TRANSITIONS = [
    (services.campaign_approve, S.DRAFT, S.APPROVED),
    (services.campaign_approve, S.PAUSED, S.APPROVED),
    (services.campaign_approve, S.APPROVED, None),
    (services.campaign_approve, S.CANCELLED, None),
    (services.campaign_approve, S.FINISHED, None),
    (services.campaign_pause, S.APPROVED, S.PAUSED),
    (services.campaign_pause, S.DRAFT, None),
    (services.campaign_pause, S.PAUSED, None),
    (services.campaign_pause, S.FINISHED, None),
    (services.campaign_cancel, S.DRAFT, S.CANCELLED),
    (services.campaign_cancel, S.APPROVED, S.CANCELLED),
    (services.campaign_cancel, S.PAUSED, S.CANCELLED),
    (services.campaign_cancel, S.CANCELLED, None),
    (services.campaign_cancel, S.FINISHED, None),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("service", "start", "end"), TRANSITIONS, ids=lambda v: getattr(v, "__name__", v))
def test_campaign_transitions(alice, service, start, end):
    campaign = make_campaign(status=start)
    changed = service(campaign=campaign, by=alice)
    assert changed is (end is not None)
    campaign.refresh_from_db()
    assert campaign.status == (end or start)
    if service is services.campaign_approve and changed:
        assert campaign.approved_at is not None


@pytest.mark.django_db
def test_a_stale_copy_cannot_undo_a_cancellation(alice):
    campaign = make_campaign(status=S.APPROVED)
    stale = Campaign.objects.get(pk=campaign.pk)
    assert services.campaign_cancel(campaign=campaign, by=alice)
    assert services.campaign_pause(campaign=stale, by=alice) is False
    stale.refresh_from_db()
    assert stale.status == S.CANCELLED


def test_cancelling_a_campaign_cancels_what_it_planned_but_not_what_was_sent(alice, customer):
    campaign = make_campaign(status=S.APPROVED)
    planned = NotificationFactory(customer=customer, campaign=campaign)
    sent = NotificationFactory(
        customer=customer, campaign=campaign, status=Notification.Status.SENT, scheduled_for=timezone.now()
    )
    assert services.campaign_cancel(campaign=campaign, by=alice)
    planned.refresh_from_db()
    sent.refresh_from_db()
    assert planned.status == Notification.Status.CANCELLED
    assert planned.status_reason == "Campaign cancelled"
    assert sent.status == Notification.Status.SENT


def test_campaign_actions_report_what_they_changed(client, mia):
    draft, approved, finished = (make_campaign(name=s, status=s) for s in (S.DRAFT, S.APPROVED, S.FINISHED))
    client.force_login(mia)

    response = run_action(client, Campaign, "approve", [draft, approved, finished], query="?show=all")
    assert messages_of(response) == ["1 campaign approved; 2 left unchanged (their status does not allow it)"]
    response = run_action(client, Campaign, "pause", [draft, approved], query="?show=all")
    assert messages_of(response) == ["2 campaigns paused"]
    response = run_action(client, Campaign, "cancel", [draft, approved, finished], query="?show=all")
    assert messages_of(response) == ["2 campaigns cancelled; 1 left unchanged (their status does not allow it)"]

    statuses = dict(Campaign.objects.values_list("name", "status"))
    assert statuses == {S.DRAFT: S.CANCELLED, S.APPROVED: S.CANCELLED, S.FINISHED: S.FINISHED}


def test_campaign_page_shows_results(client, mia, world):
    client.force_login(mia)
    page = client.get(url(Campaign, "change", world.pk)).text
    assert "Planned: 1" in page
    assert "Opened: 1" in page
    assert f"campaign__id__exact={world.pk}" in page
