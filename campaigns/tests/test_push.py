"""Push backends against real loopback servers: the FCM gateway (firebase-admin's own request code
runs) and a Web Push service written here. APNs needs HTTP/2 + TLS, so only its mapping and request
building are tested, with a stand-in client. No database: none of these use the db fixture."""

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import http_ece
import pytest
import requests
from aioapns import ConnectionError as APNsConnectionError
from aioapns.common import NotificationResult
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from py_vapid import Vapid

from campaigns import push
from campaigns.push import Outcome, PushMessage, get_backend, push_data
from campaigns.push.apns import ApnsBackend, classify_apns_result
from campaigns.push.base import parse_retry_after
from campaigns.push.fcm import FcmBackend
from campaigns.push.webpush import WebPushBackend
from simulation.gateways.fcm import LoopbackGateway

MANAGE_PY = Path(__file__).resolve().parents[2] / "manage.py"


def message(i, token=None, platform="fcm", **kwargs) -> PushMessage:
    fields = {
        "delivery_id": i,
        "platform": platform,
        "token": f"tok-{i}" if token is None else token,
        "title": "Back in stock",
        "body": f"Item {i} is back",
        "data": push_data(
            notification_id=1000 + i, type_slug="back_in_stock", item_ids=["sku-1", 42], link="app://i/1"
        ),
        "collapse_key": f"n{1000 + i}",
        "ttl_seconds": 3600,
    }
    return PushMessage(**(fields | kwargs))


def records(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.fixture
def start_gateway(tmp_path):
    started = []

    def start(**options) -> LoopbackGateway:
        options.setdefault("record", str(tmp_path / f"fcm-{len(started)}.jsonl"))
        gateway = LoopbackGateway(**options).start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway(start_gateway) -> LoopbackGateway:
    return start_gateway(seed=1)


def record_file(gateway) -> str:
    return gateway._record.name


# --- the message and its payload -------------------------------------------------------------


def test_push_data_is_all_strings_with_item_ids_as_json():
    data = push_data(notification_id=7, type_slug="cart", item_ids=[1, "b"], link="app://cart")
    assert data == {"notification_id": "7", "type": "cart", "item_ids": '["1", "b"]', "link": "app://cart"}
    assert push_data(notification_id=7, type_slug="cart", item_ids=[], link="")["item_ids"] == "[]"


@pytest.mark.parametrize(
    "change",
    [
        {"data": {"notification_id": 7}},
        {"collapse_key": "has space"},
        {"collapse_key": "x" * 33},
        {"ttl_seconds": -1},
        {"platform": "sms"},
        {"token": ""},
        {"platform": "webpush"},  # without the subscription's keys
    ],
)
def test_a_malformed_message_is_refused_when_built(change):
    with pytest.raises(ValueError):
        message(1, **change)


def test_retry_after_reads_seconds_and_http_dates():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# --- log backend -----------------------------------------------------------------------------


def test_log_backend_records_what_would_be_sent_and_always_succeeds(tmp_path):
    log_file = tmp_path / "push.jsonl"
    push.outbox.clear()
    with override_settings(PUSH_BACKEND="log", PUSH_LOG_FILE=str(log_file)):
        backend = get_backend()
        results = backend.send([message(1), message(2, platform="apns", token="abcd")])
        assert get_backend() is backend

    assert [r.outcome for r in results] == [Outcome.OK, Outcome.OK]
    assert all(r.provider_message_id.startswith("log-") for r in results)
    lines = records(log_file)
    assert [line["delivery_id"] for line in lines] == [1, 2]
    assert lines[0]["data"]["item_ids"] == '["sku-1", "42"]'
    assert lines[0]["provider_message_id"] == results[0].provider_message_id
    assert [r["delivery_id"] for r in push.outbox] == [1, 2]


# --- FCM through the loopback gateway ---------------------------------------------------------


def test_fcm_backend_from_settings_delivers_data_collapse_key_and_ttl(gateway):
    with override_settings(PUSH_BACKEND="fcm", FCM_ENDPOINT=gateway.url, FCM_PROJECT_ID="optimus-test"):
        backend = get_backend()
        results = backend.send([message(1), message(2)])

    assert isinstance(backend, FcmBackend)
    assert backend.url == f"{gateway.url}/v1/projects/optimus-test/messages:send"
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.OK]
    assert all(r.provider_message_id.startswith("projects/optimus-test/messages/") for r in results)

    received = {line["message"]["token"]: line for line in records(record_file(gateway))}
    assert set(received) == {"tok-1", "tok-2"}
    sent = received["tok-1"]
    assert sent["status"] == 200
    assert set(sent) == {"received_at", "status", "message"}
    fcm = sent["message"]
    assert fcm["data"] == {
        "notification_id": "1001",
        "type": "back_in_stock",
        "item_ids": '["sku-1", "42"]',
        "link": "app://i/1",
    }
    assert json.loads(fcm["data"]["item_ids"]) == ["sku-1", "42"]
    assert fcm["notification"] == {"title": "Back in stock", "body": "Item 1 is back"}
    assert fcm["android"] == {"collapse_key": "n1001", "ttl": "3600s"}
    assert fcm["apns"]["headers"]["apns-collapse-id"] == "n1001"
    assert int(fcm["apns"]["headers"]["apns-expiration"]) == pytest.approx(time.time() + 3600, abs=60)


