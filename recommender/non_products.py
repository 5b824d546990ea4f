"""Catalog lines that are not products: postage, carriage, fees, bank charges, gift wrap, manual
adjustments. Shops put them on invoices, so they show up in purchase logs — POSTAGE is one of the
most bought "items" of the Online Retail log — but a push recommending postage is nonsense.

`looks_like_non_product` is the default when a shop does not say (`recommendable` absent): it only
ever marks an item *not* recommendable, and a shop's explicit `recommendable: true` wins.
"""

import re

# Stock codes that retail systems commonly use for non-product invoice lines (Online Retail's among them).
NON_PRODUCT_CODES = frozenset(
    {"POST", "DOT", "C2", "M", "D", "S", "B", "CRUK", "AMAZONFEE", "BANK CHARGES", "ADJUST", "GIFTWRAP"}
)

# Words in a title that always mean a charge, not something to recommend. Whole words, any case.
_CHARGE_WORDS = re.compile(
    r"\b("
    r"postage(?! stamps?)|(?:shipping|delivery|service|handling|wrapping) (?:charges?|costs?|fees?)|bank charges?"
    r"|amazon fees?|commission|adjust(?:ment)? bad debt"
    r")\b",
    re.IGNORECASE,
)
# Lines that are a service only when they are the whole title: "Carriage" or "Next day carriage" is
# delivery, a "carriage clock" is a product; "Gift wrapping" is a service, a "gift wrap set" is paper
# a gift shop sells; "Manual" or "Discount" alone is an adjustment, a "manual coffee grinder" is not.
_SERVICE_TITLES = re.compile(
    r"(?:(?:next|same)[ -]day |express |standard |international )?(?:carriage|delivery|shipping)"
    r"|gift ?wrap(?:ping)?(?: service)?|manual|discounts?|samples?|fees?",
    re.IGNORECASE,
)


def looks_like_non_product(code: str, title: str) -> bool:
    """True when the catalog line is most likely a charge, a fee or an adjustment, not a product.
    `code` is the shop's stock code (or its item id when it has none)."""
    if code.strip().upper() in NON_PRODUCT_CODES:
        return True
    text = " ".join(title.split())
    return bool(_SERVICE_TITLES.fullmatch(text) or _CHARGE_WORDS.search(text))
