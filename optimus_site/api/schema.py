"""OpenAPI pieces shared by every endpoint: the error shape, and the two security schemes."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: invalid, unauthenticated, not_found, …")
    message = serializers.CharField(help_text="What went wrong, for a developer.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="For code=invalid: the messages per field (nested fields as `a.b`, list items as `a[0]`).",
    )


class Error(serializers.Serializer):
    error = ErrorDetail()


DESCRIPTIONS = {
    400: ("invalid", "The request is malformed or a field is invalid; `fields` says which."),
    401: ("unauthenticated", "Missing, unknown or revoked credentials."),
    404: ("not_found", "No such object for this caller (other customers' objects are never visible)."),
    409: ("conflict", "The object is not in a state that allows this."),
    413: ("too_large", "The body is over the size limit (API_MAX_BODY_BYTES, 2 MB by default)."),
    429: ("throttled", "Too many requests for this credential: wait `Retry-After` seconds."),
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(
            response=Error,
            description=DESCRIPTIONS[code][1],
            examples=[
                OpenApiExample(
                    DESCRIPTIONS[code][0],
                    value={"error": {"code": DESCRIPTIONS[code][0], "message": DESCRIPTIONS[code][1]}},
                    response_only=True,
                    status_codes=[str(code)],
                )
            ],
        )
        for code in codes
    }


class StrictSerializerSchema(OpenApiSerializerExtension):
    """StrictSerializer refuses unknown fields with a 400, so its schema says so
    (additionalProperties: false): generated clients and the fuzzer then know the truth."""

    target_class = "optimus_site.api.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request":  # what we answer is documented field by field already
            schema["additionalProperties"] = False
        return schema


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "devices.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Server API (your backend): `Authorization: Api-Key <key>`. Keys are created in the "
            "admin or with `manage.py create_api_key NAME`.",
        }


class CustomerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "devices.authentication.CustomerTokenAuthentication"
    name = "CustomerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Mobile API (the app): `Authorization: Bearer <token>`; your backend mints the token "
            "with POST /customers/{external_id}/token.",
        }


def without_slash_variants(endpoints: list) -> list:
    """Drops the trailing-slash twin of every path, so each operation is documented once."""
    return [e for e in endpoints if not e[0].endswith("/")]
