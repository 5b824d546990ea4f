"""Building blocks for request serializers: unknown fields are errors, times carry an offset."""

import datetime as dt

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know, so a typo ("timezon") is an error rather than ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


def parse_client_time(value: object, *, now: dt.datetime | None = None) -> dt.datetime:
    """An ISO 8601 time with an offset or Z, between 2000-01-01 and a few minutes from now.

    Raises ValueError with a message meant for a mobile developer.
    """
    if not isinstance(value, str) or not value.isprintable():
        # isprintable: fromisoformat ignores a trailing NUL, which must not pass as a time.
        raise ValueError("must be an ISO 8601 string such as 2026-01-31T09:30:00Z")
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time such as 2026-01-31T09:30:00Z") from None
    if at.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone: add Z or an offset such as +02:00")
    now = now or timezone.now()
    if at < EARLIEST:
        raise ValueError(f"{value!r} is before 2000-01-01")
    if at > now + settings.API_MAX_CLOCK_SKEW:
        raise ValueError(f"{value!r} is in the future (more than a few minutes ahead of the server clock)")
    return at.astimezone(dt.UTC)


@extend_schema_field(OpenApiTypes.DATETIME)
class ClientTimeField(serializers.Field):
    """`at` fields: see parse_client_time."""

    default_error_messages = {"invalid": "{message}"}

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "ISO 8601 with an offset or Z; not before 2000, at most 5 minutes ahead.")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return parse_client_time(data)
        except ValueError as exc:
            self.fail("invalid", message=str(exc))

    def to_representation(self, value):
        return value.isoformat().replace("+00:00", "Z")
