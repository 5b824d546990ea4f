from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

MAX_PAGE_SIZE = 100


class Pagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request) -> int:
        # DRF quietly falls back to the default for a page_size it cannot read; a client that asked
        # for `page_size=ten` or 500 should hear that it will not get what it asked for.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
            raise ValidationError({"page_size": [f"An integer from 1 to {MAX_PAGE_SIZE}."]})
        return int(raw)
