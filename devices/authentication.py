"""The two kinds of API caller.

- the business backend: ``Authorization: Api-Key <key>`` → request.user is a ServerCaller,
  request.auth the ApiKey;
- a customer's app: ``Authorization: Bearer <token>`` → request.user is the Customer, loaded
  lazily (so django-push-notifications-style ``filter(user=request.user)`` scoping works),
  request.auth the CustomerToken.

Credentials are looked up through devices.credential_cache when the cache is shared.
"""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from rest_framework import authentication, exceptions, permissions

from devices import auth_failures, credential_cache
from devices.models import ApiKey, Credential, CustomerToken

# Recording last use costs a write; once a minute per credential is plenty for an operator.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class ServerCaller:
    api_key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False

    def __str__(self) -> str:
        return f"server caller {self.api_key.name}"


class CredentialAuthentication(authentication.BaseAuthentication):
    keyword: str
    model: type[Credential]

    def authenticate(self, request):
        # Failures are counted per client IP (devices.auth_failures): too many answer 429.
        auth_failures.refuse_if_blocked(request)
        try:
            return self.check_credential(request)
        except exceptions.AuthenticationFailed:
            auth_failures.record_failure(request)
            raise

    def check_credential(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        value = value.strip()
        prefix, dot, _ = value.partition(".")
        if not dot or len(prefix) != Credential.PREFIX_LENGTH:
            raise exceptions.AuthenticationFailed(f"Malformed {self.keyword} credential.")
        credential = self.lookup(prefix)
        if credential is None or not credential.matches(value):
            raise exceptions.AuthenticationFailed(f"Unknown {self.keyword} credential.")
        if not credential.is_active:
            raise exceptions.AuthenticationFailed(f"This {self.keyword} credential has been revoked.")
        self.touch(credential)
        return self.principal(credential), credential

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing or wrong.
        return self.keyword

    def lookup(self, prefix: str) -> Credential | None:
        credential = credential_cache.get(self.model, prefix)
        if credential is None:
            # Read before the row: a change committed after this point makes the entry stale.
            generation = credential_cache.generation(self.model, prefix) if credential_cache.enabled() else None
            # get(), not first(): first() adds an ORDER BY, a measurable cost on every API call.
            try:
                credential = self.model.objects.get(prefix=prefix)
            except self.model.DoesNotExist:
                return None
            credential_cache.put(credential, generation)
        return credential

    def touch(self, credential: Credential) -> None:
        now = timezone.now()
        if credential.last_used_at is None or now - credential.last_used_at > LAST_USED_RESOLUTION:
            self.model.objects.filter(pk=credential.pk).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
            ).update(last_used_at=now)
            # The next request reads the row again, with its new last_used_at.
            credential_cache.forget(self.model, [credential.prefix])

    def principal(self, credential: Credential):
        raise NotImplementedError


class ApiKeyAuthentication(CredentialAuthentication):
    keyword = "Api-Key"
    model = ApiKey

    def principal(self, credential: ApiKey) -> ServerCaller:
        return ServerCaller(api_key=credential)


class CustomerTokenAuthentication(CredentialAuthentication):
    keyword = "Bearer"
    model = CustomerToken

    def principal(self, credential: CustomerToken):
        # Loaded on first use, fresh from the database: the hottest endpoints (feedback, events)
        # only need request.auth.customer_id and never pay for the query.
        return SimpleLazyObject(lambda: credential.customer)


class IsServer(permissions.BasePermission):
    message = "This endpoint is for the business backend: send Authorization: Api-Key <key>."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)


class IsCustomer(permissions.BasePermission):
    message = "This endpoint is for the app: send Authorization: Bearer <customer token>."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, CustomerToken)
