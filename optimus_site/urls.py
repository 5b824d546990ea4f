from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from campaigns import api as campaigns_api
from campaigns.views import dashboard_view, policy_evaluation_view
from devices import api as devices_api
from optimus_site.api import errors
from recommender import api as recommender_api

from . import health
from .login_lockout import LockoutAdminAuthenticationForm

# The admin login refuses a username or client IP after repeated failures (see login_lockout).
admin.site.login_form = LockoutAdminAuthenticationForm


SCHEMA_RENDERERS = [OpenApiJsonRenderer, OpenApiJsonRenderer2, OpenApiYamlRenderer, OpenApiYamlRenderer2]


def endpoint(route: str, view, name: str):
    """`route` with and without a trailing slash (phones and SDKs differ in what they send); the
    OpenAPI schema documents the form without (see optimus_site.api.schema.without_slash_variants)."""
    return re_path(rf"^{route}$", view, name=name), re_path(rf"^{route}/$", view, name=f"{name}-slash")


api_v1 = [
    *endpoint(r"customers/(?P<external_id>[^/]+)", devices_api.CustomerApi.as_view(), "customer"),
    *endpoint(r"customers/(?P<external_id>[^/]+)/token", devices_api.CustomerTokenApi.as_view(), "customer-token"),
    *endpoint(r"items/bulk", recommender_api.ItemsBulkApi.as_view(), "items-bulk"),
    *endpoint(r"events/bulk", recommender_api.EventsBulkApi.as_view(), "events-bulk"),
    *endpoint(r"devices", devices_api.DevicesApi.as_view(), "devices"),
    *endpoint(r"devices/(?P<device_id>[0-9]{1,18})", devices_api.DeviceApi.as_view(), "device"),
    *endpoint(r"events", recommender_api.EventsApi.as_view(), "events"),
    *endpoint(r"notifications", campaigns_api.InboxApi.as_view(), "inbox"),
    *endpoint(
        r"notifications/(?P<notification_id>[0-9]{1,18})/feedback",
        campaigns_api.FeedbackApi.as_view(),
        "notification-feedback",
    ),
    *endpoint(r"me/preferences", campaigns_api.PreferencesApi.as_view(), "preferences"),
    *endpoint(r"me/feedback", campaigns_api.FeedbackBatchApi.as_view(), "feedback-batch"),
    # JSON first, like every other answer under /api/v1/ (errors included); `?format=yaml` or an
    # `Accept: application/vnd.oai.openapi` header still gives YAML.
    *endpoint(r"schema", SpectacularAPIView.as_view(renderer_classes=SCHEMA_RENDERERS), "schema"),
    *endpoint(r"docs", SpectacularSwaggerView.as_view(url_name="schema"), "docs"),
    # Anything else under /api/v1/ answers in the API's error shape.
    re_path(r"^.*$", errors.not_found),
]


def _dashboard(request):
    request.site_context = admin.site.each_context(request)
    return dashboard_view(request)


def _policy_evaluation(request):
    request.site_context = admin.site.each_context(request)
    return policy_evaluation_view(request)


urlpatterns = [
    # Before the admin's own URLs, inside its login and layout.
    path("admin/dashboard/", admin.site.admin_view(_dashboard), name="campaigns-dashboard"),
    path("admin/policy-evaluation/", admin.site.admin_view(_policy_evaluation), name="campaigns-policy-evaluation"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("livez", health.livez, name="livez"),
    path("api/v1/", include(api_v1)),
]

handler400 = "optimus_site.api.errors.bad_request_or_page"
handler403 = "optimus_site.api.errors.forbidden_or_page"
handler500 = "optimus_site.api.errors.server_error_or_page"
