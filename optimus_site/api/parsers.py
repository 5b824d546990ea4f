"""A JSON parser that refuses bodies over a size limit before reading them into memory, and
strings no database can store."""

import io
import re

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from optimus_site.api.exceptions import PayloadTooLarge
from optimus_site.api.json_limits import MAX_BODY_DEPTH, json_depth

# JSON may escape half of a UTF-16 surrogate pair on its own ("\udb5b"); Python decodes that to
# a string that cannot be encoded as UTF-8, which MySQL would reject with a server error.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def has_lone_surrogate(value) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_lone_surrogate(v) for v in value)
    return False


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        request = parser_context["request"]
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > limit:
            raise PayloadTooLarge(f"The request body is {declared:,} bytes; the limit is {limit:,}.")
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge(f"The request body is over the limit of {limit:,} bytes.")
        too_deep = ParseError(f"JSON parse error - nested deeper than {MAX_BODY_DEPTH} levels.")
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:  # about 1,000 levels: Python's json gives up
            raise too_deep from None
        if json_depth(data) > MAX_BODY_DEPTH:
            raise too_deep
        if SURROGATE_ESCAPE.search(body) and has_lone_surrogate(data):
            raise ParseError("JSON parse error - a string contains an unpaired UTF-16 surrogate (\\ud800-\\udfff).")
        return data