def test_fcm_sends_more_than_500_messages_in_calls_of_at_most_500(gateway, monkeypatch):
    from firebase_admin import messaging

    calls = []
    real_send_each = messaging.send_each

    def counting_send_each(messages, *args, **kwargs):
        calls.append(len(messages))
        return real_send_each(messages, *args, **kwargs)

    monkeypatch.setattr(messaging, "send_each", counting_send_each)
    results = FcmBackend(endpoint=gateway.url).send([message(i) for i in range(1001)])

    assert calls == [500, 500, 1]
    assert [r.delivery_id for r in results] == list(range(1001))
    assert all(r.ok for r in results)
    assert len(records(record_file(gateway))) == 1001


def test_fcm_errors_are_classified(start_gateway):
    gateway = start_gateway(retry_after=7)
    backend = FcmBackend(endpoint=gateway.url)
    messages = [
        message(1, token="dead-1"),
        message(2, token="invalid-2"),
        message(3, token="mismatch-3"),
        message(4, token="throttle-4"),
        message(5, body="x" * 5000),  # INVALID_ARGUMENT about the payload, not the token
        message(6),
        message(7, platform="apns", token="abcd"),  # not FCM's to deliver
    ]
    results = backend.send(messages)

    got = [(r.outcome, r.error_code, r.retry_after) for r in results]
    assert got == [
        (Outcome.DEAD_TOKEN, "UNREGISTERED", None),
        (Outcome.DEAD_TOKEN, "INVALID_ARGUMENT", None),
        (Outcome.DEAD_TOKEN, "SENDER_ID_MISMATCH", None),
        (Outcome.TRANSIENT, "QUOTA_EXCEEDED", 7.0),
        (Outcome.PERMANENT, "INVALID_ARGUMENT", None),
        (Outcome.OK, "", None),
        (Outcome.PERMANENT, "unsupported_platform", None),
    ]
    assert results[4].error_message == "Message is too big"
    statuses = {line["message"]["token"]: line["status"] for line in records(record_file(gateway))}
    assert statuses == {
        "dead-1": 404,
        "invalid-2": 400,
        "mismatch-3": 403,
        "throttle-4": 429,
        "tok-5": 400,
        "tok-6": 200,
    }


def test_fcm_unreachable_endpoint_is_transient():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the send: connection refused
    [result] = FcmBackend(endpoint=f"http://127.0.0.1:{port}").send([message(1)])
    assert result.outcome == Outcome.TRANSIENT
    assert result.retry_after is None


def test_fcm_client_resolves_proxies_and_ca_bundle_once_at_start(monkeypatch, tmp_path):
    # requests would rescan the whole environment on every request (a third of the CPU per push);
    # the backend reads it once, and what it read must still be what requests would have used.
    from firebase_admin import messaging

    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "ALL_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "bypassed.example")
    bundle = tmp_path / "ca.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))

    def session(backend):
        return messaging._get_messaging_service(backend._app)._client.session

    proxied = session(FcmBackend(endpoint="http://fcm-behind-a-proxy.example:9"))
    direct = session(FcmBackend(endpoint="http://bypassed.example:9"))
    assert proxied.proxies.get("http") == "http://proxy.internal:3128"
    assert not direct.proxies
    assert proxied.verify == str(bundle)
    assert not proxied.trust_env and not direct.trust_env


