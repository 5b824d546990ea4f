"""Set-at-a-time helpers shared by the importers and the bulk API endpoints."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from django.db import connections, models, router
from django.db.models.constants import OnConflict


class RowError(ValueError):
    """One row is bad; the message says why, for the person who sent it."""


def ensure_external_ids(model: type[models.Model], external_ids: Iterable[str], cache: dict[str, int]) -> int:
    """Fills `cache` ({external_id: pk}) for every id, creating rows of `model` for unknown ones.
    Returns how many rows were created.

    One SELECT for the ids not in `cache`, one INSERT for those still missing. An importer that
    keeps `cache` across chunks only asks the database about ids it has not seen.
    """
    wanted = {eid for eid in external_ids if eid not in cache}
    if wanted:
        cache.update(model.objects.filter(external_id__in=wanted).values_list("external_id", "id"))
        missing = wanted - cache.keys()
        if missing:
            # ignore_conflicts: another process may create the same row meanwhile; the SELECT
            # below picks up whichever row won.
            # Sorted, not in a set's order, which changes with every process's hash seed: primary keys,
            # and so the index of every model trained on them, come out the same on every run.
            model.objects.bulk_create([model(external_id=eid) for eid in sorted(missing)], ignore_conflicts=True)
            cache.update(model.objects.filter(external_id__in=missing).values_list("external_id", "id"))
            return len(missing)
    return 0


def _utc_datetime_literal(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value} given where an aware one is required")
    return str(value.astimezone(dt.UTC).replace(tzinfo=None))


def _statement_bytes(connection) -> int:
    """A multi-row INSERT size the server accepts: half its max_allowed_packet, at most 4 MiB."""
    if not hasattr(connection, "_optimus_statement_bytes"):
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@max_allowed_packet")
            connection._optimus_statement_bytes = min(4 << 20, int(cursor.fetchone()[0]) // 2)
    return connection._optimus_statement_bytes


def insert_ignoring_duplicates(model: type[models.Model], fields: list[str], rows: list[tuple]) -> int:
    """Inserts `rows` (tuples in `fields` order) with INSERT IGNORE / INSERT OR IGNORE and returns
    how many were inserted (the rest collided with a unique key).

    For the hot ingestion paths only: building a model instance per row and letting the ORM
    compile one placeholder per value costs more than the database does (measured in
    bench/import_events.py), so values go straight to the driver's executemany, which
    mysqlclient turns into multi-row INSERTs. Callers pass values the ORM would accept;
    datetimes and JSON are adapted here as the ORM would. Note MySQL's IGNORE also turns some
    errors (a vanished foreign key) into warnings, so validate rows before calling this.
    """
    if not rows:
        return 0
    connection = connections[router.db_for_write(model)]
    ops = connection.ops
    model_fields = [model._meta.get_field(name) for name in fields]
    adapters = []
    for model_field in model_fields:
        kind = model_field.get_internal_type()
        if kind == "DateTimeField":
            # Same result as ops.adapt_datetimefield_value on a UTC connection, at a third of the
            # cost, which matters at hundreds of thousands of rows.
            utc = str(connection.timezone) == "UTC"
            adapters.append(_utc_datetime_literal if utc else ops.adapt_datetimefield_value)
        elif kind == "JSONField":
            adapters.append(partial(model_field.get_db_prep_save, connection=connection))
        else:
            adapters.append(None)
    columns = ", ".join(ops.quote_name(f.column) for f in model_fields)
    placeholders = ", ".join(["%s"] * len(model_fields))
    sql = (
        f"{ops.insert_statement(on_conflict=OnConflict.IGNORE)} {ops.quote_name(model._meta.db_table)} "
        f"({columns}) VALUES ({placeholders})"
    )
    if any(adapters):
        rows = [
            tuple(
                value if adapt is None or value is None else adapt(value)
                for value, adapt in zip(row, adapters, strict=True)
            )
            for row in rows
        ]
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            # mysqlclient cuts an executemany into INSERTs of at most max_stmt_length bytes (64 KiB
            # by default): hundreds of round trips, each its own commit outside a transaction.
            cursor.cursor.cursor.max_stmt_length = _statement_bytes(connection)
        cursor.executemany(sql, rows)
        # Both drivers report the total over all rows; duplicates ignored by the database add 0.
        return cursor.rowcount


@dataclass
class BatchResult:
    """Outcome of a batch call: per-row status, so a client knows exactly what to resend."""

    size: int
    statuses: dict[int, str] = field(default_factory=dict)  # index → accepted | duplicate | rejected
    errors: dict[int, str] = field(default_factory=dict)

    def accept(self, index: int) -> None:
        self.statuses[index] = "accepted"

    def duplicate(self, index: int) -> None:
        self.statuses[index] = "duplicate"

    def reject(self, index: int, error: str) -> None:
        self.statuses[index] = "rejected"
        self.errors[index] = error

    def as_reply(self) -> dict:
        results = []
        for index in range(self.size):
            entry = {"index": index, "status": self.statuses.get(index, "rejected")}
            if index in self.errors:
                entry["error"] = self.errors[index]
            results.append(entry)
        return {
            "accepted": sum(1 for s in self.statuses.values() if s == "accepted"),
            "duplicates": sum(1 for s in self.statuses.values() if s == "duplicate"),
            "rejected": [{"index": i, "error": e} for i, e in sorted(self.errors.items())],
            "results": results,
        }
