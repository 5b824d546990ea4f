"""Firebase Cloud Messaging (HTTP v1) through firebase-admin's ``messaging.send_each``.

Credentials, in order: FCM_ENDPOINT set (the loopback gateway) → anonymous credentials that add
no token and never reach Google; FCM_CREDENTIALS_FILE → that service-account JSON file; otherwise
Google Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, or the metadata server).
"""

import logging
import os
import time
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from campaigns.push.base import Outcome, PushBackend, PushMessage, PushResult, chunks, parse_retry_after

logger = logging.getLogger(__name__)

FCM_BASE_URL = "https://fcm.googleapis.com"
LOOPBACK_PROJECT_ID = "optimus-local"
# send_each refuses more than 500 messages in one call.
BATCH_SIZE = 500
HTTP_TIMEOUT_SECONDS = 30

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


class FcmBackend(PushBackend):
    name = "fcm"
    platforms = frozenset({"fcm"})

    def __init__(self, *, endpoint: str = "", project_id: str = "", credentials_file: str = ""):
        import firebase_admin
        import requests.adapters
        from firebase_admin import credentials, messaging
        from google.auth.credentials import AnonymousCredentials
        from urllib3.util.retry import Retry

        endpoint = endpoint.rstrip("/")
        if endpoint:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
                raise ImproperlyConfigured(f"FCM_ENDPOINT={endpoint!r} must look like http://127.0.0.1:9099")
            credential = AnonymousCredentials()
            project_id = project_id or LOOPBACK_PROJECT_ID
        elif credentials_file:
            credential = credentials.Certificate(credentials_file)
        else:
            credential = credentials.ApplicationDefault()
        base_url = endpoint or FCM_BASE_URL

        options = {"httpTimeout": HTTP_TIMEOUT_SECONDS}
        if project_id:  # otherwise firebase-admin takes it from the credentials
            options["projectId"] = project_id
        # A named app of our own: the default app may belong to someone else (django-push-notifications'
        # FIREBASE_APP), and initialize_app refuses a name twice, so an identical config reuses it.
        app_name = f"optimus-push {base_url} {project_id} {credentials_file}"
        try:
            self._app = firebase_admin.get_app(app_name)
        except ValueError:
            self._app = firebase_admin.initialize_app(credential, options, name=app_name)

        # Creating the service loads the credentials now, so a misconfiguration fails at start-up.
        service = messaging._get_messaging_service(self._app)
        if not (hasattr(service, "_fcm_url") and hasattr(service, "_client")):
            raise ImproperlyConfigured("firebase-admin's messaging internals changed: see campaigns/push/fcm.py")
        # firebase-admin 7.7.0 formats the send URL once, in _MessagingService.__init__, from the class
        # attribute FCM_URL = "https://fcm.googleapis.com/v1/projects/{0}/messages:send"; there is no
        # option for it. Setting the class attribute would redirect every Firebase app in the process,
        # so we overwrite this one service's copy. send_each posts each message there individually
        # (a thread per message); the old /batch endpoint is no longer used.
        service._fcm_url = f"{base_url}/v1/projects/{self._app.project_id}/messages:send"
        self.url = service._fcm_url

        # Exactly one HTTP request per message per send(). firebase-admin's default adapter retries
        # 500/503 four times and sleeps out a 429's or 503's Retry-After inside send_each: minutes of
        # a blocked worker, and attempts nobody counts. The dispatcher owns retries (backoff with
        # jitter, Retry-After, only what failed). A failed *connect* is retried once: that request
        # never left, so it cannot duplicate a push. Read errors are not retried: FCM may have it.
        one_attempt = Retry(
            total=None,
            connect=1,
            read=0,
            redirect=False,
            status=0,
            other=0,
            status_forcelist=(),
            respect_retry_after_header=False,
            raise_on_status=False,
            allowed_methods=None,
        )
        # send_each runs up to 500 requests at once; a smaller pool would open and throw away
        # connections on every batch (and log a warning for each).
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=BATCH_SIZE, max_retries=one_attempt)
        session = service._client.session
        session.mount(base_url, adapter)
        read_environment_once(session, base_url)

    def _send(self, messages: list[PushMessage]) -> list[PushResult]:
        from firebase_admin import exceptions

        results = []
        for chunk in chunks(messages, BATCH_SIZE):
            built, failed = [], {}
            for m in chunk:
                try:
                    built.append((m, self._fcm_message(m)))
                except Exception as exc:  # a message the SDK cannot express: it fails alone
                    failed[m.delivery_id] = PushResult.unexpected(m, exc)
            try:
                answers = self._send_each(built)
            except exceptions.UnknownError as exc:
                # The batch as a whole failed before or around the HTTP calls (e.g. no thread could
                # start, or credentials could not be refreshed): nothing is known to have been sent.
                logger.exception("FCM send_each failed for a batch of %d", len(chunk))
                answers = {
                    m.delivery_id: PushResult.failure(m, Outcome.TRANSIENT, "UNKNOWN", str(exc)) for m, _ in built
                }
            results.extend(failed.get(m.delivery_id) or answers[m.delivery_id] for m in chunk)
        return results

    def _send_each(self, built: list) -> dict:
        """{delivery id: result} for (message, FCM message) pairs, in one send_each call. If the SDK
        raises something unforeseen for the batch, each message is tried alone, so one message that
        makes it raise fails alone (permanent) and the others are still sent."""
        from firebase_admin import exceptions, messaging

        if not built:
            return {}
        try:
            batch = messaging.send_each([fcm for _, fcm in built], app=self._app)
        except exceptions.UnknownError:
            raise
        except Exception as exc:
            if len(built) == 1:
                return {built[0][0].delivery_id: PushResult.unexpected(built[0][0], exc)}
            logger.exception("FCM send_each raised for a batch of %d; sending them one by one", len(built))
            answers = {}
            for m, fcm in built:
                try:
                    answers |= self._send_each([(m, fcm)])
                except exceptions.UnknownError as unknown:
                    answers[m.delivery_id] = PushResult.failure(m, Outcome.TRANSIENT, "UNKNOWN", str(unknown))
            return answers
        answers = {}
        for (m, _), response in zip(built, batch.responses, strict=True):
            if response.success:
                answers[m.delivery_id] = PushResult.success(m, response.message_id)
            else:
                answers[m.delivery_id] = classify_fcm_error(m, response.exception)
        return answers

    @staticmethod
    def _fcm_message(m: PushMessage):
        # Built by hand rather than with django-push-notifications' gcm.dict_to_fcm_message, which
        # drops a ttl of 0 (falsy), moves data keys such as "title", "tag" or "priority" out of the
        # data payload, and puts title / body only in the Android notification.
        from firebase_admin import messaging

        fcm_message = messaging.Message(
            data=m.data,
            notification=messaging.Notification(title=m.title, body=m.body),
            android=messaging.AndroidConfig(collapse_key=m.collapse_key, ttl=m.ttl_seconds),
            # iOS apps that receive through FCM: the same collapse and expiry, as APNs headers.
            apns=messaging.APNSConfig(
                headers={
                    "apns-collapse-id": m.collapse_key,
                    "apns-expiration": str(int(time.time()) + m.ttl_seconds),
                }
            ),
        )
        # firebase-admin 7.7 deprecates Message(token=...) for fid (a Firebase installation id) and
        # warns on every message. Apps register the registration token from getToken(), and FCM v1
        # still takes it as "token"; set after construction, as django-push-notifications does.
        fcm_message.token = m.token
        return fcm_message


