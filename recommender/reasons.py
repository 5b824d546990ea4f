"""Why an item is in a customer's list: the reason slugs stored in ``CustomerProfile.top_items`` and
their labels for people.

Kept apart from ``recommender.training`` (which imports pandas, NumPy and SciPy) so that the web
process can show explanations without loading them; training decides the reasons with these.
"""

# (the training signal that decides it, slug, label), checked in this order: the first that holds wins.
REASONS = (
    ("open_cart", "in_cart", "Still in your cart"),
    ("bought", "bought_before", "You bought this before"),
    ("any", "viewed", "You looked at this"),
    ("knn", "similar", "Similar to what you looked at"),
    ("lightfm", "taste", "Matches your taste"),
)
TRENDING = ("trending", "Popular right now")

_LABELS = {slug: label for _, slug, label in REASONS} | {TRENDING[0]: TRENDING[1]}


def reason_label(slug: str) -> str:
    """The label of a reason slug; an unknown slug (an older run's) is shown as it is."""
    return _LABELS.get(slug, slug)
