"""The React Native SDK (sdk/react-native), built and run in Node, against a live Optimus server
on the test database: register, track, receive a notification the server planned and dispatched
through the log backend, report delivered / opened / dismissed, read the inbox; then the server is
stopped in the middle of the queue and restarted: nothing lost, nothing stored twice.

Also: the SDK's generated API types match the server's OpenAPI schema (drift fails here).

Needs node and npm (a missing one is a failure, not a skip); builds the SDK when it is not built.
"""

import contextlib
import datetime as dt
import importlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from campaigns import dispatcher, planner
from campaigns.models import Feedback, Notification
from campaigns.push import log as log_backend
from devices.models import Customer, Device
from devices.services import api_key_create
from recommender.models import Event, Segment
from tests.factories import CustomerProfileFactory

ROOT = Path(__file__).resolve().parent.parent
SDK = ROOT / "sdk" / "react-native"
CUSTOMER = "sdk-e2e-1"
FCM_TOKEN = "e2e-fcm-token-1"


# --- building the SDK -----------------------------------------------------------------------


def npm_tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm are needed for the SDK tests (Node 18+; Debian: apt-get install nodejs npm)")
    return node, npm


def newest(paths) -> float:
    return max((p.stat().st_mtime for p in paths if p.is_file()), default=0.0)


@pytest.fixture(scope="session")
def sdk_build() -> str:
    """npm ci when node_modules is missing or older than the lock file; npm run build when dist/
    is missing or older than the sources. Returns the node binary."""
    node, npm = npm_tools()
    marker = SDK / "node_modules" / ".package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < (SDK / "package-lock.json").stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SDK, check=True, timeout=600)
    built = SDK / "dist" / "index.js"
    sources = [*(SDK / "src").rglob("*.ts"), SDK / "tsconfig.json", SDK / "tsconfig.build.json"]
    if not built.exists() or built.stat().st_mtime < newest(sources):
        subprocess.run([npm, "run", "build"], cwd=SDK, check=True, timeout=300)
    return node


