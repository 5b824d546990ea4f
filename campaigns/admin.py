"""Admin for notification types, segment policies, campaigns and what was sent: notifications,
deliveries and the feedback phones send back.

Through ``extend_admin`` it also adds to other apps' admins what only campaigns knows: the segment's
contact policy (``recommender.admin.SegmentAdmin``), what Optimus decides for a customer and their
recent notifications (``devices.admin.CustomerAdmin``, ``recommender.admin.CustomerProfileAdmin``) and
the test push (``devices.admin.DeviceAdmin``)."""

import datetime as dt
from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpRequest
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from campaigns import services
from campaigns.device_test import device_test_send
from campaigns.explanations import customer_explanation
from campaigns.models import (
    Campaign,
    Delivery,
    Feedback,
    Notification,
    NotificationType,
    SegmentPolicy,
    SendingSwitch,
)
from campaigns.planner import render
from campaigns.policy import segment_frequencies
from campaigns.results import notification_results
from campaigns.templating import PLACEHOLDERS, SAMPLE_VALUES, TemplateError
from devices.admin import CustomerAdmin, DeviceAdmin
from devices.models import Customer
from optimus_site.admin_tools import (
    ChoiceFilter,
    ReadOnlyAdmin,
    ReadOnlyInlineMixin,
    admin_link,
    changelist_url,
    date_filter,
    export_as_csv,
    extend_admin,
    percent,
    pretty_json,
)
from recommender.admin import CustomerProfileAdmin, SegmentAdmin
from recommender.models import CustomerProfile, Segment

RECENT_NOTIFICATIONS = 10


class ReadOnlyInline(ReadOnlyInlineMixin, admin.TabularInline):
    pass


def _can_steer_sending(request: HttpRequest) -> bool:
    """Who may send now, cancel, send tests and use the kill switch: whoever may run campaigns
    (marketers included; see the README's table of roles)."""
    return request.user.has_perm("campaigns.change_campaign")


# --- Types and policies ---------------------------------------------------------------------

PLACEHOLDER_TABLE = format_html(
    "Placeholders: {}. Write {{{{ or }}}} for a literal brace; nothing else may stand in braces.",
    format_html_join(", ", "<code>{{{}}}</code> ({})", PLACEHOLDERS.items()),
)


def wording_preview(notification_type: NotificationType, campaign: Campaign | None) -> str:
    """The saved wording filled in with sample data, as a phone would show it."""
    try:
        title, body, link = render(
            notification_type, campaign, [SAMPLE_VALUES["first_item_id"]] * SAMPLE_VALUES["item_count"],
            {SAMPLE_VALUES["first_item_id"]: SAMPLE_VALUES["first_item"]}, SAMPLE_VALUES["segment"],
        )  # fmt: skip
    except TemplateError as exc:
        return format_html("<strong>Cannot be filled in, so it is never sent:</strong> {}", exc)
    return format_html("<strong>{}</strong><br>{}<br><small>{}</small>", title, body, link or "no deep link")


class TypeActiveFilter(ChoiceFilter):
    title = "status"
    parameter_name = "active"
    options = {
        "yes": ("Active", Q(is_active=True)),
        "no": ("Inactive (never planned)", Q(is_active=False)),
    }


class OfferFilter(ChoiceFilter):
    title = "offer"
    parameter_name = "offer"
    options = {
        "missing": ("Promises an offer, none attached (not sent)", Q(requires_offer=True, offer="")),
        "attached": ("Offer attached", ~Q(offer="")),
    }


class CarriesItemsFilter(ChoiceFilter):
    title = "content"
    parameter_name = "items"
    options = {
        "yes": ("Shows products", Q(carries_items=True)),
        "no": ("Plain message", Q(carries_items=False)),
    }


