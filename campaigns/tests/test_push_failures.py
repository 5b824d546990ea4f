"""One message a backend cannot handle must fail alone: the rest of the batch is sent and no
notification stays `sending`. On MariaDB, through the dispatcher, against a loopback push service."""

import datetime as dt

import pytest
from py_vapid import Vapid

from campaigns import dispatcher, planner
from campaigns.models import Delivery, Notification
from campaigns.push import Outcome
from campaigns.push.apns import ApnsBackend
from campaigns.push.fcm import FcmBackend
from campaigns.push.log import LogBackend
from campaigns.push.webpush import WebPushBackend
from campaigns.tests.test_planning import NOW, catalog, customer, planned, profile_for, quiet_planner  # noqa: F401, F811
from campaigns.tests.test_push import (  # noqa: F401, F811
    Browser,
    b64,
    gateway,
    message,
    push_services,
    record_file,
    records,
    start_gateway,
)
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


# --- Where Web Push connects (issue 17, item 2) -------------------------------------------------


def test_the_sender_never_connects_to_an_internal_endpoint_already_stored(push_services, settings):  # noqa: F811
    # Registered before endpoints were checked (or written to the table directly): refused at send time.
    settings.WEBPUSH_ALLOW_PRIVATE_ENDPOINTS = False
    browser = Browser()
    backend = webpush_backend()
    url = push_services[0].url  # http://127.0.0.1:<port>
    results = backend.send([browser.message(1, f"{url}/push/ok"), browser.message(2, "https://169.254.169.254/x")])
    assert [(r.outcome, r.error_code) for r in results] == [
        (Outcome.PERMANENT, "unsafe_endpoint"),
        (Outcome.PERMANENT, "unsafe_endpoint"),
    ]
    assert push_services[0].received == []


def test_a_push_service_redirect_is_not_followed(push_services):  # noqa: F811
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    internal = push_services[1]

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(307)
            self.send_header("Location", f"{internal.url}/push/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser = Browser()
        (result,) = webpush_backend().send([browser.message(1, f"http://127.0.0.1:{server.server_address[1]}/push")])
    finally:
        server.shutdown()
        server.server_close()
    assert (result.outcome, result.error_code) == (Outcome.PERMANENT, "307")
    assert internal.received == []  # the redirect target was never contacted


# --- FCM and the log backend: one message's unforeseen error fails it alone (issue 17, item 3) ----


def test_fcm_a_message_the_sdk_cannot_build_fails_alone(gateway, monkeypatch):  # noqa: F811
    real_build = FcmBackend._fcm_message

    def build(m):
        if m.token == "tok-2":
            raise TypeError("the SDK chokes on this one")
        return real_build(m)

    monkeypatch.setattr(FcmBackend, "_fcm_message", staticmethod(build))
    results = FcmBackend(endpoint=gateway.url).send([message(1), message(2), message(3)])
    assert [(r.outcome, r.error_code) for r in results] == [
        (Outcome.OK, ""), (Outcome.PERMANENT, "unexpected_error"), (Outcome.OK, ""),
    ]  # fmt: skip
    assert {line["message"]["token"] for line in records(record_file(gateway))} == {"tok-1", "tok-3"}


def test_fcm_a_message_that_makes_send_each_raise_fails_alone(gateway, monkeypatch):  # noqa: F811
    from firebase_admin import messaging

    real_send_each = messaging.send_each

    def send_each(batch, *args, **kwargs):
        if any(m.token == "tok-2" for m in batch):
            raise KeyError("an SDK bug this message triggers")
        return real_send_each(batch, *args, **kwargs)

    monkeypatch.setattr(messaging, "send_each", send_each)
    results = FcmBackend(endpoint=gateway.url).send([message(i) for i in range(1, 5)])
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.PERMANENT, Outcome.OK, Outcome.OK]
    assert results[1].error_code == "unexpected_error"
    assert len(records(record_file(gateway))) == 3


def test_the_log_backend_fails_only_the_message_it_cannot_record(monkeypatch):
    import campaigns.push.log as log

    real_dumps = log.json.dumps

    def dumps(record, **kwargs):
        if isinstance(record, dict) and record.get("delivery_id") == 2:
            raise ValueError("cannot be written as JSON")
        return real_dumps(record, **kwargs)

    monkeypatch.setattr(log.json, "dumps", dumps)
    results = LogBackend().send([message(1), message(2), message(3)])
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.PERMANENT, Outcome.OK]
