"""One message a backend cannot handle must fail alone: the rest of the batch is sent and no
notification stays `sending`. On MariaDB, through the dispatcher, against a loopback push service."""

import datetime as dt

import pytest
from py_vapid import Vapid

from campaigns import dispatcher, planner
from campaigns.models import Delivery, Notification
from campaigns.push import Outcome
from campaigns.push.apns import ApnsBackend
from campaigns.push.webpush import WebPushBackend
from campaigns.tests.test_planning import NOW, catalog, customer, planned, profile_for, quiet_planner  # noqa: F401, F811
from campaigns.tests.test_push import Browser, b64, message, push_services  # noqa: F401, F811
from devices.models import Device
from devices.services import device_register


def webpush_backend() -> WebPushBackend:
    vapid = Vapid()
    vapid.generate_keys()
    private_key = b64(vapid.private_key.private_numbers().private_value.to_bytes(32, "big"))
    return WebPushBackend(vapid_private_key=private_key, vapid_claims={"sub": "mailto:ops@example.com"})


def with_browser(external_id, endpoint, p256dh, auth):
    c = customer(external_id, phone=False)
    device, _ = device_register(
        customer=c, platform="webpush", token=endpoint, webpush_keys={"p256dh": p256dh, "auth": auth}
    )
    profile_for(c)
    return c, device


@pytest.mark.django_db
def test_one_bad_webpush_key_fails_alone_and_the_batch_is_sent(catalog, quiet_planner, push_services, monkeypatch):  # noqa: F811
    browser = Browser()
    url = push_services[0].url
    good = [with_browser(f"good-{i}", f"{url}/{i}/push/ok", browser.p256dh, b64(browser.auth))[0] for i in range(3)]
    bad, bad_device = with_browser("bad", f"{url}/bad/push/ok", browser.p256dh, b64(browser.auth))
    # Stored before registration checked keys: "=" makes pywebpush raise IndexError.
    push = bad_device.push_device_model.objects.get(pk=bad_device.push_device_id)
    push.p256dh, push.auth = "=", "x"
    push.save()
    backend = webpush_backend()
    monkeypatch.setattr(dispatcher, "get_backend", lambda: backend)
    planner.plan(now=NOW)

    report = dispatcher.dispatch(now=NOW + dt.timedelta(days=1))

    assert report.sent == 3
    assert len(push_services[0].received) == 3
    for c in good:
        assert planned(c)[0].status == Notification.Status.SENT
    (n,) = [x for x in planned(bad) if x.deliveries.exists()]
    assert n.status == Notification.Status.FAILED
    (delivery,) = n.deliveries.all()
    assert delivery.status == Delivery.Status.GAVE_UP and delivery.error_code == "unexpected_error"
    assert delivery.next_attempt_at is None  # permanent: never retried
    assert Device.objects.get(pk=bad_device.pk).push_device_model.objects.get(pk=push.pk).active  # kept
    assert not Notification.objects.filter(status=Notification.Status.SENDING).exists()


def test_an_unexpected_apns_client_error_fails_only_that_message():
    class Client:
        async def send_notification(self, request):
            if request.device_token == "b" * 64:
                raise KeyError("reason")  # e.g. an answer the client library cannot parse

            class Result:
                is_successful, status, description, notification_id = True, "200", "", "apns-id"

            return Result()

    backend = ApnsBackend(client_factory=Client)
    results = backend.send([message(1, "a" * 64, "apns"), message(2, "b" * 64, "apns"), message(3, "c" * 64, "apns")])
    assert [(r.outcome, r.error_code) for r in results] == [
        (Outcome.OK, ""),
        (Outcome.PERMANENT, "unexpected_error"),
        (Outcome.OK, ""),
    ]
