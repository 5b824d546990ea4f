"""factory_boy factories for every model of ours the tests create (and the push device rows behind a Device)."""

import datetime as dt
import uuid

import factory
from django.utils import timezone
from push_notifications.models import GCMDevice

from campaigns.models import Campaign, Delivery, Feedback, Notification, NotificationType
from devices.models import ApiKey, Customer, CustomerToken, Device, Platform
from recommender.models import Category, CustomerProfile, Event, EventType, Item, ModelVersion


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


class NotificationTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationType

    slug = factory.Sequence(lambda n: f"type-{n}")
    name = factory.Sequence(lambda n: f"Type {n}")
    title_template = "Picked for you"
    body_template = "{first_item}"


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    started_at = factory.LazyFunction(timezone.now)
    data_until = factory.LazyFunction(timezone.now)


class CustomerProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerProfile

    customer = factory.SubFactory(CustomerFactory)
    computed_at = factory.LazyFunction(timezone.now)


class FcmDeviceFactory(factory.django.DjangoModelFactory):
    """django-push-notifications' row for an Android phone: the token the sender uses."""

    class Meta:
        model = GCMDevice

    user = factory.SubFactory(CustomerFactory)
    registration_id = factory.Sequence(lambda n: f"fcm-token-{n}")
    cloud_message_type = "FCM"


class DeviceFactory(factory.django.DjangoModelFactory):
    """Our handle of a phone; by default an FCM phone with its push device row."""

    class Meta:
        model = Device

    customer = factory.SubFactory(CustomerFactory)
    platform = Platform.FCM
    push_device_id = factory.LazyAttribute(lambda o: FcmDeviceFactory(user=o.customer).pk)


class ApiKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiKey

    name = factory.Sequence(lambda n: f"backend {n}")
    prefix = factory.LazyFunction(lambda: ApiKey.generate()[1])
    hashed_secret = factory.LazyFunction(lambda: ApiKey.hash(str(uuid.uuid4())))


class CustomerTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerToken

    customer = factory.SubFactory(CustomerFactory)
    prefix = factory.LazyFunction(lambda: CustomerToken.generate()[1])
    hashed_secret = factory.LazyFunction(lambda: CustomerToken.hash(str(uuid.uuid4())))
