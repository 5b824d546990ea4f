"""The app's inbox, the feedback it reports about each notification, and the customer's notification
preferences (here rather than in devices because muted types are notification types)."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from campaigns import selectors, services
from campaigns.models import Feedback, Notification, NotificationType
from devices import services as devices_services
from devices.api import validate_timezone_name
from devices.api_base import MobileApi
from devices.models import Customer
from optimus_site.api.batches import BatchReply, batch_rows, validated
from optimus_site.api.errors import flatten_fields
from optimus_site.api.pagination import MAX_PAGE_SIZE, Pagination
from optimus_site.api.schema import error_responses
from optimus_site.api.serializers import ClientTimeField, StrictSerializer
from optimus_site.bulk import RowError


class InboxEntry(serializers.ModelSerializer):
    type = serializers.SlugRelatedField(source="notification_type", slug_field="slug", read_only=True)
    item_ids = serializers.ListField(child=serializers.CharField(), help_text="External ids of the items shown.")
    sent_at = serializers.SerializerMethodField()
    delivered_at = serializers.SerializerMethodField()
    opened_at = serializers.SerializerMethodField()
    dismissed_at = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "type",
            "title",
            "body",
            "link",
            "item_ids",
            "sent_at",
            "delivered_at",
            "opened_at",
            "dismissed_at",
        ]

    def get_sent_at(self, obj: Notification) -> str:
        return (obj.sent_at or obj.scheduled_for).isoformat().replace("+00:00", "Z")

    def _feedback_at(self, obj: Notification, action: str) -> str | None:
        for fb in obj.feedback.all():
            if fb.action == action:
                return fb.occurred_at.isoformat().replace("+00:00", "Z")
        return None

    def get_delivered_at(self, obj: Notification) -> str | None:
        return self._feedback_at(obj, Feedback.Action.DELIVERED)

    def get_opened_at(self, obj: Notification) -> str | None:
        return self._feedback_at(obj, Feedback.Action.OPENED)

    def get_dismissed_at(self, obj: Notification) -> str | None:
        return self._feedback_at(obj, Feedback.Action.DISMISSED)


class InboxPage(serializers.Serializer):
    count = serializers.IntegerField(help_text="How many notifications there are in all.")
    next = serializers.URLField(allow_null=True, help_text="The next page, or null on the last one.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null on the first one.")
    results = InboxEntry(many=True)


class InboxApi(MobileApi):
    @extend_schema(
        operation_id="inbox",
        summary="The customer's notifications, newest first",
        description="Paginated: `page` (from 1) and `page_size` (default 20, at most 100).",
        parameters=[
            OpenApiParameter("page", int, description="Page number, from 1."),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                description="Notifications per page: default 20, at most 100 (anything else is a 400).",
            ),
        ],
        responses={200: InboxPage, **error_responses(400, 401, 404, 429)},
        tags=["mobile: notifications"],
    )
    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.inbox(customer=request.user), request, view=self)
        return paginator.get_paginated_response(InboxEntry(page, many=True).data)


class FeedbackContext(StrictSerializer):
    battery = serializers.IntegerField(required=False, min_value=0, max_value=100, help_text="Percent.")
    charging = serializers.BooleanField(required=False)
    network = serializers.ChoiceField(required=False, choices=Feedback.Network.choices)
    app_state = serializers.ChoiceField(required=False, choices=Feedback.AppState.choices)
    os = serializers.CharField(required=False, max_length=100, help_text="Free text, e.g. 'Android 15'.")


class FeedbackApi(MobileApi):
    class FeedbackInput(StrictSerializer):
        action = serializers.ChoiceField(choices=Feedback.Action.choices)
        at = ClientTimeField()
        context = FeedbackContext(required=False, help_text="The device's state at that moment; every key optional.")

    class FeedbackOutput(serializers.Serializer):
        notification_id = serializers.IntegerField()
        action = serializers.CharField()
        duplicate = serializers.BooleanField(help_text="true when this action was already recorded (a retry).")

    @extend_schema(
        operation_id="notification_feedback",
        summary="Report what happened to a notification on the phone",
        description="Send `delivered` when the push arrives, `opened` when the person taps it, `dismissed` when "
        "they swipe it away. Repeats are harmless: 201 the first time, 200 with duplicate=true after. "
        "Use the `notification_id` from the push's data payload. 404 for a notification that is not this "
        "customer's. Each action is recorded independently and in any order: a `dismissed` after an "
        "`opened` is accepted (a person may open a push from the notification centre and later clear "
        "it from another device), and an open always counts as an open.",
        request=FeedbackInput,
        responses={200: FeedbackOutput, 201: FeedbackOutput, **error_responses(400, 401, 404, 413, 429)},
        examples=[
            OpenApiExample(
                "Opened while charging on Wi-Fi",
                value={
                    "action": "opened",
                    "at": "2026-11-25T19:04:05Z",
                    "context": {
                        "battery": 81,
                        "charging": True,
                        "network": "wifi",
                        "app_state": "background",
                        "os": "Android 15",
                    },
                },
                request_only=True,
            )  # fmt: skip
        ],
        tags=["mobile: notifications"],
    )
    def post(self, request, notification_id: int):
        data = self.FeedbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = services.feedback_record(
            customer_id=request.auth.customer_id,
            notification_id=int(notification_id),
            action=data.validated_data["action"],
            at=data.validated_data["at"],
            context=data.validated_data.get("context", {}),
        )
        if outcome == services.FeedbackOutcome.NOT_FOUND:
            raise NotFound("No such notification for this customer.")
        return Response(
            {
                "notification_id": int(notification_id),
                "action": data.validated_data["action"],
                "duplicate": outcome == services.FeedbackOutcome.REPEAT,
            },
            status=status.HTTP_201_CREATED if outcome == services.FeedbackOutcome.RECORDED else status.HTTP_200_OK,
        )


class FeedbackItem(StrictSerializer):
    notification_id = serializers.IntegerField(
        min_value=1, max_value=10**18 - 1, help_text="The `notification_id` from the push's data payload."
    )
    action = serializers.ChoiceField(choices=Feedback.Action.choices)
    at = ClientTimeField()
    action_id = serializers.CharField(
        required=False,
        max_length=64,
        help_text="Your queue's id for this report, if it has one. Not needed for safety: the server "
        "dedupes by (notification, action), whatever the id.",
    )
    context = FeedbackContext(required=False, help_text="The device's state at that moment; every key optional.")


def parse_feedback(row: object) -> services.FeedbackRow:
    if not isinstance(row, dict):
        raise RowError("each feedback must be an object")
    item = FeedbackItem(data=row)
    if not item.is_valid():
        raise RowError(
            "; ".join(
                f"{field}: {' '.join(map(str, messages))}" for field, messages in flatten_fields(item.errors).items()
            )
        )
    data = item.validated_data
    return services.FeedbackRow(
        notification_id=data["notification_id"], action=data["action"], at=data["at"], context=data.get("context", {})
    )


class FeedbackBatchApi(MobileApi):
    LIMIT = 500

    class FeedbackBatchBody(serializers.Serializer):
        feedback = FeedbackItem(many=True)

    @extend_schema(
        operation_id="feedback_batch",
        summary="Report several notifications' feedback at once",
        description=f"Up to {LIMIT} reports per call, with the same rules as the single endpoint: a repeat of "
        "(notification, action) comes back as a duplicate, another customer's notification (or one never "
        "sent) is that row's `not_found`, and every valid row is stored even when others are rejected. "
        "What an app queues while offline (delivered, then opened or dismissed) goes here in one request.",
        request=FeedbackBatchBody,
        responses={200: BatchReply, **error_responses(400, 401, 413, 429)},
        examples=[
            OpenApiExample(
                "Delivered, then opened",
                value={
                    "feedback": [
                        {"notification_id": 1234, "action": "delivered", "at": "2026-11-25T19:03:58Z"},
                        {
                            "notification_id": 1234,
                            "action": "opened",
                            "at": "2026-11-25T19:04:05Z",
                            "context": {"network": "wifi", "app_state": "background"},
                        },
                    ]
                },
                request_only=True,
            )  # fmt: skip
        ],
        tags=["mobile: notifications"],
    )
    def post(self, request):
        rows, result = validated(batch_rows(request, "feedback", self.LIMIT), parse_feedback)
        services.feedback_record_many(customer_id=request.auth.customer_id, rows=rows, result=result)
        return Response(result.as_reply())


# --- preferences (mobile) -------------------------------------------------------------------


class QuietHours(StrictSerializer):
    start = serializers.TimeField(format="%H:%M", input_formats=["%H:%M"], help_text="Local time HH:MM.")
    end = serializers.TimeField(
        format="%H:%M", input_formats=["%H:%M"], help_text="Local time HH:MM, exclusive; may be before start."
    )

    def to_internal_value(self, data):
        # PATCH is partial, so DRF would not require start and end here; quiet hours need both.
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("start", "end")):
            raise serializers.ValidationError('quiet_hours must be {"start": "HH:MM", "end": "HH:MM"} or null')
        return super().to_internal_value(data)

    def validate(self, attrs):
        if attrs["start"] == attrs["end"]:
            raise serializers.ValidationError("start and end must differ")
        return attrs


class Preferences(StrictSerializer):
    opt_out = serializers.BooleanField(required=False, help_text="true: no notifications at all.")
    quiet_hours = QuietHours(required=False, allow_null=True, help_text="null for none.")
    timezone = serializers.CharField(required=False, validators=[validate_timezone_name])
    muted_types = serializers.ListField(
        child=serializers.SlugField(), required=False, max_length=100, help_text="Notification type slugs."
    )

    def validate_muted_types(self, value: list[str]) -> list[str]:
        known = set(NotificationType.objects.filter(slug__in=value).values_list("slug", flat=True))
        unknown = sorted(set(value) - known)
        if unknown:
            raise serializers.ValidationError(f"unknown notification type(s): {', '.join(unknown)}")
        return value

    @staticmethod
    def of(customer: Customer) -> dict:
        quiet = None
        if customer.quiet_hours_start is not None and customer.quiet_hours_end is not None:
            quiet = {
                "start": customer.quiet_hours_start.strftime("%H:%M"),
                "end": customer.quiet_hours_end.strftime("%H:%M"),
            }
        return {
            "opt_out": customer.opt_out,
            "quiet_hours": quiet,
            "timezone": customer.timezone,
            "muted_types": list(customer.muted_types),
        }


class PreferencesApi(MobileApi):
    @extend_schema(
        operation_id="preferences_get",
        summary="The customer's notification preferences",
        responses={200: Preferences, **error_responses(401, 429)},
        tags=["mobile: preferences"],
    )
    def get(self, request):
        return Response(Preferences.of(request.user))

    @extend_schema(
        operation_id="preferences_update",
        summary="Change notification preferences",
        description="Send only what changes. Quiet hours are in the customer's local time.",
        request=Preferences,
        responses={200: Preferences, **error_responses(400, 401, 413, 429)},
        examples=[
            OpenApiExample(
                "Quiet at night, no surveys",
                value={"quiet_hours": {"start": "22:00", "end": "07:30"}, "muted_types": ["satisfaction-survey"]},
                request_only=True,
            )
        ],
        tags=["mobile: preferences"],
    )
    def patch(self, request):
        data = Preferences(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        changes = {}
        if "opt_out" in v:
            changes["opt_out"] = v["opt_out"]
        if "quiet_hours" in v:
            q = v["quiet_hours"]
            changes["quiet_hours"] = None if q is None else (q["start"], q["end"])
        if "timezone" in v:
            changes["timezone_name"] = v["timezone"]
        if "muted_types" in v:
            changes["muted_types"] = v["muted_types"]
        customer = devices_services.preferences_update(customer=request.user, **changes)
        return Response(Preferences.of(customer))
