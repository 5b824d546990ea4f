"""No hole an app user can open through a push token (issue 17, items 2 and 3): a Web Push endpoint
is an https URL of a known push service and never a way into our own network, its keys are a real
P-256 point and a 16-byte secret, and APNs / FCM tokens look like tokens."""

import base64
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from optimus_site import netguard
from tests.api import API, assert_error


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def browser_keys() -> tuple[str, str]:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64(point), b64(os.urandom(16))


def webpush(endpoint: str, **keys) -> dict:
    p256dh, auth = browser_keys()
    return {"platform": "webpush", "token": endpoint, "keys": {"p256dh": p256dh, "auth": auth, **keys}}


INTERNAL_ENDPOINTS = [
    "https://127.0.0.1:8443/push",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/",
    "https://192.168.1.1/x",
    "https://100.64.0.1/x",  # carrier-grade NAT
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[fe80::1]/",
    "https://[fd00::1]/",
    "https://0.0.0.0/",
    "https://2130706433/",  # 127.0.0.1 as one number
    "https://0x7f.1/",
    "https://localhost/push",
    "https://redis.internal/",
    "https://metadata/computeMetadata/v1/",
    "https://user:pw@fcm.googleapis.com/fcm/send/x",
    "https://fcm.googleapis.com\r\nX-Injected: 1/",
    "https://evil.example/push",  # public, but not a push service
    "https://fcm.googleapis.com.evil.example/x",
]


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", INTERNAL_ENDPOINTS)
def test_a_webpush_endpoint_into_our_network_or_outside_the_push_services_is_refused(ana, endpoint):
    error = assert_error(ana.post(f"{API}/devices", webpush(endpoint), format="json"), 400, "invalid")
    assert "token" in error["fields"], error


@pytest.mark.django_db
@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc:APA91b",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAA",
        "https://web.push.apple.com/QGuQyavX",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB",
    ],
)
def test_the_browsers_push_services_are_accepted(ana, endpoint):
    assert ana.post(f"{API}/devices", webpush(endpoint), format="json").status_code == 201


@pytest.mark.django_db
def test_the_push_service_allow_list_is_configurable(ana, settings):
    settings.WEBPUSH_ALLOWED_HOSTS = ["push.example.com"]
    assert ana.post(f"{API}/devices", webpush("https://push.example.com/s/1"), format="json").status_code == 201
    assert (
        ana.post(f"{API}/devices", webpush("https://fcm.googleapis.com/fcm/send/x"), format="json").status_code == 400
    )
    settings.WEBPUSH_ALLOWED_HOSTS = ["*"]  # any public host: internal ones stay refused
    assert ana.post(f"{API}/devices", webpush("https://10.1.2.3/s"), format="json").status_code == 400


P256_NOT_ON_CURVE = b64(b"\x04" + b"\x01" * 64)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("keys", "field"),
    [
        ({"p256dh": "=", "auth": "x"}, "keys.p256dh"),
        ({"p256dh": "a" * 87}, "keys.p256dh"),  # decodes, but 65 bytes of noise
        ({"p256dh": P256_NOT_ON_CURVE}, "keys.p256dh"),
        ({"p256dh": "not base64!"}, "keys.p256dh"),
        ({"auth": "x"}, "keys.auth"),
        ({"auth": b64(os.urandom(8))}, "keys.auth"),
    ],
)
def test_webpush_keys_are_checked_when_registered(ana, keys, field):
    body = webpush("https://fcm.googleapis.com/fcm/send/abc", **keys)
    error = assert_error(ana.post(f"{API}/devices", body, format="json"), 400, "invalid")
    assert field in error["fields"], error


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("platform", "token"),
    [("apns", "not-hex-" + "a" * 60), ("apns", "ab" * 20), ("fcm", "has spaces in it"), ("fcm", "tok\x00en")],
)
def test_apns_and_fcm_tokens_must_look_like_tokens(ana, platform, token):
    error = assert_error(
        ana.post(f"{API}/devices", {"platform": platform, "token": token}, format="json"), 400, "invalid"
    )
    assert "token" in error["fields"], error


@pytest.mark.django_db
def test_a_real_apns_token_is_accepted(ana):
    assert ana.post(f"{API}/devices", {"platform": "apns", "token": "a1" * 32}, format="json").status_code == 201


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.1.1",
        "169.254.169.254",
        "::1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
        "64:ff9b::a00:1",
        "224.0.0.1",
    ],
)
def test_non_public_addresses(address):
    assert not netguard.is_public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "142.250.74.110"])
def test_public_addresses(address):
    assert netguard.is_public_address(address)


def test_a_name_that_resolves_inward_is_refused_at_connection_time(monkeypatch):
    # DNS rebinding: the name passed the text check; what it resolves to now is checked again.
    monkeypatch.setattr(netguard.socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("10.0.0.7", 443))])
    with pytest.raises(netguard.UnsafeDestination, match="non-public address"):
        netguard.public_addresses("fcm.googleapis.com", 443)
    mixed = [(2, 1, 6, "", ("142.250.74.110", 443)), (2, 1, 6, "", ("127.0.0.1", 443))]
    monkeypatch.setattr(netguard.socket, "getaddrinfo", lambda *a, **k: mixed)
    with pytest.raises(netguard.UnsafeDestination):
        netguard.public_addresses("fcm.googleapis.com", 443)
