"""What the importers and the ingestion API share about a single incoming row."""

from decimal import Decimal, InvalidOperation

from optimus_site import netguard
from optimus_site.bulk import RowError  # shared with every batch endpoint

MAX_AMOUNT = Decimal("1e11")
MAX_PRICE = Decimal("1e10")  # Item.price is DECIMAL(12, 2): a bigger price would be clamped or fail
CENT = Decimal("0.01")


def parse_money(text: str, name: str, *, limit: Decimal = MAX_AMOUNT) -> Decimal:
    """A price or amount, from a file cell or a JSON number or string: finite, not negative,
    below 10^11, rounded to cents."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise RowError(f"{name} {text!r} is not a number") from None
    # Rounded before the range check: 9999999999.999 rounds up to 10^10, which the column cannot hold.
    if not number.is_finite() or number.copy_abs() >= limit or number.quantize(CENT) >= limit:
        raise RowError(f"{name} {text!r} is out of range (0 to {limit:.0E})")
    if number < 0:
        raise RowError(f"{name} {text!r} is negative (send refunds as their own rows, not negative money)")
    return number.quantize(CENT)


def item_url_check(name: str, value: str) -> None:
    """Item URLs end up in pushes and may be fetched (link previews, image proxies): http(s) only, no
    internal address or name, no CR/LF that could split a header. From the text alone, no DNS."""
    if not value:
        return
    try:
        netguard.check_url(value, schemes=("http", "https"))
    except netguard.UnsafeDestination as exc:
        raise RowError(f"{name} {exc}") from None
