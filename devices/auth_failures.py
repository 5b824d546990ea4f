"""Failed API authentication (malformed, unknown or revoked key / token) is counted per client IP
in the cache; after API_AUTH_FAILURES failures within API_AUTH_FAILURE_WINDOW_S seconds that IP
gets 429 (with Retry-After) for any credential until the window ends, so keys cannot be guessed
at the API's full speed. Good credentials from other IPs are unaffected."""

import logging

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions

logger = logging.getLogger(__name__)


def _key(request) -> str:
    return key_for_ip(request.META.get("REMOTE_ADDR", ""))


def key_for_ip(ip: str) -> str:
    return f"api-auth-fail:ip:{ip}"


def refuse_if_blocked(request) -> None:
    if (cache.get(_key(request)) or 0) >= settings.API_AUTH_FAILURES:
        # The window's exact end is not stored; its length is an upper bound for the wait.
        raise exceptions.Throttled(wait=settings.API_AUTH_FAILURE_WINDOW_S)


def record_failure(request) -> None:
    key = _key(request)
    if not cache.add(key, 1, settings.API_AUTH_FAILURE_WINDOW_S):  # add() starts the window
        try:
            count = cache.incr(key)  # keeps the expiry: a fixed window
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, settings.API_AUTH_FAILURE_WINDOW_S)
            return
        if count == settings.API_AUTH_FAILURES:
            logger.warning("API authentication failures throttled for ip=%s", request.META.get("REMOTE_ADDR"))
