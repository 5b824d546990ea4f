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

import asyncio
import collections
import hashlib
import json
import logging
import random
import re
import socket
import threading
import time
import uuid
from http import HTTPStatus

from django.utils import timezone

logger = logging.getLogger(__name__)

SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
MAX_MESSAGE_BYTES = 4096
MAX_HEAD_BYTES = 64 * 1024

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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: set[_Connection] = set()
        # Bound here, so that the port is known (and a taken one fails) before serving.
        self._socket = socket.create_server((host, port), backlog=1024, reuse_port=False)

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        """Serves on this thread's own event loop until stop() (or an exception, e.g. Ctrl-C)."""
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(loop.create_server(lambda: _Connection(self), sock=self._socket))
        self._loop = loop
        try:
            loop.run_forever()
        finally:
            self._loop = None
            server.close()
            for connection in list(self._connections):
                if connection.transport is not None:
                    connection.transport.abort()  # now, without flushing what a client did not read
            loop.run_until_complete(asyncio.sleep(0))  # let the transports finish closing
            loop.close()

    def start(self) -> "LoopbackGateway":
        """Serves in a daemon thread (for tests); stop() ends it."""
        self._thread = threading.Thread(target=self.serve_forever, name="fcm-loopback", daemon=True)
        self._thread.start()
        while self._loop is None and self._thread.is_alive():
            time.sleep(0.001)
        if self._loop is None:
            raise RuntimeError("the loopback gateway's thread stopped before serving")
        return self

    def stop(self) -> None:
        if self._thread is not None:
            loop = self._loop
            if loop is not None:
                loop.call_soon_threadsafe(loop.stop)
            self._thread.join()
            self._thread = None
        self._socket.close()
        if self._record:
            self._record.close()
            self._record = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def answer(self, project: str, raw: bytes) -> tuple[int, dict, dict[str, str]]:
        """(status, JSON body, extra headers) for one send request; records it. (The connection
        adds the latency, without holding up the others.)"""
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


class _Connection(asyncio.Protocol):
    """One client connection: HTTP/1.1 requests with a Content-Length body, kept alive.

    An asyncio protocol rather than http.server's thread per connection: firebase-admin opens
    hundreds of connections at once, and the gateway must not be what a benchmark measures."""

    def __init__(self, gateway: "LoopbackGateway"):
        self.gateway = gateway
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.replies_due = 0  # answers delayed by latency still to be written
        self.close_when_done = False

    def connection_made(self, transport):
        self.transport = transport
        self.gateway._connections.add(self)

    def connection_lost(self, exc):
        self.transport = None
        self.gateway._connections.discard(self)

    def eof_received(self):
        # The client will send nothing more; answers it is still owed go out first.
        self.close_when_done = True
        return bool(self.replies_due)  # True keeps the transport open for them

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and not self.close_when_done:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    self._fail(431, "Request header fields too large.")
                return
            try:
                request_line, *lines = self.buffer[:end].decode("latin-1").split("\r\n")
                method, target, version = request_line.split(" ", 2)
                headers = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in lines)}
                length = int(headers.get("content-length") or 0)
                if length < 0:
                    raise ValueError(length)
            except ValueError:
                self._fail(400, "Malformed HTTP request.")
                return
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._fail(411, "A Content-Length is required.")
                return
            if len(self.buffer) < end + 4 + length:
                return  # the body is still on its way
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            if version != "HTTP/1.1" or headers.get("connection", "").lower() == "close":
                self.close_when_done = True  # answer this one, then close; read nothing after it
            self._handle(method, target, body)

    def _handle(self, method: str, target: str, body: bytes) -> None:
        match = SEND_PATH.match(target.split("?", 1)[0])
        if method != "POST" or not match:
            self._send(404, _error(404, "NOT_FOUND", "UNSPECIFIED_ERROR", f"No such method: {method} {target}"), {})
        else:
            self._send(*self.gateway.answer(match.group(1), body))

    def _fail(self, status: int, text: str) -> None:
        self.close_when_done = True
        self.buffer.clear()
        self._send(status, _error(status, "INVALID_ARGUMENT", "INVALID_ARGUMENT", text), {})

    def _send(self, status: int, body: dict, headers: dict[str, str]) -> None:
        if self.gateway.latency:
            # Every answer on a connection waits the same time, so they still leave in order.
            self.replies_due += 1
            asyncio.get_running_loop().call_later(self.gateway.latency, self._write_delayed, status, body, headers)
        else:
            self._write(status, body, headers)

    def _write_delayed(self, status: int, body: dict, headers: dict[str, str]) -> None:
        self.replies_due -= 1
        self._write(status, body, headers)

    def _write(self, status: int, body: dict, headers: dict[str, str]) -> None:
        if self.transport is None:
            return  # the client went away before its answer
        last = self.close_when_done and not self.replies_due
        data = json.dumps(body).encode()
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Content-Type: application/json; charset=UTF-8",
                f"Content-Length: {len(data)}"]  # fmt: skip
        head += [f"{name}: {value}" for name, value in headers.items()]
        if last:
            head.append("Connection: close")
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        if last:
            self.transport.close()
