"""Throttling per credential (API key or customer token), not per IP: a backend behind one NAT
and a customer with two phones are each one caller."""

from rest_framework.throttling import SimpleRateThrottle


class CredentialRateThrottle(SimpleRateThrottle):
    """Rates come from settings (THROTTLE_SERVER_RATE / THROTTLE_MOBILE_RATE), per scope."""

    def get_cache_key(self, request, view):
        credential = getattr(request, "auth", None)
        prefix = getattr(credential, "prefix", None)
        if prefix is None:
            return None  # unauthenticated requests are refused before they cost anything
        return f"throttle:{self.scope}:{prefix}"


class ServerThrottle(CredentialRateThrottle):
    scope = "server"


class MobileThrottle(CredentialRateThrottle):
    scope = "mobile"
