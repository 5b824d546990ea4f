"""What every push backend takes and returns. No SDK imports here: the web process loads this."""

import datetime
import email.utils
import enum
import json
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

PLATFORMS = ("fcm", "apns", "webpush")

# Web Push's Topic header (RFC 8030 §5.4) is the strictest of the three providers' collapse keys:
# at most 32 characters of the URL-safe base64 alphabet. APNs allows 64 bytes, FCM anything.
COLLAPSE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

# The Delivery columns these end up in (campaigns.models.Delivery).
MAX_ERROR_CODE = 64
MAX_ERROR_MESSAGE = 500


class Outcome(enum.StrEnum):
    OK = "ok"
    # Try again later (429, 5xx, timeouts, connection errors); honour retry_after when set.
    TRANSIENT = "transient"
    # The token will never work again: deactivate the device.
    DEAD_TOKEN = "dead_token"  # noqa: S105 (not a password)
    # This message will never be accepted as it is (other 4xx): do not retry, keep the device.
    PERMANENT = "permanent"


def push_data(
    *, notification_id: int | str, type_slug: str, item_ids: Iterable[str | int], link: str
) -> dict[str, str]:
    """The data payload every push carries (DESIGN.md, "Sending, exactly once in effect").

    FCM data values must be strings, so item_ids is a JSON-encoded list of external ids.
    """
    return {
        "notification_id": str(notification_id),
        "type": type_slug,
        "item_ids": json.dumps([str(i) for i in item_ids]),
        "link": link,
    }


@dataclass(frozen=True)
class PushMessage:
    """One notification to one device.

    ``token`` is the FCM registration token, the APNs device token, or the Web Push subscription's
    endpoint URL (with ``webpush_p256dh`` / ``webpush_auth`` from the same subscription).
    """

    delivery_id: int | str
    platform: str
    token: str
    title: str
    body: str
    data: dict[str, str]
    collapse_key: str
    ttl_seconds: int
    webpush_p256dh: str = ""
    webpush_auth: str = ""

    def __post_init__(self):
        # Checked here, per message: firebase-admin validates inside send_each and one bad message
        # would then fail the whole batch of 500 with a ValueError.
        if self.platform not in PLATFORMS:
            raise ValueError(f"platform must be one of {PLATFORMS}, not {self.platform!r}")
        if not self.token:
            raise ValueError("token is empty")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.data.items()):
            raise ValueError("data keys and values must all be strings (FCM data payload)")
        if not COLLAPSE_KEY_RE.match(self.collapse_key):
            raise ValueError(f"collapse_key must be 1-32 characters of A-Z a-z 0-9 _ -, not {self.collapse_key!r}")
        if not isinstance(self.ttl_seconds, int) or self.ttl_seconds < 0:
            raise ValueError("ttl_seconds must be an integer >= 0")
        if self.platform == "webpush" and not (self.webpush_p256dh and self.webpush_auth):
            raise ValueError("a webpush message needs the subscription's p256dh and auth keys")


@dataclass(frozen=True)
class PushResult:
    delivery_id: int | str
    outcome: Outcome
    provider_message_id: str = ""
    error_code: str = ""  # the provider's own code: UNREGISTERED, BadDeviceToken, 410, ...
    error_message: str = field(default="", repr=False)
    retry_after: float | None = None  # seconds, only when the provider sent Retry-After

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.OK

    @classmethod
    def success(cls, message: PushMessage, provider_message_id: str) -> "PushResult":
        return cls(message.delivery_id, Outcome.OK, provider_message_id=provider_message_id[:200])

    @classmethod
    def unexpected(cls, message: "PushMessage", exc: BaseException) -> "PushResult":
        """Any exception nobody foresaw, for one message (a malformed key the SDK chokes on):
        permanent for that message alone, so the rest of its batch is still sent."""
        logger.exception("push to delivery %s failed unexpectedly", message.delivery_id)
        return cls.failure(message, Outcome.PERMANENT, "unexpected_error", f"{type(exc).__name__}: {exc}")

    @classmethod
    def failure(
        cls, message: PushMessage, outcome: Outcome, code: str, text: str = "", retry_after: float | None = None
    ) -> "PushResult":
        return cls(
            message.delivery_id,
            outcome,
            error_code=str(code)[:MAX_ERROR_CODE],
            error_message=str(text)[:MAX_ERROR_MESSAGE],
            retry_after=retry_after,
        )


class PushBackend:
    """Sends a list of messages and answers one PushResult per message, in the same order.

    ``send`` never raises for a provider's answer or a network problem: those become results.
    It raises only for programming or configuration errors. Subclasses implement ``_send`` for
    the messages of their own ``platforms``; a message for another platform is answered
    ``permanent`` / ``unsupported_platform`` rather than silently dropped.
    """

    name = ""
    platforms: frozenset[str] = frozenset()

    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        mine = [m for m in messages if m.platform in self.platforms]
        sent = iter(self._send(mine) if mine else [])
        results = []
        for m in messages:
            if m.platform in self.platforms:
                results.append(next(sent))
            else:
                text = f"PUSH_BACKEND={self.name} does not deliver to {m.platform} devices"
                results.append(PushResult.failure(m, Outcome.PERMANENT, "unsupported_platform", text))
        return results

    def _send(self, messages: list[PushMessage]) -> list[PushResult]:
        raise NotImplementedError


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": an HTTP date is GMT anyway
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
