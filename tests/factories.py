"""factory_boy factories for the models tests touch most."""

import datetime as dt
import uuid

import factory
from django.utils import timezone

from campaigns.models import Campaign, Delivery, Feedback, Notification, NotificationType
from devices.models import Customer, Platform
from recommender.models import Category, Event, EventType, Item


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"cust-{n}")
    timezone = "Europe/London"
    locale = "en-GB"


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    external_id = factory.Sequence(lambda n: f"cat-{n}")
    name = factory.Sequence(lambda n: f"Category {n}")


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Item

    external_id = factory.Sequence(lambda n: f"item-{n}")
    title = factory.Sequence(lambda n: f"Product {n}")
    price = "9.99"
    category = factory.SubFactory(CategoryFactory)


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    event_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    customer = factory.SubFactory(CustomerFactory)
    item = factory.SubFactory(ItemFactory)
    type = EventType.VIEW
    occurred_at = factory.LazyFunction(timezone.now)


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    customer = factory.SubFactory(CustomerFactory)
    notification_type = factory.LazyFunction(lambda: NotificationType.objects.get(slug="product-recommendation"))
    scheduled_for = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(hours=1))
    idempotency_key = factory.LazyAttribute(lambda o: f"{o.customer.pk}:auto:{o.scheduled_for:%Y%m%dT%H}")
    title = "Picked for you"
    body = "Something you will like"


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    notification_type = factory.LazyFunction(lambda: NotificationType.objects.get(slug="product-recommendation"))
    starts_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=6))


class DeliveryFactory(factory.django.DjangoModelFactory):
    """A device message handed to the provider (status sent), unless told otherwise."""

    class Meta:
        model = Delivery

    notification = factory.SubFactory(NotificationFactory)
    platform = Platform.FCM
    status = Delivery.Status.SENT


class FeedbackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Feedback

    notification = factory.SubFactory(NotificationFactory)
    action = Feedback.Action.OPENED
    occurred_at = factory.LazyFunction(timezone.now)
