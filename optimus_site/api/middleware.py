"""Request bodies sent with `Transfer-Encoding: chunked` (no Content-Length) under /api/.

Django reads a body only up to CONTENT_LENGTH, which a chunked request does not have, so DRF saw
such a body as empty and answered as if `{}` had been sent — an app's opt-out silently dropped.
Servers that de-chunk for the application (gunicorn does, and says so with
`wsgi.input_terminated`) hand us a stream that ends with the body: it is read here, up to the API's
size limit, and the request continues as one with that Content-Length. Where the server cannot
(no `wsgi.input_terminated`), the request is refused with 411 rather than read as empty.
"""

import io

from django.conf import settings
from django.http import JsonResponse

from optimus_site.api.errors import error_body


class ChunkedApiBodyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        if (
            request.path.startswith("/api/")
            and "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
            and not meta.get("CONTENT_LENGTH")
        ):
            refused = self.read_chunked_body(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    @staticmethod
    def read_chunked_body(request) -> JsonResponse | None:
        stream = request.environ.get("wsgi.input")
        if stream is None or not request.environ.get("wsgi.input_terminated"):
            message = "Send the body with a Content-Length: this server cannot read chunked bodies."
            return JsonResponse(error_body("length_required", message), status=411)
        limit = settings.API_MAX_BODY_BYTES
        body = stream.read(limit + 1)
        if len(body) > limit:
            return JsonResponse(error_body("too_large", f"The request body is over {limit:,} bytes."), status=413)
        request.META["CONTENT_LENGTH"] = str(len(body))
        request._stream = io.BytesIO(body)  # what HttpRequest.read() and DRF's parsers read from
        return None