def test_sdk_api_types_match_the_server_schema(sdk_build, tmp_path):
    schema = tmp_path / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(schema))
    check = subprocess.run(
        [sdk_build, "scripts/gen-api-types.mjs", "--check", str(schema)],
        cwd=SDK,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr + check.stdout


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shared_database_url() -> str:
    db = django_settings.DATABASES["default"]
    user, password = quote(db["USER"] or "", safe=""), quote(db["PASSWORD"] or "", safe="")
    return f"mysql://{user}:{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{db['NAME']}"


class Server:
    """gunicorn on the test database, in its own process so that it can be killed and restarted."""

    def __init__(self, log_file: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = log_file
        self.process: subprocess.Popen | None = None
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "CACHE_URL")},
            "DATABASE_URL": shared_database_url(),
            "OPTIMUS_ENV": "test",
            "PUSH_BACKEND": "log",
            "THROTTLE_MOBILE_RATE": "none",
            "THROTTLE_SERVER_RATE": "none",
            "DB_CONN_MAX_AGE": "0",
        }

    def start(self) -> None:
        with open(self.log_file, "a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "optimus_site.wsgi",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    "1",
                    "--threads",
                    "4",
                    "--graceful-timeout",
                    "2",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes the workers too
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}:\n{self.log_file.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/livez", timeout=2) as answer:  # noqa: S310 (loopback)
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        pytest.fail("the server did not answer within 60 s")

    def kill(self) -> None:
        """Stops it the hard way (a crash or a deploy): requests in flight get no answer."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def call(self, method: str, path: str, body=None, api_key: str = "") -> tuple[int, dict]:
        request = urllib.request.Request(  # noqa: S310 (loopback)
            f"{self.url}/api/v1{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Api-Key {api_key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
                text = answer.read()
                return answer.status, json.loads(text) if text else {}
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")


# --- the phone -------------------------------------------------------------------------------


class Phone:
    """The SDK in Node (sdk/react-native/e2e/driver.js), one JSON line per command."""

    def __init__(self, node: str):
        self.process = subprocess.Popen(
            [node, str(SDK / "e2e" / "driver.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue = queue.Queue()
        self.events: queue.Queue = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        assert self.wait_event("ready")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            message = json.loads(line)
            (self.events if "event" in message else self.lines).put(message)

    def send(self, cmd: str, **args) -> int:
        self.next_id += 1
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"id": self.next_id, "cmd": cmd, **args}) + "\n")
        self.process.stdin.flush()
        return self.next_id

    def answer(self, request_id: int, timeout: float = 60):
        deadline = time.monotonic() + timeout
        pending = []
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no answer from the phone to request {request_id} within {timeout} s")
                try:
                    message = self.lines.get(timeout=remaining)
                except queue.Empty:
                    continue
                if message["id"] == request_id:
                    if not message["ok"]:
                        raise AssertionError(f"the phone failed: {message['error']}")
                    return message["result"]
                pending.append(message)
        finally:
            for message in pending:
                self.lines.put(message)

    def __call__(self, cmd: str, timeout: float = 60, **args):
        return self.answer(self.send(cmd, **args), timeout)

    def wait_event(self, name: str, timeout: float = 30) -> dict:
        message = self.events.get(timeout=timeout)
        assert message["event"] == name, message
        return message

    def close(self) -> str:
        if self.process.poll() is None:
            with contextlib.suppress(AssertionError):
                self("exit", timeout=5)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.stderr.read() if self.process.stderr else ""


# --- the test --------------------------------------------------------------------------------


def push_data_for(token: str) -> dict:
    """The data payload the log backend recorded for this device (what FCM would have carried)."""
    sent = [m for m in log_backend.outbox if m["token"] == token]
    assert len(sent) == 1, sent
    return sent[0]["data"]


@pytest.fixture
def server(tmp_path):
    if connection.vendor != "mysql":
        pytest.skip("the SDK end-to-end test needs a server database (DATABASE_URL=mysql://…) shared with gunicorn")
    srv = Server(tmp_path / "server.log")
    srv.start()
    yield srv
    srv.kill()


@pytest.fixture
def phone(sdk_build):
    p = Phone(sdk_build)
    yield p
    p.close()


@pytest.fixture
def seed_data(transactional_db):
    """The segments, notification types and policies the migrations seed. A transactional test that
    ran before this one (campaigns/tests/test_planning.py has one) leaves the tables flushed, and
    serialized_rollback cannot restore them after that flush re-created the content types; so the
    seed migrations' own functions run again when the seed is missing."""
    if not Segment.objects.exists():
        from django.apps import apps

        importlib.import_module("recommender.migrations.0002_seed_segments").seed_segments(apps, None)
        importlib.import_module("campaigns.migrations.0002_seed_types_and_policies").seed(apps, None)


@pytest.mark.django_db(transaction=True)
def test_the_sdk_against_a_live_server(seed_data, server, phone, tmp_path, settings):
    settings.PUSH_BACKEND = "log"
    settings.PLAN_EXPLORATION = 0.0
    settings.PLAN_CONTROL_SHARE = 0.0
    settings.PLAN_MIN_EXPECTED_VALUE = -1.0

    # The shop's backend: an API key, the catalog, the customer and their mobile token.
    _, api_key = api_key_create(name="sdk e2e")
    items = [
        {"external_id": f"sku-{i}", "title": f"Product {i}", "price": "9.90", "category": "c1", "available": True}
        for i in range(1, 6)
    ]
    assert server.call("POST", "/items/bulk", {"items": items}, api_key)[1]["accepted"] == 5
    assert server.call("PUT", f"/customers/{CUSTOMER}", {"timezone": "UTC"}, api_key)[0] == 201
    status, minted = server.call("POST", f"/customers/{CUSTOMER}/token", None, api_key)
    assert status == 201
    customer = Customer.objects.get(external_id=CUSTOMER)

    # The app starts: the Firebase adapter registers the FCM token; the person browses and buys.
    phone(
        "init",
        baseUrl=server.url,
        customerToken=minted["token"],
        storageFile=str(tmp_path / "queue.json"),
        fcmToken=FCM_TOKEN,
    )
    phone(
        "track",
        events=[
            {"type": "app_open"},
            {"type": "view", "itemId": "sku-1"},
            {"type": "addtocart", "itemId": "sku-1"},
            {"type": "transaction", "itemId": "sku-1", "amount": 19.9},
        ],
    )
    assert phone("idle", timeoutMs=20_000) == {"idle": True, "pending": 0}
    (device,) = Device.objects.filter(customer=customer)
    assert device.platform == "fcm" and device.app_version == "1.2.3"
    events = Event.objects.filter(customer=customer).order_by("occurred_at", "type")
    assert sorted(e.type for e in events) == ["addtocart", "app_open", "transaction", "view"]
    assert str(events.get(type="transaction").amount) == "19.90"

    # The server decides to notify them, and sends it (log backend).
    first = [d * 24 + (timezone.now().hour + 1) % 24 for d in range(7)]
    CustomerProfileFactory(
        customer=customer,
        segment=Segment.objects.get(slug="loyal"),
        top_items=[{"item_id": f"sku-{i}", "score": 1 - i / 10, "reason": "viewed"} for i in (2, 3, 4)],
        best_hours=first + [h for h in range(168) if h not in first],
        predicted_open_rate=0.3,
        computed_at=timezone.now(),
    )
    assert planner.plan(now=timezone.now()).planned == 1
    (note,) = Notification.objects.filter(customer=customer)
    # "Send now" (what a marketer's admin action does): due at once instead of at the chosen hour.
    Notification.objects.filter(pk=note.pk).update(scheduled_for=timezone.now() - dt.timedelta(seconds=1))
    assert dispatcher.dispatch(now=timezone.now()).sent == 1
    data = push_data_for(FCM_TOKEN)
    assert data["notification_id"] == str(note.pk) and json.loads(data["item_ids"]) == note.item_ids

    # The phone: the push arrives (foreground), is in the inbox, is opened, then swiped away.
    phone("pushForeground", data=data)
    inbox = phone("inbox")
    assert [n["id"] for n in inbox["results"]] == [note.pk] and inbox["count"] == 1
    assert inbox["results"][0]["title"] == note.title and inbox["results"][0]["item_ids"] == note.item_ids
    phone("pushOpened", data=data)
    phone("notifeeDismissed", data=data)
    assert phone("idle", timeoutMs=20_000)["idle"]
    feedback = {f.action: f for f in Feedback.objects.filter(notification=note)}
    assert sorted(feedback) == ["delivered", "dismissed", "opened"]
    assert feedback["delivered"].app_state == "foreground" and feedback["opened"].app_state == "background"
    assert (feedback["opened"].battery, feedback["opened"].charging, feedback["opened"].network) == (64, False, "wifi")
    assert feedback["opened"].os == "Android 15"
    after = phone("inbox")["results"][0]
    assert after["delivered_at"] and after["opened_at"] and after["dismissed_at"]

    # The server goes down in the middle of the queue: 1,200 events (three batches) and a repeated
    # "opened". The first batch is answered, then the server is killed; it comes back later, and
    # the answer to the next batch is lost on the way back (stored, but the phone never heard).
    before = Event.objects.filter(customer=customer).count()
    phone("offline")  # queue everything first, so that the batches are full
    phone("track", events=[{"type": "view", "itemId": f"sku-{1 + i % 5}"} for i in range(1200)])
    phone("opened", notificationId=note.pk)
    phone("holdAfter", path="/events", count=1)
    phone("online")
    phone.wait_event("held")
    server.kill()
    assert Event.objects.filter(customer=customer).count() == before + 500
    phone("release")
    time.sleep(1.5)  # the phone retries against a dead server, with backoff
    assert phone("state")["pending"] == 701  # two batches and the feedback: nothing given up
    phone("loseNextAnswer", path="/events")
    server.start()
    assert phone("idle", timeoutMs=60_000) == {"idle": True, "pending": 0}

    assert Event.objects.filter(customer=customer).count() == before + 1200
    assert Feedback.objects.filter(notification=note).count() == 3
    state = phone("state")
    exchanges = [e for e in state["log"] if e["path"] == "/events"]
    assert any(e["status"] == "network-error" for e in exchanges), "the phone did hit the dead server"
    lost = [e for e in exchanges if e.get("lost")]
    assert len(lost) == 1 and lost[0]["accepted"] == 500
    # The lost batch came back as 500 duplicates; nothing was rejected, nothing stored twice.
    assert sum(e.get("accepted", 0) for e in exchanges) == before + 1200
    assert sum(e.get("duplicates", 0) for e in exchanges) == 500
    assert sum(e.get("rejected", 0) for e in exchanges) == 0
    feedback_calls = [e for e in state["log"] if e["path"] == "/me/feedback" and isinstance(e["status"], int)]
    # The queued reports go in batches; three actions stored once each, nothing rejected.
    assert feedback_calls and {e["status"] for e in feedback_calls} == {200}
    assert sum(e["accepted"] for e in feedback_calls) == 3
    assert sum(e["rejected"] for e in feedback_calls) == 0
    assert state["errors"] == []
