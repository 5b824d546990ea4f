"""Apple Push Notification service through aioapns (django-push-notifications' apns_async client).

Credentials come from PUSH_NOTIFICATIONS_SETTINGS as django-push-notifications reads them:
APNS_AUTH_KEY_PATH + APNS_AUTH_KEY_ID + APNS_TEAM_ID (token auth) or APNS_CERTIFICATE, with
APNS_TOPIC (the bundle id) and APNS_USE_SANDBOX.
"""

import asyncio
import logging
from collections.abc import Callable

from campaigns.push.base import Outcome, PushBackend, PushMessage, PushResult

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 10
# 410 is "no longer active"; these reasons come with 400 but mean the same for us.
DEAD_REASONS = frozenset({"BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic", "ExpiredToken"})
# 403: aioapns signs a fresh provider token on its next request, so a retry succeeds.
TRANSIENT_REASONS = frozenset({"ExpiredProviderToken"})


class ApnsBackend(PushBackend):
    name = "apns"
    platforms = frozenset({"apns"})

    def __init__(self, *, client_factory: Callable | None = None):
        if client_factory is None:
            from push_notifications import apns_async
            from push_notifications.conf import get_manager

            # Read the settings now so a missing key fails at start-up (ImproperlyConfigured); the
            # client itself must be created inside the event loop that uses it.
            apns_async._get_credentials()
            get_manager().get_apns_topic()
            # Its bulk sender is not used: it sends one payload to many tokens, folds every failure
            # into a single APNSError, and deactivates APNSDevice rows itself.
            client_factory = apns_async._create_client
        self._client_factory = client_factory

    def _send(self, messages: list[PushMessage]) -> list[PushResult]:
        # A new loop and connection per batch, as django-push-notifications does: a Celery worker
        # has no event loop of its own to keep one in.
        return asyncio.run(self._send_all(messages))

    async def _send_all(self, messages: list[PushMessage]) -> list[PushResult]:
        client = self._client_factory()
        try:
            return list(await asyncio.gather(*(self._send_one(client, m) for m in messages)))
        finally:
            pool = getattr(client, "pool", None)
            if pool is not None:
                pool.close()

    async def _send_one(self, client, m: PushMessage) -> PushResult:
        from aioapns import ConnectionError as APNsConnectionError
        from aioapns import NotificationRequest, PushType

        request = NotificationRequest(
            device_token=m.token,
            # Custom keys sit beside "aps"; the app reads notification_id, type, item_ids, link there.
            message={"aps": {"alert": {"title": m.title, "body": m.body}, "sound": "default"}, **m.data},
            time_to_live=m.ttl_seconds,
            collapse_key=m.collapse_key,
            push_type=PushType.ALERT,
        )
        try:
            result = await asyncio.wait_for(client.send_notification(request), timeout=REQUEST_TIMEOUT_SECONDS)
        except (TimeoutError, APNsConnectionError, OSError) as exc:
            return PushResult.failure(m, Outcome.TRANSIENT, type(exc).__name__, str(exc))
        except Exception as exc:  # anything else about this one message must not fail the gather
            return PushResult.unexpected(m, exc)
        try:
            return classify_apns_result(m, result)
        except Exception as exc:
            return PushResult.unexpected(m, exc)


def classify_apns_result(message: PushMessage, result) -> PushResult:
    """An aioapns NotificationResult (status "200", "410", … and Apple's reason) → PushResult.

    APNs sends no Retry-After, so retry_after stays None.
    """
    if result.is_successful:
        return PushResult.success(message, result.notification_id)
    status = int(result.status) if str(result.status).isdigit() else None
    reason = result.description or ""
    code = f"{result.status} {reason}".strip()
    if status == 410 or reason in DEAD_REASONS:
        return PushResult.failure(message, Outcome.DEAD_TOKEN, code, reason)
    if status is None or status == 429 or status >= 500 or reason in TRANSIENT_REASONS:
        return PushResult.failure(message, Outcome.TRANSIENT, code, reason)
    return PushResult.failure(message, Outcome.PERMANENT, code, reason)
