"""A test push to one device, sent from the admin's device list.

Apart from ``campaigns.services`` because it needs the dispatcher's token lookup, and the dispatcher
imports the services: here both are imported, and neither imports this module.
"""

from django.contrib.auth.base_user import AbstractBaseUser

from campaigns.dispatcher import device_tokens
from campaigns.models import Delivery
from campaigns.push import PushMessage, get_backend, push_data
from campaigns.services import record, sending_paused


def device_test_send(*, device, by: AbstractBaseUser | None, title: str = "Test from Optimus"):
    """Sends one test push to `device` right away, through the configured backend; returns the
    PushResult. Nothing is stored as a notification: a test is not a decision. The kill switch
    holds tests too: whoever paused sending may be stopping a misconfigured or compromised backend."""
    if sending_paused():
        raise ValueError("Sending is paused (the kill switch): resume it before sending a test push.")
    token = device_tokens([Delivery(device=device, platform=device.platform)]).get(device.pk)
    if token is None:
        raise ValueError("This device is no longer active: the app has to register it again.")
    platform, value, p256dh, auth = token
    message = PushMessage(
        delivery_id=f"test-{device.pk}",
        platform=platform,
        token=value,
        title=title,
        body=f"Sent by {by} from the Optimus admin.",
        data=push_data(notification_id="test", type_slug="test", item_ids=[], link=""),
        collapse_key=f"test{device.pk}",
        ttl_seconds=600,
        webpush_p256dh=p256dh,
        webpush_auth=auth,
    )
    (result,) = get_backend().send([message])
    record(by=by, objects=[device], message=f"Test push: {result.outcome} {result.error_code}".strip())
    return result
