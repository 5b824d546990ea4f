"""Customers (server API) and devices (mobile API). Each view: validate, call one service, answer.
The preferences endpoint is in ``campaigns.api``: muted types are notification types, which campaigns owns."""

import base64
import binascii
import json
import re

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from devices import services
from devices.api_base import MobileApi, ServerApi
from devices.models import EXTERNAL_ID_LENGTH, Customer, Device, Platform, available_timezones, customer_id_problem
from optimus_site import netguard
from optimus_site.api.json_limits import MAX_FIELD_DEPTH, json_depth
from optimus_site.api.schema import error_responses
from optimus_site.api.serializers import StrictSerializer

MAX_ATTRIBUTES_BYTES = 8192
LOCALE = re.compile(r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$")


# The schema shows the pattern validate_locale enforces, so clients and the fuzzer know which strings
# are language tags (allow_blank adds the "" alternative that clears the locale).
@extend_schema_field({"type": "string", "maxLength": 35, "pattern": LOCALE.pattern})
class LocaleField(serializers.CharField):
    pass


def validate_timezone_name(value: str) -> str:
    if value not in available_timezones():
        raise serializers.ValidationError(f"{value!r} is not an IANA time zone name (for example 'Europe/London').")
    return value


def validate_external_id(value: str) -> str:
    if not value or len(value) > EXTERNAL_ID_LENGTH:
        raise serializers.ValidationError(f"must be 1 to {EXTERNAL_ID_LENGTH} characters")
    if problem := customer_id_problem(value):
        raise serializers.ValidationError(problem)
    return value


# --- customers (server) ---------------------------------------------------------------------


class CustomerOutput(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["external_id", "timezone", "locale", "attributes", "opt_out", "created_at", "updated_at"]


class CustomerApi(ServerApi):
    class CustomerUpsertInput(StrictSerializer):
        timezone = serializers.CharField(required=False, validators=[validate_timezone_name])
        locale = LocaleField(required=False, allow_blank=True, max_length=35)
        attributes = serializers.DictField(required=False, help_text="Free-form JSON object, up to 8 KB.")

        def validate_locale(self, value: str) -> str:
            if value and not LOCALE.match(value):
                raise serializers.ValidationError(f"{value!r} is not a language tag such as en-GB")
            return value

        def validate_attributes(self, value: dict) -> dict:
            if len(json.dumps(value)) > MAX_ATTRIBUTES_BYTES:
                raise serializers.ValidationError(f"must be at most {MAX_ATTRIBUTES_BYTES} bytes of JSON")
            if json_depth(value) > MAX_FIELD_DEPTH:
                raise serializers.ValidationError(f"must be nested at most {MAX_FIELD_DEPTH} levels deep")
            return value

    @extend_schema(
        operation_id="customer_upsert",
        summary="Create or update a customer",
        description="Upsert by your own customer id. Fields you leave out keep their current value "
        "(defaults on creation: UTC, no locale, no attributes). 201 when created, 200 when updated.",
        request=CustomerUpsertInput,
        responses={200: CustomerOutput, 201: CustomerOutput, **error_responses(400, 401, 413, 429)},
        examples=[
            OpenApiExample(
                "A customer in Berlin",
                value={"timezone": "Europe/Berlin", "locale": "de-DE", "attributes": {"tier": "gold"}},
                request_only=True,
            )
        ],
        tags=["server: customers"],
    )
    def put(self, request, external_id: str):
        validate_external_id(external_id)
        data = self.CustomerUpsertInput(data=request.data)
        data.is_valid(raise_exception=True)
        customer, created = services.customer_upsert(
            external_id=external_id,
            timezone_name=data.validated_data.get("timezone"),
            locale=data.validated_data.get("locale"),
            attributes=data.validated_data.get("attributes"),
        )
        return Response(
            CustomerOutput(customer).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(
        operation_id="customer_erase",
        summary="Erase a customer and everything about them",
        description="Deletes the customer's devices, tokens, events, notifications, deliveries, feedback and "
        "model outputs. Idempotent: erasing an unknown or already erased customer also answers 204.",
        request=None,
        responses={204: OpenApiResponse(description="Erased (or was not there)."), **error_responses(401, 429)},
        tags=["server: customers"],
    )
    def delete(self, request, external_id: str):
        services.customer_erase(external_id=external_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenOutput(serializers.Serializer):
    token = serializers.CharField(help_text="Give this to the app; it sends `Authorization: Bearer <token>`.")
    customer_id = serializers.CharField()


class CustomerTokenApi(ServerApi):
    @extend_schema(
        operation_id="customer_token_mint",
        summary="Mint a mobile token for a customer",
        description="Returns a new token for the customer's app (the customer is created if unknown). The token "
        "is shown only here; Optimus stores its hash. Mint one per app installation. Revoke with DELETE.",
        request=None,
        responses={201: TokenOutput, **error_responses(400, 401, 429)},
        tags=["server: customers"],
    )
    def post(self, request, external_id: str):
        validate_external_id(external_id)
        customer, _ = services.customer_upsert(external_id=external_id)
        _, plain = services.customer_token_mint(customer=customer)
        return Response({"token": plain, "customer_id": customer.external_id}, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="customer_tokens_revoke",
        summary="Revoke all of a customer's mobile tokens",
        request=None,
        responses={204: OpenApiResponse(description="Revoked."), **error_responses(401, 404, 429)},
        tags=["server: customers"],
    )
    def delete(self, request, external_id: str):
        customer = get_object_or_404(Customer, external_id=external_id)
        services.customer_tokens_revoke(customer=customer)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- devices (mobile) -----------------------------------------------------------------------

TOKEN_LIMITS = {Platform.FCM: 4096, Platform.APNS: 200, Platform.WEBPUSH: 2048}


class DeviceOutput(serializers.ModelSerializer):
    class Meta:
        model = Device
        fields = ["id", "platform", "app_version", "timezone", "created_at", "updated_at"]


def b64url_decode(value: str, field: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_\-]+={0,2}", value):
        raise serializers.ValidationError(f"{field} must be base64url (A–Z, a–z, 0–9, '-', '_')")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise serializers.ValidationError(f"{field} is not valid base64url") from None


class WebPushKeys(StrictSerializer):
    p256dh = serializers.CharField(
        max_length=88, help_text="The subscription's P-256 public key: base64url of the 65-byte uncompressed point."
    )
    auth = serializers.CharField(max_length=24, help_text="The subscription's auth secret: base64url of 16 bytes.")

    def validate_p256dh(self, value: str) -> str:
        from cryptography.hazmat.primitives.asymmetric import ec

        raw = b64url_decode(value, "p256dh")
        try:
            if len(raw) != 65:
                raise ValueError
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)  # on the curve, or ValueError
        except ValueError:
            raise serializers.ValidationError("p256dh is not a P-256 public key (65-byte uncompressed point)") from None
        return value

    def validate_auth(self, value: str) -> str:
        if len(b64url_decode(value, "auth")) != 16:
            raise serializers.ValidationError("auth must be 16 bytes (22 base64url characters)")
        return value


# What each service's tokens look like: APNs device tokens are hex (32 bytes today, up to 100);
# FCM registration tokens are URL-safe text.
TOKEN_PATTERNS = {
    Platform.APNS: (re.compile(r"[0-9a-fA-F]{64,200}"), "must be the device token in hex (64 to 200 digits)"),
    Platform.FCM: (re.compile(r"[A-Za-z0-9_:.\-]+"), "must be the FCM registration token (letters, digits, _ : . -)"),
}


class DevicesApi(MobileApi):
    class DeviceRegisterInput(StrictSerializer):
        platform = serializers.ChoiceField(choices=Platform.choices)
        token = serializers.CharField(
            help_text="FCM registration token, APNs device token (hex), or the Web Push subscription endpoint URL."
        )
        app_version = serializers.CharField(required=False, allow_blank=True, max_length=50, default="")
        timezone = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="IANA name the phone reports."
        )
        keys = WebPushKeys(required=False, help_text="Web Push only: the subscription's keys.")
        browser = serializers.ChoiceField(
            required=False, choices=["CHROME", "FIREFOX", "OPERA", "EDGE", "SAFARI"], help_text="Web Push only."
        )

        def validate_timezone(self, value: str) -> str:
            return validate_timezone_name(value) if value else value

        def validate(self, attrs):
            platform, token = attrs["platform"], attrs["token"].strip()
            if len(token) > TOKEN_LIMITS[platform]:
                raise serializers.ValidationError({"token": [f"is longer than {TOKEN_LIMITS[platform]} characters"]})
            if platform == Platform.WEBPUSH:
                if not token.startswith("https://"):
                    raise serializers.ValidationError({"token": ["must be the subscription's https:// endpoint"]})
                if "keys" not in attrs:
                    raise serializers.ValidationError({"keys": ["Web Push needs the subscription's p256dh and auth"]})
                try:
                    netguard.check_url(token, allowed_hosts=settings.WEBPUSH_ALLOWED_HOSTS)
                except netguard.UnsafeDestination as exc:
                    raise serializers.ValidationError({"token": [f"endpoint {exc}"]}) from None
            else:
                pattern, message = TOKEN_PATTERNS[platform]
                if not pattern.fullmatch(token):
                    raise serializers.ValidationError({"token": [message]})
            attrs["token"] = token
            return attrs

    @extend_schema(
        operation_id="device_list",
        summary="The customer's registered devices",
        responses={200: DeviceOutput(many=True), **error_responses(401, 429)},
        tags=["mobile: devices"],
    )
    def get(self, request):
        devices = Device.objects.filter(customer=request.user).order_by("-updated_at")
        return Response(DeviceOutput(devices, many=True).data)

    @extend_schema(
        operation_id="device_register",
        summary="Register this phone (or browser) for pushes",
        description="Idempotent per token: repeating it, reinstalling the app or a new owner signing in on the "
        "same phone updates the existing device instead of adding one. 201 when new, 200 when updated. A "
        "reported time zone becomes the customer's time zone.",
        request=DeviceRegisterInput,
        responses={200: DeviceOutput, 201: DeviceOutput, **error_responses(400, 401, 413, 429)},
        examples=[
            OpenApiExample(
                "Android",
                value={
                    "platform": "fcm",
                    "token": "dGhpcyBpcyBhbiBGQ00gdG9rZW4",
                    "app_version": "3.2.0",
                    "timezone": "Europe/London",
                },  # fmt: skip
                request_only=True,
            )
        ],
        tags=["mobile: devices"],
    )
    def post(self, request):
        data = self.DeviceRegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        device, created = services.device_register(
            customer=request.user,
            platform=v["platform"],
            token=v["token"],
            app_version=v["app_version"],
            timezone_name=v["timezone"],
            webpush_keys=v.get("keys"),
            browser=v.get("browser"),
        )
        return Response(DeviceOutput(device).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class DeviceApi(MobileApi):
    @extend_schema(
        operation_id="device_remove",
        summary="Unregister a device",
        description="404 for an id that is not one of this customer's devices.",
        request=None,
        responses={204: OpenApiResponse(description="Removed."), **error_responses(401, 404, 429)},
        tags=["mobile: devices"],
    )
    def delete(self, request, device_id: int):
        services.device_remove(device=get_object_or_404(Device, pk=device_id, customer=request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)