@admin.register(NotificationType)
class NotificationTypeAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "carries_items",
        "max_items",
        "content_value",
        "ttl_hours",
        "is_active",
        "offer_status",
    )
    list_filter = (TypeActiveFilter, CarriesItemsFilter, OfferFilter)
    search_fields = ("name", "slug")
    search_help_text = "Name or slug of the type."
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "is_active")}),
        (
            "Wording",
            {
                "description": PLACEHOLDER_TABLE,
                "fields": ("title_template", "body_template", "deep_link_template", "preview"),
            },
        ),
        ("Offer", {"fields": ("requires_offer", "offer")}),
        ("Products", {"fields": ("carries_items", "max_items")}),
        ("Planning", {"fields": ("content_value", "ttl_hours")}),
    )

    @admin.display(description="offer")
    def offer_status(self, obj: NotificationType) -> str:
        if obj.has_offer:
            return obj.offer
        return "Needs an offer: not sent" if obj.requires_offer else "—"

    def get_prepopulated_fields(self, request: HttpRequest, obj: NotificationType | None = None) -> dict:
        return {} if obj else {"slug": ("name",)}

    def get_readonly_fields(self, request: HttpRequest, obj: NotificationType | None = None) -> tuple[str, ...]:
        # The app and customers' muted types refer to the slug: it cannot change once created.
        return ("slug", "preview") if obj else ("preview",)

    @admin.display(description="preview")
    def preview(self, obj: NotificationType | None) -> str:
        return wording_preview(obj, None) if obj and obj.pk else "Save to see a preview."


class PolicyActiveFilter(ChoiceFilter):
    title = "status"
    parameter_name = "active"
    options = {
        "yes": ("Sending", Q(is_active=True)),
        "no": ("Paused (sends nothing)", Q(is_active=False)),
    }


@admin.register(SegmentPolicy)
class SegmentPolicyAdmin(admin.ModelAdmin):
    list_display = ("segment", "weekly_cap", "learned", "weekly_ceiling", "allowed", "strategy", "is_active")
    list_editable = ("weekly_cap", "weekly_ceiling", "is_active")
    list_filter = (PolicyActiveFilter, "allowed_types")
    list_select_related = ("segment",)
    search_fields = ("segment__name",)
    search_help_text = "Segment name."
    filter_horizontal = ("allowed_types", "forbidden_types")
    fields = ("segment", "weekly_cap", "weekly_ceiling", "allowed_types", "pinned_type", "forbidden_types")
    fields += ("strategy", "is_active", "learned_frequency")
    readonly_fields = ("learned_frequency",)

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).prefetch_related("allowed_types")

    @admin.display(description="learned frequency")
    def learned(self, obj: SegmentPolicy) -> str:
        return "—"  # get_list_display puts the learned numbers, read once a page, in its place

    def get_list_display(self, request: HttpRequest):
        # The log is read once for the whole list, not once a row.
        frequencies = segment_frequencies(now=timezone.now())

        @admin.display(description="learned frequency")
        def learned(obj: SegmentPolicy) -> str:
            found = frequencies.get(obj.segment_id)
            return "—" if found is None else format_html('<span title="{}">{}</span>', found["why"], found["learned"])

        return [learned if name == "learned" else name for name in self.list_display]

    @admin.display(description="learned frequency (pushes a week) and why")
    def learned_frequency(self, obj: SegmentPolicy) -> str:
        if obj.pk is None:
            return "—"
        learned = segment_frequencies(now=timezone.now()).get(obj.segment_id)
        if learned is None:
            return "—"
        return f"{learned['learned']} a week (started from {learned['starting']}). {learned['why']}"

    @admin.display(description="allowed types")
    def allowed(self, obj: SegmentPolicy) -> str:
        return ", ".join(t.name for t in obj.allowed_types.all()) or "None (sends nothing)"


class SegmentPolicyInline(admin.StackedInline):
    model = SegmentPolicy
    fields = (
        "weekly_cap",
        "weekly_ceiling",
        "allowed_types",
        "pinned_type",
        "forbidden_types",
        "strategy",
        "is_active",
    )
    filter_horizontal = ("allowed_types", "forbidden_types")
    can_delete = False
    verbose_name_plural = "policy: how this segment may be contacted"


