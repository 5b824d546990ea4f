"""Admin for the catalog, behaviour events, segments, model runs and customer profiles."""

from django.contrib import admin
from django.db import models
from django.db.models import Count, F, Q
from django.http import HttpRequest
from django.utils.html import format_html

from devices import admin as devices_admin
from devices.models import Customer
from optimus_site.admin_tools import (
    ChoiceFilter,
    ReadOnlyAdmin,
    ReadOnlyInlineMixin,
    changelist_url,
    date_filter,
    export_as_csv,
    percent,
    pretty_json,
)
from recommender.models import Category, CustomerProfile, Event, Item, ModelVersion, Segment

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hours_of_week(hours: list) -> str:
    """[43, 19] → "Tue 19:00, Mon 19:00" (0 is Monday 00:00, in the customer's own time zone)."""
    if not hours:
        return "—"
    labels = []
    for hour in hours:
        try:
            labels.append(f"{DAYS[int(hour) // 24]} {int(hour) % 24:02d}:00")
        except (TypeError, ValueError, IndexError):
            labels.append(str(hour))
    return ", ".join(labels)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("external_id", "name", "parent")
    list_select_related = ("parent",)
    search_fields = ("external_id", "name")
    search_help_text = "Category id or name."
    raw_id_fields = ("parent",)


class AvailabilityFilter(ChoiceFilter):
    title = "availability"
    parameter_name = "available"
    options = {
        "yes": ("Available", Q(available=True)),
        "no": ("Unavailable (never recommended)", Q(available=False)),
    }


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("external_id", "title", "category", "price", "available", "updated_at")
    list_filter = (AvailabilityFilter,)
    list_select_related = ("category",)
    search_fields = ("=external_id", "title")
    search_help_text = "Exact product id, or words in the title."
    raw_id_fields = ("category",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = (export_as_csv,)
    csv_columns = {
        "external_id": "item_id",
        "title": "title",
        "price": "price",
        "available": "available",
        "category__external_id": "category_id",
        "category__name": "category",
        "url": "url",
    }


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "customer", "type", "item", "amount", "source")
    list_filter = ("type", "source", ("occurred_at", date_filter("when")))
    list_select_related = ("customer", "item")
    search_fields = ("^customer__external_id",)
    search_help_text = "Customer id (or its beginning)."
    raw_id_fields = ("customer", "item")
    # Served by the index on occurred_at, so the newest page comes back without a sort.
    ordering = ("-occurred_at",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = ("context_pretty",)
    fields = (
        "event_id",
        "customer",
        "type",
        "item",
        "amount",
        "transaction_id",
        "occurred_at",
        "received_at",
        "source",
        "context_pretty",
    )

    @admin.display(description="context")
    def context_pretty(self, obj: Event) -> str:
        return pretty_json(obj.context)


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ("priority", "name", "rule", "customers", "description")
    list_display_links = ("name",)
    search_fields = ("name", "slug")
    search_help_text = "Segment name."
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("rule",)
    actions = (export_as_csv,)
    csv_columns = {
        "priority": "priority",
        "name": "segment",
        "slug": "slug",
        "recency_min": "recency_min",
        "recency_max": "recency_max",
        "frequency_min": "frequency_min",
        "frequency_max": "frequency_max",
        "monetary_min": "monetary_min",
        "monetary_max": "monetary_max",
        "customer_count": "customers",
    }
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "priority")}),
        (
            "Rule",
            {
                "description": "Scores run from 1 (worst) to 5 (best: most recent, most frequent, highest "
                "spend). A customer lands in the first segment, by priority, whose rule fits. "
                "Changes take effect at the next model run.",
                "fields": (
                    ("recency_min", "recency_max"),
                    ("frequency_min", "frequency_max"),
                    ("monetary_min", "monetary_max"),
                    "rule",
                ),
            },
        ),
    )

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(customer_count=Count("profiles"))

    @admin.display(description="customers", ordering="customer_count")
    def customers(self, obj: Segment) -> str:
        url = changelist_url(CustomerProfile, segment__id__exact=obj.pk)
        return format_html('<a href="{}">{}</a>', url, f"{obj.customer_count:,}")


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "status",
        "started_at",
        "finished_at",
        "data_until",
        "n_customers",
        "n_items",
        "n_events",
    )
    list_filter = ("status",)
    date_hierarchy = "started_at"
    readonly_fields = ("params_pretty", "metrics_pretty")
    fields = (
        "status",
        "started_at",
        "finished_at",
        "data_since",
        "data_until",
        "n_customers",
        "n_items",
        "n_events",
        "metrics_pretty",
        "params_pretty",
        "artifact",
        "error",
    )

    @admin.display(description="metrics")
    def metrics_pretty(self, obj: ModelVersion) -> str:
        return pretty_json(obj.metrics)

    @admin.display(description="parameters")
    def params_pretty(self, obj: ModelVersion) -> str:
        return pretty_json(obj.params)


