"""Reads about notifications."""

from django.db.models import Prefetch, QuerySet

from campaigns.models import Feedback, Notification
from devices.models import Customer

# What a customer can see of their notifications: those that went (or are going) out.
VISIBLE_TO_CUSTOMER = (Notification.Status.SENDING, Notification.Status.SENT)


def notifications_visible_to(*, customer: Customer) -> QuerySet[Notification]:
    return Notification.objects.filter(customer=customer, status__in=VISIBLE_TO_CUSTOMER)


def inbox(*, customer: Customer) -> QuerySet[Notification]:
    """The customer's notifications, newest first, with their feedback and type."""
    return (
        notifications_visible_to(customer=customer)
        .select_related("notification_type")
        .prefetch_related(
            Prefetch("feedback", queryset=Feedback.objects.only("notification_id", "action", "occurred_at"))
        )
        .order_by("-scheduled_for", "-id")
    )
