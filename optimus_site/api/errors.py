"""One error shape for the whole API: ``{"error": {"code", "message", "fields"?}}``.

DRF's exceptions, Django's 404 / permission errors and the JSON 404 / 500 handlers for unknown
/api/ URLs all end up here, so a client needs one parser for every failure.
"""

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

CODES = {
    exceptions.ParseError: "malformed_json",
    exceptions.AuthenticationFailed: "unauthenticated",
    exceptions.NotAuthenticated: "unauthenticated",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    error: dict = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def flatten_fields(detail, prefix: str = "") -> dict[str, list[str]]:
    """{"quiet_hours": {"start": ["bad"]}} → {"quiet_hours.start": ["bad"]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                name = prefix or "non_field_errors"
            for k, v in flatten_fields(value, name).items():
                flat.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            flat[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                flat.update(flatten_fields(item, f"{prefix}[{index}]"))
    else:
        flat[prefix or "non_field_errors"] = [str(detail)]
    return flat


def api_exception_handler(exc, context) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's handler500 answers in the same shape
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_fields(exc.detail)
        first_field, messages = next(iter(fields.items()))
        where = "" if first_field == "non_field_errors" else f"{first_field}: "
        response.data = error_body("invalid", f"{where}{messages[0]}", fields)
        return response
    if isinstance(exc, Http404):
        code, message = "not_found", "Not found."
    elif isinstance(exc, exceptions.APIException):
        code = CODES.get(type(exc)) or exc.default_code
        message = str(exc.detail)
    else:
        code, message = "error", str(exc)
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        message = f"Too many requests: retry in {int(exc.wait) + 1} s."
    response.data = error_body(code, message)
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", f"No endpoint at {request.path}."), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("server_error", "Something went wrong on our side; it has been logged."), status=500)


def server_error_or_page(request: HttpRequest) -> HttpResponse:
    """JSON for API calls, Django's page for the admin."""
    if request.path.startswith("/api/"):
        return server_error(request)
    return defaults.server_error(request)
