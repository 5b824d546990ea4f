"""Base classes for the two kinds of endpoint: each sets who may call it and how often."""

from rest_framework.views import APIView

from devices.authentication import ApiKeyAuthentication, CustomerTokenAuthentication, IsCustomer, IsServer
from optimus_site.api.parsers import LimitedJSONParser
from optimus_site.api.throttling import MobileThrottle, ServerThrottle


class ServerApi(APIView):
    """Called by the business backend with ``Authorization: Api-Key <key>``."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsServer]
    throttle_classes = [ServerThrottle]
    parser_classes = [LimitedJSONParser]


class MobileApi(APIView):
    """Called by a customer's app with ``Authorization: Bearer <token>``; sees only that customer."""

    authentication_classes = [CustomerTokenAuthentication]
    permission_classes = [IsCustomer]
    throttle_classes = [MobileThrottle]
    parser_classes = [LimitedJSONParser]
