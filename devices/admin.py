"""Admin for customers, their credentials and their push devices: each registered here, once.

``recommender.admin`` and ``campaigns.admin`` add to :class:`CustomerAdmin` (the customer's segment,
profile, explanation and notifications) and :class:`DeviceAdmin` (a test push) through
``optimus_site.admin_tools.extend_admin``: they may import this app, this app never imports them.
"""

# django-push-notifications registers admins for its own models; imported here so that they exist
# before they are replaced at the end (the one replacement left: that library is not ours to edit).
import push_notifications.admin  # noqa: F401
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpRequest
from django.template.defaultfilters import pluralize
from django.utils.html import format_html
from push_notifications.models import APNSDevice, GCMDevice, WebPushDevice, WNSDevice

from devices.models import ApiKey, Customer, CustomerToken, Device
from devices.services import UNSET, api_key_create, device_remove, preferences_update
from optimus_site.admin_tools import ChoiceFilter, ReadOnlyAdmin, admin_url, date_filter, export_as_csv, pretty_json

admin.site.site_header = "Optimus"
admin.site.site_title = "Optimus"
admin.site.index_title = "Customers, segments, campaigns and results"


class ReceivingFilter(ChoiceFilter):
    title = "notifications"
    parameter_name = "receiving"
    options = {
        "yes": ("Receiving", Q(opt_out=False)),
        "no": ("Opted out", Q(opt_out=True)),
    }


class QuietHoursFilter(ChoiceFilter):
    title = "quiet hours"
    parameter_name = "quiet"
    options = {
        "yes": ("Has quiet hours", Q(quiet_hours_start__isnull=False)),
        "no": ("No quiet hours", Q(quiet_hours_start__isnull=True)),
    }


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """Customers arrive through the server API; here a superuser can change their notification
    preferences, and marketers can look them up."""

    list_display = ("external_id", "receiving", "timezone", "locale", "created_at")
    list_filter = (ReceivingFilter, QuietHoursFilter)
    search_fields = ("^external_id",)
    search_help_text = "Customer id in your own system (or its beginning)."
    ordering = ("-id",)
    # Millions of rows: no second COUNT(*) of the whole table on every page, no per-filter counts.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = (export_as_csv,)
    csv_columns = {
        "external_id": "customer_id",
        "timezone": "timezone",
        "locale": "locale",
        "opt_out": "opt_out",
        "opted_out_at": "opted_out_at",
        "created_at": "created_at",
    }
    readonly_fields = (
        "external_id",
        "timezone",
        "locale",
        "attributes_pretty",
        "opted_out_at",
        "devices",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("external_id", "timezone", "locale", "created_at", "updated_at")}),
        (
            "Notification preferences",
            {"fields": ("opt_out", "opted_out_at", "quiet_hours_start", "quiet_hours_end", "muted_types")},
        ),
        ("Devices", {"fields": ("devices",)}),
        ("Data from your backend", {"fields": ("attributes_pretty",), "classes": ("collapse",)}),
    )

    @admin.display(description="receiving", boolean=True, ordering="opt_out")
    def receiving(self, obj: Customer) -> bool:
        return not obj.opt_out

    @admin.display(description="attributes")
    def attributes_pretty(self, obj: Customer) -> str:
        return pretty_json(obj.attributes)

    @admin.display(description="push devices")
    def devices(self, obj: Customer) -> str:
        parts = []
        for model in (GCMDevice, APNSDevice, WebPushDevice, WNSDevice):
            counts = model.objects.filter(user=obj).aggregate(
                total=Count("pk"), active=Count("pk", filter=Q(active=True))
            )
            if counts["total"]:
                parts.append(f"{model._meta.verbose_name}: {counts['active']} active of {counts['total']}")
        return "; ".join(parts) or "No devices registered"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Customer, form, change: bool) -> None:
        # The same service as the app's preferences endpoint, so the opt-out time is kept alike.
        changed = set(form.changed_data)
        quiet_hours = (obj.quiet_hours_start, obj.quiet_hours_end) if obj.quiet_hours_start is not None else None
        saved = preferences_update(
            customer=Customer.objects.get(pk=obj.pk),
            opt_out=obj.opt_out if "opt_out" in changed else UNSET,
            quiet_hours=quiet_hours if changed & {"quiet_hours_start", "quiet_hours_end"} else UNSET,
            muted_types=obj.muted_types if "muted_types" in changed else UNSET,
        )
        obj.opted_out_at, obj.muted_types, obj.updated_at = saved.opted_out_at, saved.muted_types, saved.updated_at