def test_fail_rate_is_repeatable_with_a_seed_and_every_attempt_is_recorded(start_gateway):
    def run(seed):
        gateway = start_gateway(fail_rate=0.3, seed=seed)
        results = FcmBackend(endpoint=gateway.url).send([message(i) for i in range(200)])
        return gateway, [(r.delivery_id, r.outcome, r.error_code) for r in results]

    gateway, first = run(seed=42)
    _, again = run(seed=42)
    _, other = run(seed=43)

    assert first == again
    assert first != other
    failed = [(i, code) for i, outcome, code in first if outcome != Outcome.OK]
    assert 30 <= len(failed) <= 90
    assert {outcome for _, outcome, _ in first} == {Outcome.OK, Outcome.TRANSIENT}
    assert {code for _, code in failed} == {"QUOTA_EXCEEDED", "INTERNAL", "UNAVAILABLE"}

    # One line per HTTP attempt: firebase-admin's own retries of 500/503 are switched off.
    lines = records(record_file(gateway))
    assert len(lines) == 200
    assert sum(line["status"] != 200 for line in lines) == len(failed)

    # A retry draws afresh: resending only the failures gets most of them through.
    retry = FcmBackend(endpoint=gateway.url).send([message(i) for i, _ in failed])
    assert sum(r.ok for r in retry) > len(failed) / 2
    assert len(records(record_file(gateway))) == 200 + len(failed)


def test_latency_is_added_per_request_and_requests_run_concurrently(start_gateway):
    gateway = start_gateway(latency_ms=300)
    started = time.monotonic()
    results = FcmBackend(endpoint=gateway.url).send([message(i) for i in range(20)])
    elapsed = time.monotonic() - started
    assert all(r.ok for r in results)
    assert 0.3 <= elapsed < 3