class SegmentPolicyColumns:
    """The segment's weekly cap on the segment list (see extend_admin)."""

    @admin.display(description="weekly cap")
    def weekly_cap(self, obj: Segment) -> str:
        policy = getattr(obj, "policy", None)
        return "—" if policy is None else str(policy.weekly_cap)


extend_admin(
    SegmentAdmin,
    methods=SegmentPolicyColumns,
    list_display={"weekly_cap": "customers"},
    list_select_related=("policy",),
    inlines=(SegmentPolicyInline,),
)


# --- Campaigns ------------------------------------------------------------------------------


def _running_now() -> Q:
    now = timezone.now()
    return Q(status=Campaign.Status.APPROVED, starts_at__lte=now, ends_at__gt=now)


class CampaignShowFilter(ChoiceFilter):
    title = "show"
    parameter_name = "show"
    options = {
        "current": (
            "Current (draft, approved or paused)",
            Q(status__in=[Campaign.Status.DRAFT, Campaign.Status.APPROVED, Campaign.Status.PAUSED]),
        ),
        "running": ("Running now", _running_now),
        **{status.value: (status.label, Q(status=status)) for status in Campaign.Status},
        "ended": ("Finished or cancelled", Q(status__in=[Campaign.Status.FINISHED, Campaign.Status.CANCELLED])),
    }
    default = "current"


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "notification_type", "audience", "starts_at", "ends_at", "timing")
    # One filter for the status, so that the default ("current") cannot hide a chosen status.
    list_filter = (CampaignShowFilter, "notification_type", "timing")
    list_select_related = ("notification_type",)
    search_fields = ("name",)
    search_help_text = "Campaign name."
    date_hierarchy = "starts_at"
    filter_horizontal = ("segments",)
    readonly_fields = (
        "status", "approved_at", "approved_by", "created_by", "created_at", "updated_at", "results", "preview",
    )  # fmt: skip
    actions = ("approve", "pause", "cancel", export_as_csv)
    csv_columns = {
        "id": "campaign_id",
        "name": "name",
        "notification_type__slug": "type",
        "status": "status",
        "starts_at": "starts_at",
        "ends_at": "ends_at",
        "timing": "timing",
        "fixed_local_time": "fixed_local_time",
        "max_per_customer": "max_per_customer",
        "control_share": "control_share",
        "approved_at": "approved_at",
    }
    fieldsets = (
        (None, {"fields": ("name", "notification_type", "segments")}),
        (
            "Message",
            {
                "description": "Leave the texts empty to use the notification type's wording. " + PLACEHOLDER_TABLE,
                "fields": ("title_template", "body_template", "preview", "personalised_items"),
            },
        ),
        ("When", {"fields": ("starts_at", "ends_at", "timing", "fixed_local_time", "max_per_customer")}),
        ("Measurement", {"fields": ("control_share",)}),
        (
            "Status and results",
            {
                "description": "Change the status with the actions on the campaign list.",
                "fields": ("status", "approved_at", "approved_by", "created_by", "created_at", "updated_at", "results"),
            },
        ),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Campaign | None = None):
        return self.fieldsets if obj else self.fieldsets[:-1]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).prefetch_related("segments")

    @admin.display(description="preview")
    def preview(self, obj: Campaign | None) -> str:
        return wording_preview(obj.notification_type, obj) if obj and obj.pk else "Save to see a preview."

    @admin.display(description="audience")
    def audience(self, obj: Campaign) -> str:
        return ", ".join(s.name for s in obj.segments.all()) or "Everyone"

    @admin.display(description="results")
    def results(self, obj: Campaign) -> str:
        by_status = dict(
            Notification.objects.filter(campaign=obj).values_list("status").annotate(n=Count("id")).order_by()
        )
        if not by_status:
            return "Nothing planned yet"
        outcome = notification_results(Notification.objects.filter(campaign=obj))
        counts = " · ".join(
            f"{label}: {by_status[value]:,}" for value, label in Notification.Status.choices if value in by_status
        )
        return format_html(
            '{}<br>Opened: {} ({} of sent) · <a href="{}">see the notifications</a>',
            counts,
            f"{outcome.opens:,}",
            "—" if outcome.ctr is None else percent(outcome.ctr),
            changelist_url(Notification, campaign__id__exact=obj.pk),
        )

    def save_model(self, request: HttpRequest, obj: Campaign, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        elif form.changed_data and services.campaign_edited(campaign=obj):
            self.message_user(
                request, f"'{obj}' is back to draft: an edited campaign must be approved again.", messages.WARNING
            )
        super().save_model(request, obj, form, change)

    def _transition(self, request: HttpRequest, queryset, service: Callable[..., bool], done: str) -> None:
        campaigns = list(queryset)
        n, refused = 0, []
        for campaign in campaigns:
            try:
                n += service(campaign=campaign, by=request.user)
            except services.ApprovalRefused as exc:
                refused.append(str(exc))
        message = f"{n} campaign{pluralize(n)} {done}"
        if skipped := len(campaigns) - n - len(refused):
            message += f"; {skipped} left unchanged (their status does not allow it)"
        self.message_user(request, message, messages.SUCCESS if n else messages.WARNING)
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)

    @admin.action(description="Approve selected campaigns (they run in their window)", permissions=["change"])
    def approve(self, request: HttpRequest, queryset) -> None:
        self._transition(request, queryset, services.campaign_approve, "approved")

    @admin.action(description="Pause selected campaigns", permissions=["change"])
    def pause(self, request: HttpRequest, queryset) -> None:
        self._transition(request, queryset, services.campaign_pause, "paused")

    @admin.action(description="Cancel selected campaigns (and what they planned)", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset) -> None:
        self._transition(request, queryset, services.campaign_cancel, "cancelled")


