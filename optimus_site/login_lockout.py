"""Admin login lockout: after LOGIN_LOCKOUT_FAILURES failed logins for one username, or from one
client IP, within LOGIN_LOCKOUT_WINDOW_S seconds, further attempts are refused, even with the right
password, until the window has passed. Counters live in the cache (Redis with CACHE_URL, so every
gunicorn process sees the same counts)."""

import logging

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError

logger = logging.getLogger(__name__)


def _keys(request, username):
    ip = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    return [f"login-fail:user:{(username or '').lower()}", f"login-fail:ip:{ip}"]


def is_locked_out(request, username):
    counts = cache.get_many(_keys(request, username))
    return any(count >= settings.LOGIN_LOCKOUT_FAILURES for count in counts.values())


def record_failure(request, username):
    for key in _keys(request, username):
        # add() starts the window on the first failure; incr() keeps its expiry (fixed window).
        if not cache.add(key, 1, settings.LOGIN_LOCKOUT_WINDOW_S):
            try:
                cache.incr(key)
            except ValueError:  # expired between add() and incr()
                cache.add(key, 1, settings.LOGIN_LOCKOUT_WINDOW_S)


class LockoutAdminAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "locked_out": "Too many failed login attempts. Try again in %(minutes)s minutes.",
    }

    def clean(self):
        username = self.cleaned_data.get("username")
        if is_locked_out(self.request, username):
            logger.warning(
                "admin login refused: locked out (username=%r ip=%s)",
                username,
                self.request.META.get("REMOTE_ADDR") if self.request else None,
            )
            raise ValidationError(
                self.error_messages["locked_out"],
                code="locked_out",
                params={"minutes": max(1, settings.LOGIN_LOCKOUT_WINDOW_S // 60)},
            )
        try:
            return super().clean()
        except ValidationError as error:
            if getattr(error, "code", None) == "invalid_login":
                record_failure(self.request, username)
                logger.warning(
                    "admin login failed (username=%r ip=%s)",
                    username,
                    self.request.META.get("REMOTE_ADDR") if self.request else None,
                )
            raise
