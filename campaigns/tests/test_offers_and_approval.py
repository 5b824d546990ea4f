"""A push never promises what the shop does not give (issue 17, item 15), and a campaign can be
required to be approved by someone other than its author (item 12)."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError

from campaigns import planner, services
from campaigns.models import Campaign, Notification, NotificationType, Reason, SegmentPolicy
from devices.models import Customer
from devices.services import device_register
from recommender.models import Segment
from tests.factories import CustomerProfileFactory, ItemFactory, NotificationTypeFactory

NOW = dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.UTC)
SEEDED_PROMISES = {
    "first-order-coupon", "exclusive-coupons", "time-sensitive-coupons", "big-discounts", "last-chance",
    "sale-promotions", "holiday-promotions", "referral", "membership",
}  # fmt: skip


@pytest.mark.django_db
def test_the_seeded_types_that_promise_a_coupon_a_discount_or_a_gift_need_an_offer():
    promising = set(NotificationType.objects.filter(requires_offer=True).values_list("slug", flat=True))
    assert promising == SEEDED_PROMISES
    assert not NotificationType.objects.exclude(offer="").exists()
    assert not any(t.may_be_sent for t in NotificationType.objects.filter(slug__in=SEEDED_PROMISES))


@pytest.fixture
def coupon_only_segment(db, settings):
    """The loyal segment may only get a coupon type; its customer has items and every hour open."""
    settings.PLAN_EXPLORATION = 0.0
    settings.PLAN_CONTROL_SHARE = 0.0
    for i in range(1, 4):
        ItemFactory(external_id=f"sku-{i}", title=f"Product {i}")
    coupon = NotificationType.objects.get(slug="exclusive-coupons")
    coupon.body_template = "{offer} on {first_item}: just for you."
    coupon.save()
    SegmentPolicy.objects.get(segment__slug="loyal").allowed_types.set([coupon])
    person = Customer.objects.create(external_id="loyal-1", timezone="Europe/Berlin")
    device_register(customer=person, platform="fcm", token="tok-loyal-1")  # someone a push can reach
    CustomerProfileFactory(
        customer=person,
        segment=Segment.objects.get(slug="loyal"),
        top_items=[{"item_id": f"sku-{i}", "score": 1.0, "reason": "viewed"} for i in range(1, 4)],
        best_hours=list(range(168)),
        predicted_open_rate=0.2,
        computed_at=NOW,
    )
    return coupon, person


def test_a_type_promising_an_offer_is_not_sent_automatically_until_one_is_attached(coupon_only_segment):
    coupon, person = coupon_only_segment
    report = planner.plan(now=NOW)
    assert report.planned == 0 and not Notification.objects.filter(customer=person).exists()
    assert report.skipped[Reason.NOTHING_TO_SAY] == 1  # the segment has nothing it may say

    coupon.offer = "15 % off with code LOYAL15"
    coupon.save()
    assert planner.plan(now=NOW).planned == 1
    (notification,) = Notification.objects.filter(customer=person)
    assert notification.notification_type == coupon
    assert notification.body == "15 % off with code LOYAL15 on Product 1: just for you."


def test_a_campaign_with_a_type_promising_an_offer_needs_the_offer(coupon_only_segment):
    coupon, _ = coupon_only_segment
    NotificationType.objects.filter(pk=coupon.pk).update(body_template="Save on {first_item}.")
    coupon.refresh_from_db()
    campaign = Campaign(name="Coupons", notification_type=coupon, starts_at=NOW, ends_at=NOW + dt.timedelta(days=1))
    with pytest.raises(ValidationError, match="promises an offer and none is attached"):
        campaign.full_clean()
    coupon.offer = "A free tote bag with any order"
    coupon.save()
    campaign.full_clean()


def test_a_campaign_whose_offer_was_removed_after_approval_is_skipped_with_a_reason(coupon_only_segment):
    coupon, person = coupon_only_segment
    coupon.offer = "15 % off"
    coupon.save()
    campaign = Campaign.objects.create(
        name="Coupons", notification_type=coupon, starts_at=NOW, ends_at=NOW + dt.timedelta(days=2),
        control_share=0, status=Campaign.Status.APPROVED,
    )  # fmt: skip
    NotificationType.objects.filter(pk=coupon.pk).update(offer="")  # the shop ended the offer
    report = planner.plan(now=NOW)
    assert report.skipped[Reason.NO_OFFER] >= 1
    assert not Notification.objects.filter(campaign=campaign).exists()
    assert not Notification.objects.filter(customer=person).exists()


@pytest.mark.django_db
def test_a_wording_that_shows_the_offer_needs_one():
    kind = NotificationTypeFactory(body_template="Use {offer} today")
    with pytest.raises(ValidationError, match="has no offer"):
        kind.full_clean()
    kind.offer = "code SPRING"
    kind.full_clean()
    kind.offer = ""
    kind.save()  # written past validation: renders the empty offer, never a brace
    campaign = Campaign(
        name="C", notification_type=kind, starts_at=NOW, ends_at=NOW + dt.timedelta(days=1), title_template="{offer}!"
    )
    with pytest.raises(ValidationError, match="has no offer"):
        campaign.full_clean()


def test_the_type_list_says_which_types_wait_for_an_offer(client, mia):
    client.force_login(mia)
    page = client.get("/admin/campaigns/notificationtype/?offer=missing").text
    assert "Exclusive coupons" in page and "Needs an offer: not sent" in page
    assert "Product recommendation" not in page


# --- A second pair of eyes ------------------------------------------------------------------------


@pytest.fixture
def max_(db) -> User:
    user = User.objects.create_user("max", "max@example.com", "password", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketers"))
    return user


def approve_in_admin(client, campaign) -> list[str]:
    response = client.post(
        "/admin/campaigns/campaign/?show=all",
        {"action": "approve", "_selected_action": [campaign.pk]},
        follow=True,
    )
    return [str(m) for m in get_messages(response.wsgi_request)]


def draft_by(user) -> Campaign:
    return Campaign.objects.create(
        name="Spring picks",
        notification_type=NotificationType.objects.get(slug="product-recommendation"),
        starts_at=NOW,
        ends_at=NOW + dt.timedelta(days=7),
        created_by=user,
    )


def test_with_four_eyes_the_author_cannot_approve_and_someone_else_can(client, settings, mia, max_):
    settings.CAMPAIGN_APPROVAL_BY_ANOTHER = True
    campaign = draft_by(mia)
    client.force_login(mia)
    assert approve_in_admin(client, campaign) == [
        "0 campaigns approved",
        "'Spring picks' was written by you: someone else must approve it.",
    ]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and campaign.approved_by is None
    with pytest.raises(services.ApprovalRefused):
        services.campaign_approve(campaign=campaign, by=None)

    client.force_login(max_)
    assert approve_in_admin(client, campaign) == ["1 campaign approved"]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.APPROVED and campaign.approved_by == max_


def test_with_four_eyes_an_edited_campaign_goes_back_to_draft(client, settings, mia, max_):
    settings.CAMPAIGN_APPROVAL_BY_ANOTHER = True
    campaign = draft_by(mia)
    assert services.campaign_approve(campaign=campaign, by=max_)
    client.force_login(mia)
    url = f"/admin/campaigns/campaign/{campaign.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data.update(
        {
            "segments": [],
            "starts_at_0": "2026-03-01", "starts_at_1": "00:30:00",
            "ends_at_0": "2026-03-08", "ends_at_1": "00:30:00",
            "body_template": "Changed after approval",
            "personalised_items": "on",
        }
    )  # fmt: skip
    data.pop("starts_at", None)
    data.pop("ends_at", None)
    data.pop("fixed_local_time", None)
    response = client.post(url, data, follow=True)
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert "'Spring picks' is back to draft: an edited campaign must be approved again." in messages, messages
    campaign.refresh_from_db()
    assert campaign.body_template == "Changed after approval"
    assert campaign.status == Campaign.Status.DRAFT and campaign.approved_by is None


def test_without_four_eyes_the_author_may_approve(client, mia):
    campaign = draft_by(mia)
    client.force_login(mia)
    assert approve_in_admin(client, campaign) == ["1 campaign approved"]
    campaign.refresh_from_db()
    assert campaign.approved_by == mia


# --- Deep links ---------------------------------------------------------------------------------


def test_a_deep_link_percent_encodes_the_item_id(db):
    kind = NotificationTypeFactory(deep_link_template="myapp://item/{first_item_id}?from=push")
    _, body, link = planner.render(kind, None, ["a b/c?d#e"], {"a b/c?d#e": "Odd id"}, "Loyal")
    assert link == "myapp://item/a%20b%2Fc%3Fd%23e?from=push"
