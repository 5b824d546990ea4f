"""What every batch endpoint shares: the body's shape check, per-row validation and the reply
(`{"accepted", "duplicates", "rejected": [{"index", "error"}], "results"}`, DESIGN.md)."""

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from optimus_site.bulk import BatchResult, RowError


class RowResult(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "rejected"])
    error = serializers.CharField(required=False)


class Rejected(serializers.Serializer):
    index = serializers.IntegerField()
    error = serializers.CharField()


class BatchReply(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Rows stored (or updated) by this call.")
    duplicates = serializers.IntegerField(help_text="Rows already stored before: harmless repeats.")
    rejected = Rejected(many=True, help_text="Rows not stored, with the reason; fix and resend only these.")
    results = RowResult(many=True, help_text="One entry per row, in order.")


def batch_rows(request, key: str, limit: int) -> list:
    body = request.data
    if not isinstance(body, dict):
        raise ValidationError({key: [f"send a JSON object: {{{key!r}: [...]}}"]})
    unknown = sorted(set(body) - {key})
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in unknown})
    rows = body.get(key)
    if not isinstance(rows, list):
        raise ValidationError({key: ["must be a list"]})
    if len(rows) > limit:
        raise ValidationError({key: [f"at most {limit} per call; this batch has {len(rows)}"]})
    return rows


def validated(rows: list, parse) -> tuple[dict, BatchResult]:
    result = BatchResult(size=len(rows))
    good = {}
    for index, row in enumerate(rows):
        try:
            good[index] = parse(row)
        except RowError as exc:
            result.reject(index, str(exc))
    return good, result