def read_environment_once(session, url: str) -> None:
    """Proxy and CA settings read from the environment now, instead of on every request.

    With ``trust_env`` on (the default), requests scans all of ``os.environ`` twice per request for
    proxy variables and looks for ``~/.netrc``: about a third of firebase-admin's CPU per push, by
    yappi (bench/send_throughput.py reports the CPU per push). The result cannot change while the
    process runs, so it is resolved once: HTTPS_PROXY / NO_PROXY for the FCM host, and
    REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE. netrc is not needed: requests carry a Bearer token.
    """
    import requests.utils

    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False


def classify_fcm_error(message: PushMessage, exc) -> PushResult:
    """A firebase-admin exception from send_each → transient, dead_token or permanent."""
    from firebase_admin import exceptions, messaging

    response = getattr(exc, "http_response", None)
    status = response.status_code if response is not None else None
    error = _error_body(response)
    code = _fcm_error_code(error) or error.get("status") or exc.code or str(status)
    text = str(exc)

    if isinstance(exc, messaging.UnregisteredError | messaging.SenderIdMismatchError):
        return PushResult.failure(message, Outcome.DEAD_TOKEN, code, text)
    if isinstance(exc, exceptions.InvalidArgumentError):
        # INVALID_ARGUMENT is also what FCM answers for a bad payload (too big, bad TTL): only a
        # complaint about the token may deactivate the device, or one bad template kills them all.
        # (django-push-notifications' gcm module deactivates on any InvalidArgumentError.)
        outcome = Outcome.DEAD_TOKEN if _about_the_token(error) else Outcome.PERMANENT
        return PushResult.failure(message, outcome, code, text)
    if status is None or status == 429 or status >= 500:
        # No HTTP answer at all (refused, timed out, reset) is transient too.
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
        return PushResult.failure(message, Outcome.TRANSIENT, code, text, retry_after)
    return PushResult.failure(message, Outcome.PERMANENT, code, text)


def _error_body(response) -> dict:
    if response is None:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _fcm_error_code(error: dict) -> str:
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("@type") == FCM_ERROR_TYPE:
            return str(detail.get("errorCode") or "")
    return ""


def _about_the_token(error: dict) -> bool:
    """FCM says so either with a BadRequest field violation on message.token, or only in words
    ("The registration token is not a valid FCM registration token")."""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("@type") == BAD_REQUEST_TYPE:
            for violation in detail.get("fieldViolations") or []:
                if violation.get("field") in ("message.token", "token"):
                    return True
    return "registration token" in str(error.get("message") or "").lower()
