"""campaigns.results: the one definition of sends, deliveries, opens, dismissals, CTR and opt-outs."""

import datetime as dt

import pytest

from campaigns.models import Delivery, Feedback, Notification, NotificationType
from campaigns.results import Results, click_through_rate, notification_results, notification_results_by
from recommender.models import Segment
from tests.factories import (
    CampaignFactory,
    CustomerFactory,
    CustomerProfileFactory,
    DeliveryFactory,
    FeedbackFactory,
    NotificationFactory,
)

DAY1 = dt.datetime(2026, 5, 4, 9, tzinfo=dt.UTC)
DAY2 = DAY1 + dt.timedelta(days=1)
SENT = Notification.Status.SENT


def notify(customer, at, *, status=SENT, **fields):
    sent_at = at if status == SENT else None
    return NotificationFactory(customer=customer, scheduled_for=at, sent_at=sent_at, status=status, **fields)


@pytest.fixture
def sends(db):
    """ana (Loyal, opted out since) and ben (Lost) were reached; cy (opted out before) was not."""
    loyal, lost = Segment.objects.get(slug="loyal"), Segment.objects.get(slug="lost")
    ana, ben, cy = CustomerFactory(opt_out=True), CustomerFactory(), CustomerFactory(opt_out=True)
    CustomerProfileFactory(customer=ana, segment=loyal, computed_at=DAY1)
    CustomerProfileFactory(customer=ben, segment=lost, computed_at=DAY1)
    spring = CampaignFactory(name="Spring")
    sale = NotificationType.objects.get(slug="sale-promotions")

    # ana, DAY1, Spring: two phones took it, a third failed; opened (the "delivered" report counts nowhere).
    first = notify(ana, DAY1, campaign=spring)
    DeliveryFactory.create_batch(2, notification=first)
    DeliveryFactory(notification=first, status=Delivery.Status.GAVE_UP)
    FeedbackFactory(notification=first, action=Feedback.Action.DELIVERED)
    FeedbackFactory(notification=first, action=Feedback.Action.OPENED)
    # ana, DAY2, automated sale: dismissed.
    second = notify(ana, DAY2, notification_type=sale)
    DeliveryFactory(notification=second)
    FeedbackFactory(notification=second, action=Feedback.Action.DISMISSED)
    # ben, DAY1, Spring: taken by the provider, no answer; and one still planned for DAY2.
    DeliveryFactory(notification=notify(ben, DAY1, campaign=spring))
    notify(ben, DAY2, status=Notification.Status.PLANNED)
    # cy had opted out: suppressed, so neither a send nor an opt-out.
    notify(cy, DAY1, status=Notification.Status.SUPPRESSED, campaign=spring)
    return {"ana": ana, "ben": ben, "cy": cy}


def test_every_figure_counted_once(sends, django_assert_num_queries):
    with django_assert_num_queries(1):
        results = notification_results(Notification.objects.all())
    assert results == Results(sends=3, deliveries=4, opens=1, dismissals=1, opt_outs=1)
    assert results.ctr == pytest.approx(1 / 3)


def test_ctr_without_sends_is_none_not_zero(sends):
    assert click_through_rate(opens=0, sends=0) is None
    assert Results().ctr is None
    assert notification_results(Notification.objects.none()) == Results()
    unsent = notification_results(Notification.objects.exclude(status=SENT))
    assert unsent == Results() and unsent.ctr is None
    assert Results(sends=4, opens=1).ctr == 0.25


def test_grouped_by_day_of_sending(sends, django_assert_num_queries):
    with django_assert_num_queries(1):
        by_day = notification_results_by(Notification.objects.all(), by="day")
    assert by_day == {
        DAY1.date(): Results(sends=2, deliveries=3, opens=1, dismissals=0, opt_outs=1),
        DAY2.date(): Results(sends=1, deliveries=1, opens=0, dismissals=1, opt_outs=1),
        None: Results(),  # planned and suppressed: not sent, so no day
    }


def test_grouped_by_campaign_type_segment_and_customer(sends, django_assert_num_queries):
    everything = Notification.objects.all()
    with django_assert_num_queries(4):
        by_campaign = notification_results_by(everything, by="campaign")
        by_type = notification_results_by(everything, by="type")
        by_segment = notification_results_by(everything, by="segment")
        by_customer = notification_results_by(everything, by="customer")
    assert by_campaign == {
        "Spring": Results(sends=2, deliveries=3, opens=1, opt_outs=1),
        None: Results(sends=1, deliveries=1, dismissals=1, opt_outs=1),
    }
    assert by_type == {
        "Product recommendation": Results(sends=2, deliveries=3, opens=1, opt_outs=1),
        "Sale promotions": Results(sends=1, deliveries=1, dismissals=1, opt_outs=1),
    }
    assert by_segment == {
        "Loyal": Results(sends=2, deliveries=3, opens=1, dismissals=1, opt_outs=1),
        "Lost": Results(sends=1, deliveries=1),
        None: Results(),
    }
    ana, ben, cy = sends["ana"], sends["ben"], sends["cy"]
    assert by_customer == {
        ana.pk: Results(sends=2, deliveries=3, opens=1, dismissals=1, opt_outs=1),
        ben.pk: Results(sends=1, deliveries=1),
        cy.pk: Results(),
    }


def test_groups_add_up_to_the_whole_except_opt_outs_counted_per_group(sends):
    everything = Notification.objects.all()
    whole = notification_results(everything)
    for by in ("day", "campaign", "type", "segment", "customer"):
        groups = notification_results_by(everything, by=by).values()
        for figure in ("sends", "deliveries", "opens", "dismissals"):
            assert sum(getattr(g, figure) for g in groups) == getattr(whole, figure), (by, figure)
    # ana, reached on two days, is one opt-out of the whole and one of each day.
    assert sum(g.opt_outs for g in notification_results_by(everything, by="day").values()) == 2


def test_only_the_given_notifications_are_counted(sends):
    of_ben = notification_results(Notification.objects.filter(customer=sends["ben"]))
    assert of_ben == Results(sends=1, deliveries=1)


def test_unknown_grouping_is_refused(db):
    with pytest.raises(ValueError, match="unknown grouping"):
        notification_results_by(Notification.objects.all(), by="week")
