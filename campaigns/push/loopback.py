"""A loopback stand-in for FCM HTTP v1, for tests, benchmarks and the demo.

``manage.py loopback_gateway`` serves it; tests start it in a thread on port 0. Set
``FCM_ENDPOINT=http://127.0.0.1:PORT`` and the ``fcm`` backend's real firebase-admin code posts here.

It answers ``POST /v1/projects/{project}/messages:send`` with ``{"message": {...}}`` (and optional
``validate_only``) as FCM does: 200 ``{"name": "projects/{project}/messages/{id}"}``, or an error in
FCM's own shape ``{"error": {"code", "message", "status", "details": [{"@type": "…FcmError",
"errorCode"}]}}``. Which answer, by rule, first match wins:

- not a message FCM would accept (bad JSON, no single target, non-string data) → 400 INVALID_ARGUMENT
- the message's JSON is over 4096 bytes → 400 INVALID_ARGUMENT "Message is too big" (a payload error)
- token (or fid) ``dead-…`` → 404 NOT_FOUND / UNREGISTERED
- token ``invalid-…`` → 400 INVALID_ARGUMENT about the registration token
- token ``mismatch-…`` → 403 PERMISSION_DENIED / SENDER_ID_MISMATCH
- token ``throttle-…`` → 429 RESOURCE_EXHAUSTED / QUOTA_EXCEEDED with Retry-After
- with probability ``fail_rate``: 429 with Retry-After, 500 INTERNAL or 503 UNAVAILABLE, in equal parts
- otherwise 200.

The random draw for the n-th request carrying a given token is a hash of (seed, token, n), not a
shared random stream: firebase-admin sends a batch on up to 500 threads at once, so arrival order
varies, yet the same seed gives every message the same answer, and a retry draws afresh.

Every request, answered 200 or not, appends one JSON line to the record file:
``{"received_at", "status", "message"}`` (``message`` is null when the body had none).
"""

import collections
import hashlib
import json
import logging
import random
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.utils import timezone

logger = logging.getLogger(__name__)

SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
MAX_MESSAGE_BYTES = 4096

# status code, canonical status, FCM errorCode, message: as FCM answers them.
UNREGISTERED = (404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found.")
INVALID_TOKEN = (
    400,
    "INVALID_ARGUMENT",
    "INVALID_ARGUMENT",
    "The registration token is not a valid FCM registration token",
)
TOO_BIG = (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Message is too big")
SENDER_ID_MISMATCH = (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch")
QUOTA_EXCEEDED = (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for quota metric 'Send requests'.")
INTERNAL = (500, "INTERNAL", "INTERNAL", "Internal error encountered.")
UNAVAILABLE = (503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable.")

TOKEN_RULES = {
    "dead-": UNREGISTERED,
    "invalid-": INVALID_TOKEN,
    "mismatch-": SENDER_ID_MISMATCH,
    "throttle-": QUOTA_EXCEEDED,
}
RANDOM_FAILURES = (QUOTA_EXCEEDED, INTERNAL, UNAVAILABLE)


class LoopbackGateway:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        record: str | None = None,
        fail_rate: float = 0.0,
        latency_ms: int = 0,
        seed: int | None = None,
        retry_after: int = 1,
    ):
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        self.fail_rate = fail_rate
        self.latency = latency_ms / 1000
        self.seed = seed if seed is not None else random.randrange(2**32)
        self.retry_after = retry_after
        self.stats: collections.Counter[int] = collections.Counter()  # answers by HTTP status
        self._seen: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._record = open(record, "a", encoding="utf-8", buffering=1) if record else None  # noqa: SIM115
        self._thread: threading.Thread | None = None
        self.server = _Server((host, port), _Handler)
        self.server.gateway = self

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.1)

    def start(self) -> "LoopbackGateway":
        """Serves in a daemon thread (for tests); stop() ends it."""
        self._thread = threading.Thread(target=self.serve_forever, name="fcm-loopback", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join()
            self._thread = None
        self.server.server_close()
        if self._record:
            self._record.close()
            self._record = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def answer(self, project: str, raw: bytes) -> tuple[int, dict, dict[str, str]]:
        """(status, JSON body, extra headers) for one send request; records it."""
        if self.latency:
            time.sleep(self.latency)
        message, status, body, headers = None, 200, {}, {}
        try:
            request = json.loads(raw)
            message = request.get("message") if isinstance(request, dict) else None
        except ValueError:
            request = None
        problem = _invalid(message)
        if problem:
            status, body = 400, _error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", problem)
        else:
            failure = self._failure(message)
            if failure:
                status, body = failure[0], _error(*failure)
                if failure is QUOTA_EXCEEDED:
                    headers["Retry-After"] = str(self.retry_after)
            elif request.get("validate_only"):
                body = {"name": f"projects/{project}/messages/fake_message_id"}
            else:
                body = {"name": f"projects/{project}/messages/0:{time.time_ns() // 1000}%{uuid.uuid4().hex[:16]}"}
        self._write(status, message if isinstance(message, dict) else None)
        return status, body, headers

    def _failure(self, message: dict) -> tuple | None:
        if len(json.dumps(message, separators=(",", ":")).encode()) > MAX_MESSAGE_BYTES:
            return TOO_BIG
        target = message.get("token") or message.get("fid") or message.get("topic") or message.get("condition")
        for prefix, failure in TOKEN_RULES.items():
            if target.startswith(prefix):
                return failure
        with self._lock:
            n = self._seen[target]
            self._seen[target] += 1
        digest = hashlib.sha256(f"{self.seed}:{target}:{n}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 < self.fail_rate:
            return RANDOM_FAILURES[digest[8] % len(RANDOM_FAILURES)]
        return None

    def _write(self, status: int, message: dict | None) -> None:
        line = json.dumps({"received_at": timezone.now().isoformat(), "status": status, "message": message})
        with self._lock:
            self.stats[status] += 1
            if self._record:
                self._record.write(line + "\n")


def _invalid(message) -> str:
    """Why FCM would refuse this request outright, or ''."""
    if not isinstance(message, dict):
        return "Invalid JSON payload received. Expected a 'message' object."
    targets = [message[key] for key in ("token", "fid", "topic", "condition") if message.get(key)]
    if len(targets) != 1 or not isinstance(targets[0], str):
        return "Exactly one of token, fid, topic or condition must be specified, as a string."
    data = message.get("data", {})
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return "Invalid value at 'message.data': every value must be a string."
    return ""


def _error(code: int, status: str, fcm_code: str, text: str) -> dict:
    details = [{"@type": FCM_ERROR_TYPE, "errorCode": fcm_code}]
    if (code, status, fcm_code, text) == INVALID_TOKEN:
        details.append(
            {
                "@type": BAD_REQUEST_TYPE,
                "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}],
            }
        )
    return {"error": {"code": code, "message": text, "status": status, "details": details}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # send_each opens up to 500 connections at once; with the default backlog of 5 the kernel
    # drops SYNs and the client waits a second or more to resend them.
    request_queue_size = 1024
    gateway: LoopbackGateway


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps firebase-admin's pooled connections open between requests.
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self):  # noqa: N802 (http.server's naming)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = SEND_PATH.match(self.path.split("?", 1)[0])
        if not match:
            self._reply(404, _error(404, "NOT_FOUND", "UNSPECIFIED_ERROR", f"No such method: {self.path}"), {})
            return
        self._reply(*self.server.gateway.answer(match.group(1), raw))

    def _reply(self, status: int, body: dict, headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        logger.debug("%s " + format, self.address_string(), *args)
