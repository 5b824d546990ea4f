"""Small helpers shared by every app's admin: plain-language list filters with a default, a
streaming CSV export action, pretty JSON, links between admin pages, and ``extend_admin``, through
which an app adds to the admin of a model another app owns."""

import csv
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import Q
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html


class ChoiceFilter(admin.SimpleListFilter):
    """A list filter whose choices are plain-language labels, each standing for a ``Q``.

    ``options`` maps the URL value to ``(label, Q or a function returning a Q)``; a function is
    evaluated per request, for choices such as "next 24 hours". With ``default`` set, that choice
    applies when nothing is chosen (the useful subset a marketer expects to land on) and an "All"
    choice is added at the end.
    """

    ALL = "all"
    options: dict[str, tuple[str, Q | Callable[[], Q]]] = {}
    default: str | None = None

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _) in self.options.items()]

    def selected_key(self) -> str | None:
        return self.value() or self.default

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
        key = self.selected_key()
        if key not in self.options:
            return queryset
        condition = self.options[key][1]
        return queryset.filter(condition() if callable(condition) else condition)

    def choices(self, changelist) -> Iterator[dict[str, Any]]:
        if self.default is None:
            yield from super().choices(changelist)
            return
        selected = self.selected_key()
        for key, label in self.lookup_choices:
            if key == self.default:
                query_string = changelist.get_query_string(remove=[self.parameter_name])
            else:
                query_string = changelist.get_query_string({self.parameter_name: key})
            yield {"selected": selected == key, "query_string": query_string, "display": label}
        yield {
            "selected": selected == self.ALL,
            "query_string": changelist.get_query_string({self.parameter_name: self.ALL}),
            "display": "All",
        }


def date_filter(title: str) -> type[admin.DateFieldListFilter]:
    """Django's date filter (today, past 7 days, this month…) under a plain title such as "when"."""

    class TitledDateFilter(admin.DateFieldListFilter):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.title = title

    return TitledDateFilter


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows the system writes (events, notifications, model runs…): look, never add or edit.
    Deleting stays with whoever holds the delete permission (superusers)."""

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


class ReadOnlyInlineMixin:
    """For inlines of rows the system writes: shown on the parent's page, never added or edited."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


class _Echo:
    """A file-like object whose write() hands the line back, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


# A spreadsheet runs a cell starting with one of these as a formula; external ids, titles and
# notification text come from outside, so they are defused with a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


@admin.action(description="Export selected rows as CSV")
def export_as_csv(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: models.QuerySet):
    """Streams the selected rows (or the whole filtered list) as CSV.

    Columns come from the admin's ``csv_columns`` ({lookup: header}, lookups may follow foreign
    keys and name annotations); by default every concrete field of the model.
    """
    opts = modeladmin.model._meta
    columns = getattr(modeladmin, "csv_columns", None) or {f.attname: f.name for f in opts.concrete_fields}
    # values_list() reads only these columns, joins what the lookups need and never builds model
    # instances, so an export of a big table neither runs N+1 queries nor holds every row.
    rows = queryset.prefetch_related(None).values_list(*columns).iterator(chunk_size=2000)
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        # The byte-order mark makes Excel read the file as UTF-8 rather than the local code page.
        yield "\ufeff" + writer.writerow(columns.values())
        for row in rows:
            yield writer.writerow([_csv_cell(value) for value in row])

    filename = f"{opts.model_name}-{timezone.now():%Y%m%d-%H%M}.csv"
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def pretty_json(value: Any) -> str:
    if value in (None, {}, []):
        return "—"
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False)
    )


def admin_url(model: type[models.Model], pk: Any) -> str:
    """The object's page in the admin (its change page, read-only without the right to change)."""
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk])


def admin_link(obj: models.Model | None, text: str | None = None) -> str:
    if obj is None:
        return "—"
    return format_html('<a href="{}">{}</a>', admin_url(type(obj), obj.pk), text if text is not None else str(obj))


def changelist_url(model: type[models.Model], **params: Any) -> str:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def extend_admin(
    model_admin: type[admin.ModelAdmin],
    *,
    methods: type | None = None,
    list_display: dict[str, str] | None = None,
    list_filter: tuple = (),
    list_select_related: tuple[str, ...] = (),
    inlines: tuple = (),
    readonly_fields: tuple[str, ...] = (),
    fields: dict[str, str] | None = None,
    fieldsets: tuple = (),
    csv_columns: dict[str, str] | None = None,
    actions: tuple = (),
) -> None:
    """Adds to another app's model admin what an app downstream of it knows about the model.

    Each model's admin is registered once, by the app that owns the model; that app may not import
    the apps that depend on it, so those call this from their own admin module (``campaigns.admin``
    adds the customer's recent notifications to ``devices.admin.CustomerAdmin``). It changes the
    class in place, at import, before Django's admin checks run on the result.

    ``methods``: a plain class whose methods become the admin's (display columns and fields, actions,
    ``has_<name>_permission`` checks); a name the admin has already is an error, never an override.
    ``list_display`` and ``fields``: {new name: the existing name it follows}. ``fieldsets`` go before
    the admin's last one, which stays last (on the customer page: the collapsed raw data). The rest
    are appended.
    """
    for name, value in vars(methods or object).items():
        if name.startswith("__"):
            continue
        if hasattr(model_admin, name):
            raise ImproperlyConfigured(
                f"{model_admin.__name__}.{name} exists already; extend_admin adds, never replaces"
            )
        setattr(model_admin, name, value)
    if list_display:
        model_admin.list_display = _insert_after(model_admin.list_display, list_display)
    if fields:
        model_admin.fields = _insert_after(model_admin.fields, fields)
    if list_select_related and model_admin.list_select_related is not True:
        model_admin.list_select_related = (*(model_admin.list_select_related or ()), *list_select_related)
    if fieldsets:
        model_admin.fieldsets = (*model_admin.fieldsets[:-1], *fieldsets, model_admin.fieldsets[-1])
    if csv_columns:
        model_admin.csv_columns = {**model_admin.csv_columns, **csv_columns}
    model_admin.list_filter = (*model_admin.list_filter, *list_filter)
    model_admin.inlines = (*model_admin.inlines, *inlines)
    model_admin.readonly_fields = (*model_admin.readonly_fields, *readonly_fields)
    model_admin.actions = (*(model_admin.actions or ()), *actions)


def _insert_after(names, additions: dict[str, str]) -> tuple:
    out = list(names)
    for new, existing in additions.items():
        out.insert(out.index(existing) + 1, new)
    return tuple(out)
