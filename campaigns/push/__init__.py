"""Push backends: the one thin adapter between Optimus and FCM / APNs / Web Push.

    from campaigns.push import PushMessage, Outcome, get_backend, push_data

    results = get_backend().send([PushMessage(delivery_id=..., platform="fcm", token=..., ...)])
    # one PushResult per message, same order: outcome ok | transient | dead_token | permanent

``send`` makes exactly one provider attempt per message and never sleeps or retries: the caller
(the dispatcher) retries ``transient`` results later, honouring ``retry_after`` when set,
deactivates the device on ``dead_token`` and gives up on ``permanent``.

settings.PUSH_BACKEND picks the backend: ``log`` (default; records, sends nothing), ``fcm``,
``apns`` or ``webpush``. A real backend answers a message for another platform with
``permanent`` / ``unsupported_platform``. SDKs are imported only when their backend is built.
"""

import threading

from django.conf import settings

from campaigns.push.base import PLATFORMS, Outcome, PushBackend, PushMessage, PushResult, push_data
from campaigns.push.log import outbox

__all__ = ["PLATFORMS", "Outcome", "PushBackend", "PushMessage", "PushResult", "get_backend", "outbox", "push_data"]

_backends: dict[tuple, PushBackend] = {}
_lock = threading.Lock()


def get_backend() -> PushBackend:
    """The backend settings.PUSH_BACKEND chooses, built once per configuration and process
    (building one opens SDK clients and, for FCM, registers a Firebase app)."""
    name = settings.PUSH_BACKEND
    if name == "fcm":
        config = (name, settings.FCM_ENDPOINT, settings.FCM_PROJECT_ID, settings.FCM_CREDENTIALS_FILE)
    elif name == "log":
        config = (name, settings.PUSH_LOG_FILE)
    else:
        config = (name,)
    with _lock:  # two threads building the same FCM backend at once would register its app twice
        if config not in _backends:
            _backends[config] = _build(*config)
        return _backends[config]


def _build(name: str, *config) -> PushBackend:
    if name == "log":
        from campaigns.push.log import LogBackend

        return LogBackend(log_file=config[0])
    if name == "fcm":
        from campaigns.push.fcm import FcmBackend

        endpoint, project_id, credentials_file = config
        return FcmBackend(endpoint=endpoint, project_id=project_id, credentials_file=credentials_file)
    if name == "apns":
        from campaigns.push.apns import ApnsBackend

        return ApnsBackend()
    if name == "webpush":
        from campaigns.push.webpush import WebPushBackend

        return WebPushBackend()
    raise ValueError(f"unknown PUSH_BACKEND {name!r}")
