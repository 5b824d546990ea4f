"""Admin for the catalog, behaviour events, segments, model runs and customer profiles; adds each
customer's segment and profile to ``devices.admin.CustomerAdmin`` (through ``extend_admin``).

``campaigns.admin`` extends :class:`SegmentAdmin` (the segment's contact policy) and
:class:`CustomerProfileAdmin` (what Optimus decides, and why) the same way."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, F, Q
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html

from devices.admin import CustomerAdmin
from devices.models import Customer
from optimus_site.admin_tools import (
    ChoiceFilter,
    ReadOnlyAdmin,
    ReadOnlyInlineMixin,
    admin_url,
    changelist_url,
    date_filter,
    export_as_csv,
    extend_admin,
    percent,
    pretty_json,
)
from recommender import selectors
from recommender.models import Category, CustomerProfile, Event, Item, ModelErasure, ModelVersion, Segment

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# One light colour per segment, by priority (ColorBrewer Set3: dark text stays readable on all).
SEGMENT_COLOURS = (
    "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462",
    "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f",
)  # fmt: skip
NO_SEGMENT_COLOUR = "#f0f0f0"


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
    list_display = ("external_id", "title", "category", "price", "available", "recommendable", "updated_at")
    list_filter = (AvailabilityFilter, "recommendable")
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
        "recommendable": "recommendable",
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


def _cell(r: int, f: int, m: int) -> str:
    return f"R{r} F{f} M{m}"


def _scores(axis: str, scores: list[int]) -> str:
    """With axis "M": [1, 2, 3] → "M 1–3"; [1, 4] → "M 1, 4"."""
    if len(scores) > 1 and scores == list(range(scores[0], scores[-1] + 1)):
        return f"{axis} {scores[0]}–{scores[-1]}"
    return f"{axis} {', '.join(map(str, scores))}"


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ("priority", "name", "rule", "customers", "description")
    list_display_links = ("name",)
    search_fields = ("name", "slug")
    search_help_text = "Segment name."
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("rule", "cells")
    change_list_template = "admin/recommender/segment/change_list.html"
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
                    "cells",
                ),
            },
        ),
    )

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(customer_count=Count("profiles"))

    def get_urls(self):
        # Before the default URLs, whose "<object_id>/" would otherwise take "rfm/".
        rfm = path("rfm/", self.admin_site.admin_view(self.rfm_view), name="recommender_segment_rfm")
        return [rfm, *super().get_urls()]

    @admin.display(description="customers", ordering="customer_count")
    def customers(self, obj: Segment) -> str:
        url = changelist_url(CustomerProfile, segment__id__exact=obj.pk)
        return format_html('<a href="{}">{}</a>', url, f"{obj.customer_count:,}")

    @admin.display(description="rule")
    def rule(self, obj: Segment) -> str:
        return obj.rule if obj.pk else "—"

    @admin.display(description="score cells")
    def cells(self, obj: Segment) -> str:
        if not obj.pk:
            return "Shown once the segment is saved."
        cells = selectors.segment_cells(obj)
        text = f"The rule covers {cells.covered} of the 125 (R, F, M) score cells; this segment gets {cells.won}"
        if cells.taken_by:
            taken = ", ".join(f"{name} ({n})" for name, n in cells.taken_by.items())
            text += f", the others go to segments checked before it: {taken}"
        return text + "."

    def save_model(self, request: HttpRequest, obj: Segment, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if uncovered := selectors.uncovered_cells():
            shown = ", ".join(_cell(*cell) for cell in uncovered[:10]) + (" …" if len(uncovered) > 10 else "")
            last = selectors.segments_by_priority()[-1]
            messages.warning(
                request,
                f"No rule matches {len(uncovered)} score cell(s) ({shown}); customers there will be put in "
                f"the last segment, {last}. Widen a rule to cover them.",
            )

    def rfm_view(self, request: HttpRequest) -> TemplateResponse:
        """The RFM grid, segment sizes and movement since the last run, on one page."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        monetary = request.GET.get("m")
        monetary = int(monetary) if monetary in {str(s) for s in selectors.SCORES} else None
        segments = selectors.segments_by_priority()
        colours = {s.pk: SEGMENT_COLOURS[i % len(SEGMENT_COLOURS)] for i, s in enumerate(segments)}
        grid = selectors.rfm_grid(monetary=monetary, segments=segments)
        movement = selectors.segment_movement(segments)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "RFM grid and movement between segments",
            "monetary": monetary,
            "scores": selectors.SCORES,
            "sizes": [_size_row(size, colours) for size in selectors.segment_sizes(segments)],
            "grid": [[_grid_cell(cell, colours, monetary) for cell in row] for row in grid.rows],
            "grid_customers": grid.customers,
            "movement_totals": [f"{n:,}" for n in movement.column_totals],
            "uncovered": [_cell(*cell) for cell in selectors.uncovered_cells(segments)],
            "last_segment": segments[-1] if segments else None,
            "movement": movement,
            "movement_columns": [_segment_head(s, colours) for s in movement.destinations],
            "movement_rows": [_movement_row(row, movement.destinations, colours) for row in movement.rows],
        }
        return TemplateResponse(request, "admin/recommender/segment/rfm.html", context)