class MovedFilter(ChoiceFilter):
    title = "segment change"
    parameter_name = "moved"
    options = {
        "moved": ("Changed segment", Q(previous_segment__isnull=False) & ~Q(segment=F("previous_segment"))),
        "stayed": ("Same segment", Q(segment=F("previous_segment"))),
        "new": ("New (no earlier segment)", Q(previous_segment__isnull=True)),
    }


PROFILE_DETAIL_FIELDS = (
    "segment",
    "previous_segment",
    "rfm",
    "recency_days",
    "frequency",
    "monetary",
    "predicted_open",
    "best_hours_display",
    "computed_at",
)


class ProfileDisplayMixin:
    @admin.display(description="RFM")
    def rfm(self, obj: CustomerProfile) -> str:
        return obj.rfm

    @admin.display(description="predicted open rate", ordering="predicted_open_rate")
    def predicted_open(self, obj: CustomerProfile) -> str:
        return percent(obj.predicted_open_rate)

    @admin.display(description="best hours (local)")
    def best_hours_display(self, obj: CustomerProfile) -> str:
        return hours_of_week(obj.best_hours)


@admin.register(CustomerProfile)
class CustomerProfileAdmin(ProfileDisplayMixin, ReadOnlyAdmin):
    list_display = (
        "customer",
        "segment",
        "rfm",
        "recency_days",
        "frequency",
        "monetary",
        "predicted_open",
        "previous_segment",
        "computed_at",
    )
    list_filter = ("segment", MovedFilter, "previous_segment")
    list_select_related = ("customer", "segment", "previous_segment")
    search_fields = ("^customer__external_id",)
    search_help_text = "Customer id (or its beginning)."
    raw_id_fields = ("customer", "model_version")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = (export_as_csv,)
    csv_columns = {
        "customer__external_id": "customer_id",
        "segment__name": "segment",
        "previous_segment__name": "previous_segment",
        "recency_score": "recency_score",
        "frequency_score": "frequency_score",
        "monetary_score": "monetary_score",
        "recency_days": "recency_days",
        "frequency": "frequency",
        "monetary": "monetary",
        "predicted_open_rate": "predicted_open_rate",
        "computed_at": "computed_at",
    }
    readonly_fields = ("rfm", "predicted_open", "best_hours_display", "top_items_pretty", "explanation_pretty")
    fields = (
        "customer",
        "model_version",
        *PROFILE_DETAIL_FIELDS,
        ("recency_score", "frequency_score", "monetary_score"),
        "top_items_pretty",
        "explanation_pretty",
    )

    @admin.display(description="top items")
    def top_items_pretty(self, obj: CustomerProfile) -> str:
        return pretty_json(obj.top_items)

    @admin.display(description="explanation")
    def explanation_pretty(self, obj: CustomerProfile) -> str:
        return pretty_json(obj.explanation)


class CustomerProfileInline(ProfileDisplayMixin, ReadOnlyInlineMixin, admin.StackedInline):
    model = CustomerProfile
    fields = PROFILE_DETAIL_FIELDS
    readonly_fields = PROFILE_DETAIL_FIELDS
    show_change_link = True
    verbose_name_plural = "profile (from the latest model run)"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("segment", "previous_segment")


_BaseCustomerAdmin = devices_admin.CustomerAdmin


class CustomerAdmin(_BaseCustomerAdmin):
    """Adds the customer's segment and profile to the devices app's customer admin."""

    list_display = ("external_id", "segment", "receiving", "timezone", "locale", "created_at")
    list_filter = (*_BaseCustomerAdmin.list_filter, "profile__segment")
    list_select_related = ("profile__segment",)
    inlines = (*_BaseCustomerAdmin.inlines, CustomerProfileInline)
    csv_columns = {**_BaseCustomerAdmin.csv_columns, "profile__segment__name": "segment"}

    @admin.display(description="segment", ordering="profile__segment__priority")
    def segment(self, obj: Customer) -> str:
        profile = getattr(obj, "profile", None)
        return str(profile.segment) if profile and profile.segment else "—"


admin.site.unregister(Customer)
admin.site.register(Customer, CustomerAdmin)