# --- What was sent --------------------------------------------------------------------------


def _since(hours: int) -> Callable[[], Q]:
    return lambda: Q(scheduled_for__gte=timezone.now() - dt.timedelta(hours=hours), scheduled_for__lte=timezone.now())


class ScheduledFilter(ChoiceFilter):
    title = "scheduled"
    parameter_name = "scheduled"
    options = {
        "next24": (
            "Next 24 hours",
            lambda: Q(scheduled_for__gt=timezone.now(), scheduled_for__lte=timezone.now() + dt.timedelta(hours=24)),
        ),
        "later": ("Not yet due", lambda: Q(scheduled_for__gt=timezone.now())),
        "past24": ("Past 24 hours", _since(24)),
        "past7": ("Past 7 days", _since(24 * 7)),
        "past30": ("Past 30 days", _since(24 * 30)),
    }


class ExplorationFilter(ChoiceFilter):
    title = "send time"
    parameter_name = "exploration"
    options = {
        "best": ("The best choice known", Q(is_exploration=False)),
        "explore": ("Explored (hour, type or frequency), to keep learning", Q(is_exploration=True)),
    }


class DeliveryInline(ReadOnlyInline):
    model = Delivery
    fields = ("platform", "device", "status", "attempts", "error_code", "error_message", "sent_at")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("device")


