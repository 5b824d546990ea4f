"""One error shape for the whole API: ``{"error": {"code", "message", "fields"?}}``.

DRF's exceptions, Django's 404 / permission errors and the JSON 404 / 500 handlers for unknown
/api/ URLs all end up here, so a client needs one parser for every failure.
"""

from django.conf import settings
from django.core.exceptions import DisallowedHost, ObjectDoesNotExist, RequestDataTooBig, TooManyFieldsSent
from django.db import IntegrityError, OperationalError, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import csrf as csrf_views
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from optimus_site.dbutils import LOCK_CONFLICTS

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


# MySQL / MariaDB error number of a write that raced a delete: a row it refers to is gone. (Or the
# two waited on each other's locks: dbutils.LOCK_CONFLICTS.)
ROW_VANISHED = 1452


def _database_race(exc, request) -> Response | None:
    """A request that lost a race with a deletion — typically a customer erased while their app is
    calling — gets the answer it would have got a moment later, never a 500: 401 when its own
    credential is gone (an erased customer's tokens go with them), 404 when what it refers to is,
    and 409 (retry) when it only collided with another writer's locks."""
    number = exc.args[0] if isinstance(exc, IntegrityError | OperationalError) and exc.args else None
    vanished = isinstance(exc, ObjectDoesNotExist) or (isinstance(exc, IntegrityError) and number == ROW_VANISHED)
    if not vanished and not (isinstance(exc, OperationalError) and number in LOCK_CONFLICTS):
        return None
    credential = getattr(request, "auth", None)
    if credential is not None and hasattr(credential, "revoked_at") and not _still_valid(credential):
        response = Response(error_body("unauthenticated", "This credential is no longer valid."), status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    if vanished:
        return Response(error_body("not_found", "What this request refers to was deleted meanwhile."), status=404)
    response = Response(error_body("conflict", "A concurrent change got in the way; retry."), status=409)
    response["Retry-After"] = "1"
    return response


def _still_valid(credential) -> bool:
    """Whether the credential — and the customer it belongs to, for an app's token — still exists,
    unrevoked. The customer's row is read with a lock: an erasure locks it first, so one still in
    progress is waited for rather than missed."""
    model = type(credential)
    with transaction.atomic():
        owner_id = getattr(credential, "customer_id", None)
        if owner_id is not None:
            owner = model._meta.get_field("customer").related_model
            if not owner.objects.select_for_update().filter(pk=owner_id).exists():
                return False
        return model.objects.filter(pk=credential.pk, revoked_at__isnull=True).exists()


def api_exception_handler(exc, context) -> Response | None:
    raced = _database_race(exc, context.get("request"))
    if raced is not None:
        return raced
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


@csrf_exempt  # a POST to an unknown API path gets this 404, not a CSRF page
def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", f"No endpoint at {request.path}."), status=404)


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request_or_page(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: what Django refuses before any view runs — a Host not in ALLOWED_HOSTS, a body
    over DATA_UPLOAD_MAX_MEMORY_SIZE, too many query parameters — in the API's shape under /api/."""
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(error_body("too_large", "The request body is too large."), status=413)
    if isinstance(exception, TooManyFieldsSent):
        message = f"Too many query or form parameters (at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS})."
        return JsonResponse(error_body("too_many_parameters", message), status=400)
    if isinstance(exception, DisallowedHost):
        return JsonResponse(error_body("bad_host", "This host name is not served here."), status=400)
    return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)


def forbidden_or_page(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api(request):
        return defaults.permission_denied(request, exception)
    return JsonResponse(error_body("forbidden", "You may not do this."), status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW. The API authenticates with headers, not cookies, and is exempt; this only
    answers for paths outside its views (and keeps Django's page for the admin)."""
    if not is_api(request):
        return csrf_views.csrf_failure(request, reason)
    return JsonResponse(error_body("forbidden", f"CSRF check failed: {reason}"), status=403)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("server_error", "Something went wrong on our side; it has been logged."), status=500)


def server_error_or_page(request: HttpRequest) -> HttpResponse:
    """JSON for API calls, Django's page for the admin."""
    if request.path.startswith("/api/"):
        return server_error(request)
    return defaults.server_error(request)