class CredentialStatusFilter(ChoiceFilter):
    title = "status"
    parameter_name = "status"
    options = {
        "active": ("Active", Q(revoked_at__isnull=True)),
        "revoked": ("Revoked", Q(revoked_at__isnull=False)),
    }
    default = "active"


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """A key is generated on save and shown once; only its hash is stored."""

    list_display = ("name", "prefix", "is_active", "created_at", "last_used_at", "revoked_at")
    list_filter = (CredentialStatusFilter,)
    search_fields = ("name", "^prefix")
    search_help_text = "Name of the key, or the first characters of the key itself."
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    @admin.display(description="active", boolean=True)
    def is_active(self, obj: ApiKey) -> bool:
        return obj.is_active

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return ["name"]
        return ["name", "prefix", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, plain = api_key_create(name=obj.name)
        obj.pk = key.pk
        obj.refresh_from_db()
        messages.success(
            request,
            f"The new key for “{key.name}” is {plain} — copy it now: "
            "only its fingerprint is stored, so it cannot be shown again.",
        )

    @admin.action(description="Revoke selected keys (they stop working at once)", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        n = queryset.revoke()
        self.message_user(request, f"{n} key{pluralize(n)} revoked")


@admin.register(CustomerToken)
class CustomerTokenAdmin(admin.ModelAdmin):
    """Tokens are minted by the server API for the app; here they can only be looked up and revoked."""

    list_display = ("prefix", "customer", "is_active", "created_at", "last_used_at", "revoked_at")
    list_filter = (CredentialStatusFilter,)
    list_select_related = ("customer",)
    search_fields = ("^customer__external_id", "^prefix")
    search_help_text = "Customer id, or the first characters of the token."
    raw_id_fields = ("customer",)
    # The primary key follows creation order and is indexed, unlike created_at.
    ordering = ("-id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ("revoke",)

    @admin.display(description="active", boolean=True)
    def is_active(self, obj: CustomerToken) -> bool:
        return obj.is_active

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CustomerToken | None = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("devices.change_customertoken")

    @admin.action(description="Revoke selected tokens (the app must sign in again)", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        n = queryset.revoke()
        self.message_user(request, f"{n} token{pluralize(n)} revoked")


@admin.register(Device)
class DeviceAdmin(ReadOnlyAdmin):
    """The platform-independent handle the app registers; its token lives in the platform's push
    device table (linked). Deleting goes through the service, which removes both rows."""

    list_display = ("id", "customer", "platform", "push_registration", "app_version", "timezone", "created_at")
    list_filter = ("platform", ("created_at", date_filter("registered")))
    list_select_related = ("customer",)
    search_fields = ("^customer__external_id",)
    search_help_text = "Customer id (or its beginning)."
    raw_id_fields = ("customer",)
    ordering = ("-id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    @admin.display(description="push registration")
    def push_registration(self, obj: Device) -> str:
        model = obj.push_device_model
        return format_html(
            '<a href="{}">{} #{}</a>',
            admin_url(model, obj.push_device_id),
            model._meta.verbose_name,
            obj.push_device_id,
        )

    def delete_model(self, request: HttpRequest, obj: Device) -> None:
        device_remove(device=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for device in queryset:
            device_remove(device=device)


class DeviceStatusFilter(ChoiceFilter):
    title = "status"
    parameter_name = "status"
    options = {
        "active": ("Active", Q(active=True)),
        "inactive": ("Inactive (not sent to)", Q(active=False)),
    }


class PushDeviceAdmin(admin.ModelAdmin):
    """Replaces django-push-notifications' admin, whose search goes through ``user__username``,
    which a Customer does not have. Its test-send actions are left out (sends go through our own
    push backends), and so is deleting: a push row removed alone would orphan its Device handle,
    so devices are deleted from the Device list, or deactivated here."""

    list_display = ("id", "customer", "name", "active", "date_created")
    list_filter = (DeviceStatusFilter, ("date_created", date_filter("registered")))
    list_select_related = ("user",)
    search_fields = ("^user__external_id", "=registration_id")
    search_help_text = "Customer id (or its beginning), or the exact push token."
    raw_id_fields = ("user",)
    ordering = ("-id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ("deactivate",)

    @admin.display(description="customer", ordering="user__external_id")
    def customer(self, obj) -> str:
        return obj.user.external_id if obj.user else "—"

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Deactivate selected devices (stop sending to them)", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset) -> None:
        n = queryset.filter(active=True).update(active=False)
        self.message_user(request, f"{n} device{pluralize(n)} deactivated")


class GCMDeviceAdmin(PushDeviceAdmin):
    list_display = (*PushDeviceAdmin.list_display, "cloud_message_type", "device_id")
    list_filter = (*PushDeviceAdmin.list_filter, "cloud_message_type")


class APNSDeviceAdmin(PushDeviceAdmin):
    list_display = (*PushDeviceAdmin.list_display, "device_id")


class WebPushDeviceAdmin(PushDeviceAdmin):
    list_display = (*PushDeviceAdmin.list_display, "browser")
    list_filter = (*PushDeviceAdmin.list_filter, "browser")


class WNSDeviceAdmin(PushDeviceAdmin):
    list_display = (*PushDeviceAdmin.list_display, "device_id")


admin.site.unregister([GCMDevice, APNSDevice, WebPushDevice, WNSDevice])
admin.site.register(GCMDevice, GCMDeviceAdmin)
admin.site.register(APNSDevice, APNSDeviceAdmin)
admin.site.register(WebPushDevice, WebPushDeviceAdmin)
admin.site.register(WNSDevice, WNSDeviceAdmin)
