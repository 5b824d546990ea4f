"""API exceptions that the parser raises.

Kept apart from ``errors``: that module imports DRF's views, whose settings import our parser,
so a parser importing ``errors`` is a cycle that breaks whichever of the two loads first.
"""

from rest_framework import exceptions, status


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"
