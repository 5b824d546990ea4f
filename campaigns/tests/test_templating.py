"""Notification wording: templates are checked when saved (model, admin forms), filled in safely, and a
wording that cannot be filled in (one saved before the checks, written to the database directly) skips
its customers with a reason — never the planning pass."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from campaigns import planner
from campaigns.models import Campaign, Notification, NotificationType, Reason, SegmentPolicy
from campaigns.templating import PLACEHOLDERS, TemplateError, template_render
from devices.models import Customer
from devices.services import device_register
from recommender.models import Segment
from tests.factories import CustomerProfileFactory, ItemFactory, NotificationTypeFactory

NOW = dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.UTC)

BAD_TEMPLATES = [
    "50% off {",  # a stray brace
    "Deal}",
    "{0}",  # positional
    "{}",
    "{first_item.price}",  # attribute access
    "{first_item.__class__}",
    "{first_item[0]}",  # index access
    "{first_item:d}",  # a format spec
    "{item_count:>10}",
    "{first_item!r}",  # a conversion
    "Hi {first_name}",  # not a placeholder we know: would reach phones with its braces
    "{segment",
]


@pytest.mark.parametrize("template", BAD_TEMPLATES)
def test_a_bad_template_is_a_template_error_not_a_crash_or_braces(template):
    with pytest.raises(TemplateError):
        template_render(template, {"first_item": "Shoes", "first_item_id": "1", "item_count": 2, "segment": "x"})


def test_known_placeholders_are_filled_in_and_double_braces_stay_literal():
    values = {"first_item": "Shoes", "first_item_id": "sku 1", "item_count": 2, "segment": "Champions"}
    assert template_render("{first_item} and {item_count} more, {segment} {{VIP}}", values) == (
        "Shoes and 2 more, Champions {VIP}"
    )
    assert template_render("myapp://item/{first_item_id}", values) == "myapp://item/sku 1"
    # A value that looks like a template is not filled in again.
    assert template_render("{first_item}", {"first_item": "{segment}"}) == "{segment}"


@pytest.mark.django_db
@pytest.mark.parametrize("template", BAD_TEMPLATES)
@pytest.mark.parametrize("field", ["title_template", "body_template", "deep_link_template"])
def test_a_notification_type_with_a_bad_template_does_not_validate(template, field):
    kind = NotificationTypeFactory.build(**{field: template})
    with pytest.raises(ValidationError) as caught:
        kind.full_clean()
    assert field in caught.value.message_dict


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["title_template", "body_template"])
def test_a_campaign_with_a_bad_template_does_not_validate(field):
    campaign = Campaign(
        name="Broken",
        notification_type=NotificationTypeFactory(),
        starts_at=NOW,
        ends_at=NOW + dt.timedelta(days=1),
        **{field: "{first_item:d} off"},
    )
    with pytest.raises(ValidationError) as caught:
        campaign.full_clean()
    assert field in caught.value.message_dict


def test_the_admin_form_refuses_a_bad_template_and_lists_the_placeholders(client, mia):
    client.force_login(mia)
    kind = NotificationTypeFactory(slug="welcome", name="Welcome")
    url = f"/admin/campaigns/notificationtype/{kind.pk}/change/"
    page = client.get(url).text
    assert all("{" + name + "}" in page for name in PLACEHOLDERS)
    form = {
        "name": "Welcome",
        "description": "",
        "is_active": "on",
        "title_template": "Hi {first_name}",
        "body_template": "50% off {",
        "deep_link_template": "",
        "carries_items": "on",
        "max_items": "3",
        "content_value": "1",
        "ttl_hours": "24",
    }
    response = client.post(url, form)
    assert response.status_code == 200  # the form again, with the errors
    errors = response.context["adminform"].form.errors
    assert "title_template" in errors and "body_template" in errors
    kind.refresh_from_db()
    assert kind.title_template == "Picked for you"
    response = client.post(url, {**form, "title_template": "Hi {segment}", "body_template": "{first_item} {{new}}"})
    assert response.status_code == 302
    kind.refresh_from_db()
    assert kind.body_template == "{first_item} {{new}}"


def test_the_admin_shows_a_preview_with_sample_data(client, mia):
    client.force_login(mia)
    kind = NotificationTypeFactory(title_template="{first_item} for {segment}", body_template="{item_count} picks")
    page = client.get(f"/admin/campaigns/notificationtype/{kind.pk}/change/").text
    assert "Trail running shoes for Champions" in page and "3 picks" in page
    campaign = Campaign.objects.create(
        name="Preview", notification_type=kind, starts_at=NOW, ends_at=NOW + dt.timedelta(days=1), body_template="Hey"
    )
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").text
    assert "Trail running shoes for Champions" in page and "Hey" in page


# --- Planning with a bad wording already in the database -------------------------------------------


@pytest.fixture
def two_segments(db, settings):
    settings.PLAN_EXPLORATION = 0.0
    settings.PLAN_CONTROL_SHARE = 0.0
    for i in range(1, 4):
        ItemFactory(external_id=f"sku-{i}", title=f"Product {i}")
    broken_kind = NotificationTypeFactory(slug="broken", name="Broken")
    SegmentPolicy.objects.get(segment__slug="loyal").allowed_types.set([broken_kind])
    customers = {}
    for name, segment in (("on-broken", "loyal"), ("elsewhere", "champions")):
        customers[name] = c = Customer.objects.create(external_id=name, timezone="Europe/Berlin")
        device_register(customer=c, platform="fcm", token=f"tok-{name}")  # reachable: else skipped before wording
        CustomerProfileFactory(
            customer=c,
            segment=Segment.objects.get(slug=segment),
            top_items=[{"item_id": f"sku-{i}", "score": 1.0, "reason": "viewed"} for i in range(1, 4)],
            best_hours=list(range(168)),
            predicted_open_rate=0.2,
            computed_at=NOW,
        )
    return broken_kind, customers


@pytest.mark.parametrize("template", BAD_TEMPLATES)
@pytest.mark.parametrize("field", ["title_template", "body_template", "deep_link_template"])
def test_a_bad_wording_in_the_database_skips_its_customers_not_the_pass(two_segments, field, template):
    broken_kind, customers = two_segments
    NotificationType.objects.filter(pk=broken_kind.pk).update(**{field: template})  # no validation on this path
    report = planner.plan(now=NOW)
    assert report.skipped[Reason.TEMPLATE_ERROR] == 1
    assert not Notification.objects.filter(customer=customers["on-broken"]).exists()
    (other,) = Notification.objects.filter(customer=customers["elsewhere"])
    assert "{" not in other.title + other.body + other.link


def test_a_campaign_with_a_bad_wording_in_the_database_leaves_its_audience_to_the_automation(two_segments):
    _, customers = two_segments
    campaign = Campaign.objects.create(
        name="Broken sale",
        # Not "sale-promotions": it promises a sale, so without an offer it is skipped before rendering.
        notification_type=NotificationType.objects.get(slug="new-product-offerings"),
        starts_at=NOW,
        ends_at=NOW + dt.timedelta(days=2),
        control_share=0,
        status=Campaign.Status.APPROVED,
    )
    Campaign.objects.filter(pk=campaign.pk).update(title_template="{first_item.title}")
    report = planner.plan(now=NOW)
    assert report.skipped[Reason.TEMPLATE_ERROR] >= 1
    assert not Notification.objects.filter(campaign=campaign).exists()
    assert Notification.objects.filter(customer=customers["elsewhere"], campaign=None).exists()