class FeedbackInline(ReadOnlyInline):
    model = Feedback
    fields = ("action", "occurred_at", "network", "app_state", "battery", "charging", "os")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "customer", "notification_type", "status", "scheduled_for", "predicted", "campaign")
    list_filter = ("status", "notification_type", "campaign", ScheduledFilter, ExplorationFilter)
    list_select_related = ("customer", "notification_type", "campaign")
    search_fields = ("^customer__external_id",)
    search_help_text = "Customer id (or its beginning)."
    raw_id_fields = ("customer", "campaign")
    # Newest first by primary key: sorting by scheduled_for alone has no index and would sort
    # the whole table for every page.
    ordering = ("-id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ("send_now", "cancel", export_as_csv)
    inlines = (DeliveryInline, FeedbackInline)
    csv_columns = {
        "id": "notification_id",
        "customer__external_id": "customer_id",
        "notification_type__slug": "type",
        "campaign__name": "campaign",
        "status": "status",
        "scheduled_for": "scheduled_for",
        "sent_at": "sent_at",
        "title": "title",
        "body": "body",
        "predicted_open": "predicted_open",
        "is_exploration": "is_exploration",
        "status_reason": "status_reason",
    }
    readonly_fields = ("predicted", "item_ids_pretty", "explanation_pretty")
    fieldsets = (
        (None, {"fields": ("customer", "notification_type", "campaign", "title", "body", "link", "item_ids_pretty")}),
        ("Status", {"fields": ("status", "status_reason", "scheduled_for", "claimed_at", "sent_at")}),
        (
            "Why it was chosen",
            {"fields": ("predicted", "expected_value", "is_exploration", "propensity", "explanation_pretty")},
        ),
    )

    @admin.display(description="predicted open", ordering="predicted_open")
    def predicted(self, obj: Notification) -> str:
        return percent(obj.predicted_open)

    @admin.display(description="items shown")
    def item_ids_pretty(self, obj: Notification) -> str:
        return ", ".join(str(i) for i in obj.item_ids) or "—"

    @admin.display(description="explanation")
    def explanation_pretty(self, obj: Notification) -> str:
        return pretty_json(obj.explanation)

    def has_steer_permission(self, request: HttpRequest) -> bool:
        return _can_steer_sending(request)

    @admin.action(description="Send selected planned notifications now", permissions=["steer"])
    def send_now(self, request: HttpRequest, queryset) -> None:
        n = services.notifications_send_now(notifications=queryset, by=request.user)
        rest = "" if n == queryset.count() else "; only planned ones can be sent now"
        if services.sending_paused():
            when, level = "they go out when sending is resumed (sending is paused)", messages.WARNING
        else:
            when, level = "the dispatcher sends within a minute", messages.SUCCESS if n else messages.WARNING
        self.message_user(request, f"{n} notification{pluralize(n)} due now: {when}{rest}", level)

    @admin.action(description="Cancel selected notifications", permissions=["steer"])
    def cancel(self, request: HttpRequest, queryset) -> None:
        n = services.notifications_cancel(notifications=queryset, by=request.user)
        rest = "" if n == queryset.count() else "; those already sending or sent cannot be"
        self.message_user(
            request, f"{n} notification{pluralize(n)} cancelled{rest}", messages.SUCCESS if n else messages.WARNING
        )


def _notification_link(notification: Notification) -> str:
    return admin_link(notification, f"#{notification.pk}")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "notification_link", "customer", "platform", "device", "status", "attempts", "error_code")
    list_filter = ("status", "platform", ("created_at", date_filter("when")))
    list_select_related = ("notification__customer", "device")
    search_fields = ("^notification__customer__external_id",)
    search_help_text = "Customer id (or its beginning)."
    raw_id_fields = ("notification", "device")
    ordering = ("-id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    @admin.display(description="notification", ordering="notification")
    def notification_link(self, obj: Delivery) -> str:
        return _notification_link(obj.notification)

    @admin.display(description="customer", ordering="notification__customer__external_id")
    def customer(self, obj: Delivery) -> str:
        return obj.notification.customer.external_id


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = (
        "occurred_at",
        "action",
        "notification_link",
        "customer",
        "notification_type",
        "network",
        "app_state",
        "battery",
        "charging",
    )
    list_filter = (
        "action",
        ("occurred_at", date_filter("when")),
        "notification__notification_type",
        "network",
        "app_state",
    )
    list_select_related = ("notification__customer", "notification__notification_type")
    search_fields = ("^notification__customer__external_id",)
    search_help_text = "Customer id (or its beginning)."
    raw_id_fields = ("notification",)
    ordering = ("-id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = (export_as_csv,)
    csv_columns = {
        "notification_id": "notification_id",
        "notification__customer__external_id": "customer_id",
        "notification__notification_type__slug": "type",
        "notification__campaign__name": "campaign",
        "action": "action",
        "occurred_at": "occurred_at",
        "battery": "battery",
        "charging": "charging",
        "network": "network",
        "app_state": "app_state",
        "os": "os",
    }

    @admin.display(description="notification", ordering="notification")
    def notification_link(self, obj: Feedback) -> str:
        return _notification_link(obj.notification)

    @admin.display(description="customer", ordering="notification__customer__external_id")
    def customer(self, obj: Feedback) -> str:
        return obj.notification.customer.external_id

    @admin.display(description="type")
    def notification_type(self, obj: Feedback) -> str:
        return str(obj.notification.notification_type)


# --- Customers: what Optimus decides for them, and what it sent --------------------------------


def explanation_panel(customer: Customer) -> str:
    return render_to_string("admin/campaigns/explanation.html", {"explanation": customer_explanation(customer)})


class CustomerDecisionFields:
    """The explanation and the latest notifications on the customer page (see extend_admin)."""

    @admin.display(description="explanation")
    def decision(self, obj: Customer) -> str:
        return explanation_panel(obj)

    @admin.display(description=f"last {RECENT_NOTIFICATIONS}")
    def recent_notifications(self, obj: Customer) -> str:
        latest = list(
            obj.notifications.select_related("notification_type").order_by("-scheduled_for")[:RECENT_NOTIFICATIONS]
        )
        if not latest:
            return "None yet"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    admin_link(n, f"{n.scheduled_for:%Y-%m-%d %H:%M} UTC"),
                    n.notification_type,
                    n.get_status_display(),
                    n.title,
                )
                for n in latest
            ),
        )
        return format_html(
            "<table><thead><tr><th>Scheduled</th><th>Type</th><th>Status</th><th>Title</th></tr></thead>"
            '<tbody>{}</tbody></table><a href="{}">All notifications of this customer</a>',
            rows,
            changelist_url(Notification, customer__id__exact=obj.pk),
        )


