"""What the importers and the ingestion API share about a single incoming row."""

from decimal import Decimal

MAX_AMOUNT = Decimal("1e11")


class RowError(ValueError):
    """One row is bad; the message says why, for the person who sent it."""