def _segment_head(segment: Segment | None, colours: dict) -> dict:
    return {
        "name": segment.name if segment else None,
        "colour": colours.get(segment.pk) if segment else NO_SEGMENT_COLOUR,
    }


def _size_row(size: selectors.SegmentSize, colours: dict) -> dict:
    segment = size.segment
    filters = {"segment__id__exact": segment.pk} if segment else {"segment__isnull": "True"}
    return {
        **_segment_head(segment, colours),
        "segment": segment,
        "url": admin_url(Segment, segment.pk) if segment else None,
        "customers": f"{size.customers:,}",
        "percent": size.share * 100,
        "profiles_url": changelist_url(CustomerProfile, **filters),
    }


def _grid_cell(cell: selectors.GridCell, colours: dict, monetary: int | None) -> dict:
    filters = {"recency_score": cell.recency, "frequency_score": cell.frequency}
    if monetary is not None:
        filters["monetary_score"] = monetary
    split = len(cell.rule_segments) > 1
    names = [f"{s.name} ({_scores('M', ms)})" if split else s.name for s, ms in cell.rule_segments]
    return {
        "customers": f"{cell.customers:,}",
        "empty": not cell.customers,
        "colour": colours.get(cell.segment.pk, NO_SEGMENT_COLOUR) if cell.segment else NO_SEGMENT_COLOUR,
        "segments": names,
        "split": ", ".join(f"{s.name if s else 'no segment'}: {n:,}" for s, n in cell.by_segment),
        "uncovered": cell.uncovered,
        "url": changelist_url(CustomerProfile, **filters),
        "recency": cell.recency,
        "frequency": cell.frequency,
    }


def _movement_row(row: selectors.MovementRow, destinations: list, colours: dict) -> dict:
    cells = []
    for destination, n in zip(destinations, row.counts, strict=True):
        filters = {"previous_segment__id__exact": row.origin.pk} if row.origin else {"previous_segment__isnull": "True"}
        filters |= {"segment__id__exact": destination.pk} if destination else {"segment__isnull": "True"}
        stayed = row.origin is not None and destination is not None and row.origin.pk == destination.pk
        url = changelist_url(CustomerProfile, **filters) if n else None
        cells.append({"n": f"{n:,}", "url": url, "stayed": stayed})
    return {**_segment_head(row.origin, colours), "cells": cells, "total": f"{row.total:,}"}


@admin.register(ModelErasure)
class ModelErasureAdmin(ReadOnlyAdmin):
    """Erasures the saved model files may still hold: empty once the clean-up task has run. A row
    that stays means the task is not running (is a worker consuming the default queue?)."""

    list_display = ("customer_pk", "erased_at")


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


def score_filter(axis: str) -> type[ChoiceFilter]:
    """A list filter on one RFM score (the grid's cells link to the customers they count)."""

    class ScoreFilter(ChoiceFilter):
        title = f"{axis} score"
        parameter_name = f"{axis}_score"
        options = {str(s): (str(s), Q(**{f"{axis}_score": s})) for s in selectors.SCORES}

    return ScoreFilter


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
    list_filter = (
        "segment",
        MovedFilter,
        "previous_segment",
        score_filter("recency"),
        score_filter("frequency"),
        score_filter("monetary"),
    )
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
    readonly_fields = (
        "rfm",
        "predicted_open",
        "best_hours_display",
        "top_items_pretty",
        "explanation_pretty",
    )
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


class CustomerSegmentColumns:
    """The customer's segment on the customer list (see extend_admin)."""

    @admin.display(description="segment", ordering="profile__segment__priority")
    def segment(self, obj: Customer) -> str:
        profile = getattr(obj, "profile", None)
        return str(profile.segment) if profile and profile.segment else "—"


extend_admin(
    CustomerAdmin,
    methods=CustomerSegmentColumns,
    list_display={"segment": "external_id"},
    list_filter=("profile__segment",),
    list_select_related=("profile__segment",),
    inlines=(CustomerProfileInline,),
    csv_columns={"profile__segment__name": "segment"},
)