extend_admin(
    CustomerAdmin,
    methods=CustomerDecisionFields,
    readonly_fields=("decision", "recent_notifications"),
    fieldsets=(
        ("What Optimus decides for them, and why", {"fields": ("decision",)}),
        ("Recent notifications", {"fields": ("recent_notifications",)}),
    ),
)


class ProfileDecisionField:
    """The explanation on the profile page (see extend_admin)."""

    @admin.display(description="why")
    def decision(self, obj: CustomerProfile) -> str:
        return explanation_panel(obj.customer)


extend_admin(
    CustomerProfileAdmin,
    methods=ProfileDecisionField,
    readonly_fields=("decision",),
    fields={"decision": "customer"},
)


# --- Operator controls ------------------------------------------------------------------------


@admin.register(SendingSwitch)
class SendingSwitchAdmin(admin.ModelAdmin):
    """The global kill switch: one row; tick "paused" and save to stop every send at once."""

    fields = ("paused", "reason", "changed_by", "changed_at")
    readonly_fields = ("changed_by", "changed_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    list_display = ("__str__", "reason", "changed_by", "changed_at")

    def changelist_view(self, request: HttpRequest, extra_context=None):
        SendingSwitch.current()  # the one row always exists, so there is always something to click
        return super().changelist_view(request, extra_context)

    def save_model(self, request: HttpRequest, obj: SendingSwitch, form, change: bool) -> None:
        # Through the services, so the change is recorded and races resolve in the database.
        if obj.paused:
            services.sending_pause(by=request.user, reason=obj.reason)
        else:
            services.sending_resume(by=request.user)
        obj.refresh_from_db()


class DeviceTestPush:
    """ "Send a test push" on the device list (see extend_admin)."""

    @admin.action(description="Send a test push to the selected devices", permissions=["steer"])
    def send_test(self, request: HttpRequest, queryset) -> None:
        for device in queryset[:20]:
            try:
                result = device_test_send(device=device, by=request.user)
            except ValueError as exc:
                self.message_user(request, f"{device}: {exc}", messages.WARNING)
                continue
            level = messages.SUCCESS if result.ok else messages.ERROR
            detail = result.provider_message_id if result.ok else f"{result.error_code} {result.error_message}"
            self.message_user(request, f"{device}: {result.outcome} {detail}".strip(), level)

    def has_steer_permission(self, request: HttpRequest) -> bool:
        return _can_steer_sending(request)


extend_admin(DeviceAdmin, methods=DeviceTestPush, actions=("send_test",))
