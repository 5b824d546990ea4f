"""Web Push (RFC 8030, encrypted per RFC 8291, VAPID per RFC 8292) through pywebpush.

The VAPID key and claims come from django-push-notifications' settings (WP_PRIVATE_KEY,
WP_CLAIMS: WEBPUSH_PRIVATE_KEY / WEBPUSH_SUBJECT in the environment). Its own
``webpush_send_message`` is not used: it takes a device row and saves it, and rewrites any
endpoint not starting with https:// into its legacy WP_POST_URL form.
"""

import json
import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from campaigns.push.base import Outcome, PushBackend, PushMessage, PushResult, parse_retry_after
from optimus_site import netguard

HTTP_TIMEOUT_SECONDS = 10


class WebPushBackend(PushBackend):
    name = "webpush"
    platforms = frozenset({"webpush"})

    def __init__(self, *, vapid_private_key: str | None = None, vapid_claims: dict | None = None):
        from push_notifications.conf import get_manager
        from py_vapid import Vapid

        if vapid_private_key is None:
            vapid_private_key = get_manager().get_wp_private_key()
        if vapid_claims is None:
            vapid_claims = get_manager().get_wp_claims()
        if not vapid_private_key:
            raise ImproperlyConfigured("PUSH_BACKEND=webpush needs WEBPUSH_PRIVATE_KEY (a VAPID key or its file)")
        if not (vapid_claims or {}).get("sub"):
            raise ImproperlyConfigured("PUSH_BACKEND=webpush needs a VAPID subject (WEBPUSH_SUBJECT=mailto:…)")
        # Parsed once here, so a bad key fails at start-up rather than as one failure per message.
        if os.path.isfile(vapid_private_key):
            self._vapid = Vapid.from_file(vapid_private_key)
        elif "-----BEGIN" in vapid_private_key:
            self._vapid = Vapid.from_pem(vapid_private_key.encode())
        else:  # base64url of the raw 32-byte key or of its DER form, as `vapid --gen` prints
            self._vapid = Vapid.from_string(vapid_private_key)
        self._claims = dict(vapid_claims)
        # Endpoints are URLs app users chose: connect only to public addresses of the allowed push
        # services, resolved and checked here at send time, and never follow a redirect.
        self._allow_private = settings.WEBPUSH_ALLOW_PRIVATE_ENDPOINTS
        self._session = netguard.pinned_session(allow_private=self._allow_private)

    def _send(self, messages: list[PushMessage]) -> list[PushResult]:
        import requests
        from pywebpush import WebPushException, webpush

        results = []
        for m in messages:
            payload = {"title": m.title, "body": m.body, "tag": m.collapse_key, "data": m.data}
            try:
                self.check_endpoint(m.token)
                response = webpush(
                    subscription_info={
                        "endpoint": m.token,
                        "keys": {"p256dh": m.webpush_p256dh, "auth": m.webpush_auth},
                    },
                    data=json.dumps(payload, ensure_ascii=False),
                    vapid_private_key=self._vapid,
                    # A fresh copy each time: webpush() writes "aud" (this endpoint's origin) into the
                    # dict it is given, and a shared dict would carry the first push service's
                    # audience to every other one, which then answers 403.
                    vapid_claims=dict(self._claims),
                    ttl=m.ttl_seconds,
                    # Topic: the push service keeps only the newest undelivered message per topic.
                    headers={"Topic": m.collapse_key, "Urgency": "normal"},
                    timeout=HTTP_TIMEOUT_SECONDS,
                    requests_session=self._session,
                )
            except netguard.UnsafeDestination as exc:
                # Registered before endpoints were checked, or a name that now resolves inward.
                results.append(PushResult.failure(m, Outcome.PERMANENT, "unsafe_endpoint", f"endpoint {exc}"))
            except WebPushException as exc:
                if exc.response is None:
                    # Raised before any request ("Invalid p256dh key specified"): the subscription's
                    # keys are unusable. Permanent rather than dead_token: it may be our bug as much
                    # as the browser's, and a dead_token would deactivate the device.
                    results.append(PushResult.failure(m, Outcome.PERMANENT, "invalid_subscription", exc.message))
                else:
                    results.append(classify_webpush_error(m, exc.status_code, exc.retry_after, exc.message))
            except requests.RequestException as exc:
                results.append(PushResult.failure(m, Outcome.TRANSIENT, type(exc).__name__, str(exc)))
            except ValueError as exc:  # keys that decode but are not a P-256 point
                results.append(PushResult.failure(m, Outcome.PERMANENT, "invalid_subscription", str(exc)))
            except Exception as exc:  # e.g. IndexError from pywebpush for p256dh "=": this message only
                results.append(PushResult.unexpected(m, exc))
            else:
                # Push services name the stored message in Location (RFC 8030 §5).
                results.append(PushResult.success(m, response.headers.get("Location", "")))
        return results

    def check_endpoint(self, endpoint: str) -> None:
        if self._allow_private:  # tests against a loopback push service
            return
        netguard.check_url(endpoint, allowed_hosts=settings.WEBPUSH_ALLOWED_HOSTS)


def classify_webpush_error(message: PushMessage, status: int, retry_after: str | None, text: str) -> PushResult:
    """A push service's HTTP answer (above 202) → PushResult."""
    if status in (404, 410):  # the subscription expired or was unsubscribed
        return PushResult.failure(message, Outcome.DEAD_TOKEN, str(status), text)
    if status == 429 or status >= 500:
        return PushResult.failure(message, Outcome.TRANSIENT, str(status), text, parse_retry_after(retry_after))
    return PushResult.failure(message, Outcome.PERMANENT, str(status), text)