def raw_exchange(gateway, request: bytes) -> bytes:
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_the_gateway_speaks_http_1_1_and_refuses_what_it_cannot_read(gateway):
    body = json.dumps({"message": {"token": "t-1", "data": {"a": "1"}}}).encode()
    send = f"POST /v1/projects/p/messages:send HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    # Two requests on one kept-alive connection (the second one closes it), the body split anywhere.
    answer = raw_exchange(
        gateway, (send + "\r\n").encode() + body + (send + "Connection: close\r\n\r\n").encode() + body
    )
    assert answer.count(b"HTTP/1.1 200 OK") == 2 and answer.count(b"projects/p/messages/") == 2
    assert b"Connection: close" in answer.split(b"HTTP/1.1 200 OK")[2]
    # Nothing after "Connection: close" is read, answered or recorded.
    closing = (send + "Connection: close\r\n\r\n").encode() + body
    assert raw_exchange(gateway, closing + (send + "\r\n").encode() + body).count(b"HTTP/1.1 200 OK") == 1

    chunked = raw_exchange(gateway, b"POST /v1/projects/p/messages:send HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert chunked.startswith(b"HTTP/1.1 411 ")
    garbage = raw_exchange(gateway, b"nonsense\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400 ")
    negative = raw_exchange(gateway, b"POST /v1/projects/p/messages:send HTTP/1.1\r\nContent-Length: -4\r\n\r\n")
    assert negative.startswith(b"HTTP/1.1 400 ")
    wrong = raw_exchange(gateway, b"GET /v1/projects/p/messages:send HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert wrong.startswith(b"HTTP/1.1 404 ") and b"UNSPECIFIED_ERROR" in wrong
    assert [r["status"] for r in records(record_file(gateway))] == [200, 200, 200]  # refusals are not messages


def test_loopback_gateway_command(tmp_path):
    record = tmp_path / "gateway.jsonl"
    command = [sys.executable, str(MANAGE_PY), "loopback_gateway", "--port", "0", "--record", str(record)]
    proc = subprocess.Popen([*command, "--seed", "3"], stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        first_line = proc.stdout.readline()
        url = first_line.split("FCM_ENDPOINT=", 1)[1].split()[0]
        [result] = FcmBackend(endpoint=url, project_id="cmd").send([message(1)])
        assert result.ok
        dry = requests.post(
            f"{url}/v1/projects/cmd/messages:send",
            json={"message": {"token": "t", "data": {"a": "1"}}, "validate_only": True},
            timeout=5,
        )
        assert dry.json() == {"name": "projects/cmd/messages/fake_message_id"}
        bad = requests.post(f"{url}/v1/projects/cmd/messages:send", json={"message": {"data": {}}}, timeout=5)
        assert bad.status_code == 400
        assert bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "stopped; answered 2×200, 1×400" in out
    assert [line["status"] for line in records(record)] == [200, 200, 400]


# --- Web Push against a loopback push service --------------------------------------------------


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PushService:
    """A push service on loopback: the path's last part picks the answer."""

    ANSWERS = {"ok": (201, {}), "gone": (410, {}), "missing": (404, {}), "busy": (429, {"Retry-After": "7"})}
    ANSWERS |= {"bad": (400, {}), "down": (503, {})}

    def __init__(self):
        self.received = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                service.received.append((self.path, self.headers, body))
                status, headers = service.ANSWERS[self.path.rsplit("/", 1)[1]]
                self.send_response(status)
                if status == 201:
                    self.send_header("Location", f"{service.url}/messages/{len(service.received)}")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def push_services(settings):
    # Loopback http push services: only tests may lift the public-https-only rule (netguard).
    settings.WEBPUSH_ALLOW_PRIVATE_ENDPOINTS = True
    services = [PushService(), PushService()]  # two origins: each must get its own VAPID audience
    yield services
    for service in services:
        service.stop()


class Browser:
    """The subscription side: its P-256 key pair and auth secret, and decryption."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.p256dh = b64(public)

    def message(self, i, endpoint) -> PushMessage:
        return message(i, platform="webpush", token=endpoint, webpush_p256dh=self.p256dh, webpush_auth=b64(self.auth))

    def decrypt(self, body: bytes) -> dict:
        return json.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"))


def check_vapid(authorization: str, vapid: Vapid, audience: str) -> None:
    assert authorization.startswith("vapid ")
    params = dict(part.strip().split("=", 1) for part in authorization[len("vapid ") :].split(","))
    public = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert unb64(params["k"]) == public
    header, claims, signature = params["t"].split(".")
    sig = unb64(signature)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    vapid.public_key.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if forged
    claims = json.loads(unb64(claims))
    assert claims["aud"] == audience
    assert claims["sub"] == "mailto:ops@example.com"


def test_webpush_end_to_end_against_a_loopback_push_service(push_services):
    vapid = Vapid()
    vapid.generate_keys()
    private_key = b64(vapid.private_key.private_numbers().private_value.to_bytes(32, "big"))
    backend = WebPushBackend(vapid_private_key=private_key, vapid_claims={"sub": "mailto:ops@example.com"})
    browser = Browser()
    first, second = push_services
    answers = ["ok", "gone", "missing", "busy", "bad", "down"]
    messages = [browser.message(1, f"{first.url}/push/ok"), browser.message(2, f"{second.url}/push/ok")]
    messages += [browser.message(10 + n, f"{first.url}/push/{answer}") for n, answer in enumerate(answers[1:])]
    messages.append(message(99))  # an FCM message: not this backend's

    results = backend.send(messages)

    assert [(r.outcome, r.error_code, r.retry_after) for r in results] == [
        (Outcome.OK, "", None),
        (Outcome.OK, "", None),
        (Outcome.DEAD_TOKEN, "410", None),
        (Outcome.DEAD_TOKEN, "404", None),
        (Outcome.TRANSIENT, "429", 7.0),
        (Outcome.PERMANENT, "400", None),
        (Outcome.TRANSIENT, "503", None),
        (Outcome.PERMANENT, "unsupported_platform", None),
    ]
    assert results[0].provider_message_id == f"{first.url}/messages/1"

    for service in push_services:
        path, headers, body = service.received[0]
        assert path == "/push/ok"
        assert headers["Content-Encoding"] == "aes128gcm"
        assert headers["TTL"] == "3600"
        assert headers["Topic"] in ("n1001", "n1002")
        check_vapid(headers["Authorization"], vapid, audience=service.url)
    payload = browser.decrypt(first.received[0][2])
    assert payload == {
        "title": "Back in stock",
        "body": "Item 1 is back",
        "tag": "n1001",
        "data": {
            "notification_id": "1001",
            "type": "back_in_stock",
            "item_ids": '["sku-1", "42"]',
            "link": "app://i/1",
        },
    }


def test_webpush_bad_subscription_keys_are_permanent_and_nothing_is_sent(push_services):
    vapid = Vapid()
    vapid.generate_keys()
    backend = WebPushBackend(vapid_private_key=vapid.private_pem().decode(), vapid_claims={"sub": "mailto:a@b.c"})
    [result] = backend.send(
        [
            message(
                1,
                platform="webpush",
                token=f"{push_services[0].url}/push/ok",
                webpush_p256dh="AAAA",
                webpush_auth="BBBB",
            )
        ]
    )
    assert (result.outcome, result.error_code) == (Outcome.PERMANENT, "invalid_subscription")
    assert push_services[0].received == []


def test_webpush_needs_a_vapid_key():
    with pytest.raises(ImproperlyConfigured):
        WebPushBackend(vapid_private_key="", vapid_claims={"sub": "mailto:a@b.c"})


# --- APNs: mapping and request building --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason", "outcome"),
    [
        ("200", None, Outcome.OK),
        ("410", "Unregistered", Outcome.DEAD_TOKEN),
        ("410", "ExpiredToken", Outcome.DEAD_TOKEN),
        ("400", "BadDeviceToken", Outcome.DEAD_TOKEN),
        ("400", "DeviceTokenNotForTopic", Outcome.DEAD_TOKEN),
        ("400", "PayloadEmpty", Outcome.PERMANENT),
        ("413", "PayloadTooLarge", Outcome.PERMANENT),
        ("403", "InvalidProviderToken", Outcome.PERMANENT),
        ("403", "ExpiredProviderToken", Outcome.TRANSIENT),
        ("429", "TooManyRequests", Outcome.TRANSIENT),
        ("500", "InternalServerError", Outcome.TRANSIENT),
        ("503", "ServiceUnavailable", Outcome.TRANSIENT),
    ],
)
def test_apns_answers_are_classified(status, reason, outcome):
    result = classify_apns_result(message(1, platform="apns"), NotificationResult("apns-id-1", status, reason))
    assert result.outcome == outcome
    assert result.retry_after is None
    if outcome == Outcome.OK:
        assert result.provider_message_id == "apns-id-1"
    else:
        assert result.error_code == f"{status} {reason}"


class FakeAPNs:
    """Stands in for aioapns.APNs, which needs Apple's HTTP/2 + TLS endpoint."""

    def __init__(self, answers):
        self.answers = answers
        self.requests = []

    async def send_notification(self, request):
        self.requests.append(request)
        answer = self.answers[request.device_token]
        if isinstance(answer, Exception):
            raise answer
        if answer == "hang":
            await asyncio.sleep(60)
        status, reason = answer
        return NotificationResult(request.notification_id, status, reason)


def test_apns_backend_builds_requests_and_maps_each_answer(monkeypatch):
    monkeypatch.setattr("campaigns.push.apns.REQUEST_TIMEOUT_SECONDS", 0.2)
    client = FakeAPNs(
        {
            "aa": ("200", None),
            "bb": ("410", "Unregistered"),
            "cc": APNsConnectionError("could not connect"),
            "dd": "hang",
        }
    )
    backend = ApnsBackend(client_factory=lambda: client)
    tokens = ["aa", "bb", "cc", "dd"]
    results = backend.send([message(i, platform="apns", token=t) for i, t in enumerate(tokens)])

    assert [r.outcome for r in results] == [Outcome.OK, Outcome.DEAD_TOKEN, Outcome.TRANSIENT, Outcome.TRANSIENT]
    assert [r.error_code for r in results[2:]] == ["ConnectionError", "TimeoutError"]
    sent = client.requests[0]
    assert results[0].provider_message_id == sent.notification_id
    assert sent.message == {
        "aps": {"alert": {"title": "Back in stock", "body": "Item 0 is back"}, "sound": "default"},
        "notification_id": "1000",
        "type": "back_in_stock",
        "item_ids": '["sku-1", "42"]',
        "link": "app://i/1",
    }
    assert (sent.collapse_key, sent.time_to_live, sent.push_type.value) == ("n1000", 3600, "alert")


def test_apns_backend_refuses_to_start_without_credentials():
    with override_settings(PUSH_BACKEND="apns"), pytest.raises(ImproperlyConfigured):
        get_backend()
