"""The wording of a notification: the placeholders a marketer may use, checking a template, filling it in.

Templates are filled in with our own loop over ``string.Formatter().parse`` rather than ``str.format``:
format would follow ``{first_item.__class__}`` or ``{first_item[0]}`` into the value and apply any format
spec (``{item_count:d}`` on a string raises), and one stray ``{`` raises for every customer. Here only a
bare known name is allowed — no attribute or index access, no conversion (``!r``), no format spec — and
``{{`` / ``}}`` stay literal braces.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from django.core.exceptions import ValidationError

# The placeholders, with what they become; the admin shows this list and a preview with SAMPLE_VALUES.
PLACEHOLDERS = {
    "first_item": "the title of the first recommended product",
    "first_item_id": "the id of the first recommended product (for deep links)",
    "item_count": "how many products the notification shows",
    "segment": "the customer's segment",
    "offer": "the offer attached to the type (a discount code, a gift)",
}
SAMPLE_VALUES = {
    "first_item": "Trail running shoes",
    "first_item_id": "12345",
    "item_count": 3,
    "segment": "Champions",
    "offer": "15 % off with code SPRING15",
}
PLACEHOLDER_HELP = "Placeholders: " + ", ".join("{" + n + "}" for n in PLACEHOLDERS) + ". Write {{ or }} for a brace."


class TemplateError(ValueError):
    """A template that cannot be filled in; the message says why, in a marketer's words."""


def _parts(template: str) -> list[tuple[str, str | None]]:
    """(literal text, placeholder name or None) pieces of `template`, or TemplateError."""
    try:
        pieces = list(string.Formatter().parse(template))
    except ValueError as exc:  # a lone "{" or "}"
        raise TemplateError(f"Unbalanced brace ({exc}); write {{{{ or }}}} for a literal brace.") from None
    parts = []
    for literal, name, spec, conversion in pieces:
        if name is None:
            parts.append((literal, None))
            continue
        shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + n + "}" for n in PLACEHOLDERS)
            raise TemplateError(f"Unknown placeholder {shown}; use one of {known}.")
        if spec or conversion:
            raise TemplateError(f"{shown}: write the placeholder alone, as {{{name}}}, without ':' or '!'.")
        parts.append((literal, name))
    return parts


def template_check(template: str) -> None:
    """Raises TemplateError if `template` cannot be filled in."""
    _parts(template or "")


def template_placeholders(template: str) -> set[str]:
    """The placeholder names `template` uses; TemplateError if it cannot be filled in."""
    return {name for _, name in _parts(template or "") if name is not None}


def template_render(template: str, values: Mapping[str, object]) -> str:
    """`template` with its placeholders replaced by `values`; TemplateError if it cannot be filled in."""
    out = []
    for literal, name in _parts(template or ""):
        out.append(literal)
        if name is not None:
            out.append(str(values.get(name, "")))
    return "".join(out)


def validate_template(value: str) -> None:
    """The form and model validator: a template error as a ValidationError on the field."""
    try:
        template_check(value)
    except TemplateError as exc:
        raise ValidationError(str(exc), code="bad_template") from None
