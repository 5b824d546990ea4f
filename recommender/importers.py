"""Import behaviour and catalog files in the RetailRocket layout (see DESIGN.md, "Data import format").

Every importer reads its file in chunks, validates each row, writes the good rows in bulk and
reports each bad row with its line number and reason — a bad row never stops the rest.
Re-importing a file adds nothing: an imported event's id is a hash of every field of its row, and
the id is unique in the database.
"""

import csv
import datetime as dt
import gzip
import hashlib
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.db import transaction

from devices.models import EXTERNAL_ID_LENGTH, customer_id_problem
from devices.services import customers_ensure
from optimus_site.bulk import insert_ignoring_duplicates
from recommender.models import Category, Event, EventSource, EventType, Item
from recommender.non_products import looks_like_non_product
from recommender.rows import MAX_PRICE, RowError, item_url_check, parse_money
from recommender.services import EVENT_COLUMNS, categories_ensure, items_ensure

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
# Imported history may be up to a day "ahead" (clock skew between systems); more is a bad row.
FUTURE_SLACK = dt.timedelta(days=1)
FILE_EVENT_TYPES = {EventType.VIEW, EventType.ADD_TO_CART, EventType.TRANSACTION, EventType.APP_OPEN}

ProgressCallback = Callable[[int], None]


class ImportFileError(Exception):
    """The file as a whole cannot be read (missing, wrong columns). Nothing was imported from it."""


@dataclass
class BadRow:
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass
class ImportReport:
    rows: int = 0
    added: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    customers_created: int = 0
    items_created: int = 0
    categories_created: int = 0

    def summary(self, what: str) -> str:
        parts = [f"{self.rows:,} rows", f"{self.added:,} {what} added"]
        if self.updated:
            parts.append(f"{self.updated:,} updated")
        parts.append(f"{self.duplicates:,} duplicates")
        parts.append(f"{self.rejected:,} rejected")
        for label, n in (
            ("customers", self.customers_created),
            ("items", self.items_created),
            ("categories", self.categories_created),
        ):
            if n and label != what:
                parts.append(f"{n:,} new {label}")
        return ", ".join(parts)


@dataclass
class ParsedEvent:
    event_id: str
    visitor: str
    type: str
    item: str | None
    amount: Decimal | None
    transaction_id: str
    occurred_at: dt.datetime


# --- reading -------------------------------------------------------------------------------


class _ProgressFile(io.RawIOBase):
    """Wraps a binary file and reports how many bytes of it have been read (for the bar)."""

    def __init__(self, raw: io.BufferedReader, progress: ProgressCallback | None):
        self.raw, self.progress = raw, progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        if self.progress and n:
            self.progress(n)
        return n


def file_size(path: str | Path) -> int:
    return Path(path).stat().st_size


# A physical line longer than this is reported and skipped (no real row is near it); it also
# bounds a record whose quoted field spans lines, so an unterminated quote cannot swallow the file.
MAX_LINE_BYTES = 1 << 20
MAX_RECORD_LINES = 100
BOM = b"\xef\xbb\xbf"


def _lines(stream: io.BufferedIOBase) -> Iterator[tuple[int, str | None, str]]:
    """Yields (line number, text, "") per physical line, or (line number, None, reason) for a
    line that is too long or not UTF-8. A truncated or corrupt gzip ends the lines with a reason."""
    number = 0
    while True:
        number += 1
        try:
            data = stream.readline(MAX_LINE_BYTES + 1)
            if len(data) > MAX_LINE_BYTES and not data.endswith(b"\n"):
                # Skip the rest of the long line without holding it in memory.
                while data and not data.endswith(b"\n"):
                    data = stream.readline(MAX_LINE_BYTES)
                yield number, None, f"the line is longer than {MAX_LINE_BYTES:,} bytes"
                continue
        except (OSError, EOFError, zlib.error) as exc:
            # Everything before this point was read and is kept.
            yield number, None, f"the file cannot be read past this line ({exc})"
            return
        if not data:
            return
        if number == 1 and data.startswith(BOM):
            data = data[len(BOM) :]
        try:
            yield number, data.decode("utf-8"), ""
        except UnicodeDecodeError as exc:
            yield number, None, f"the line is not valid UTF-8 (byte {exc.start + 1}); it was skipped"


def _records(lines: Iterator[tuple[int, str | None, str]]) -> Iterator[tuple[int, list[str] | None, str]]:
    """Groups physical lines into CSV records: (first line number, fields, "") or (line, None, reason).

    A quoted field may span lines (the record is complete when its quotes are balanced), but at
    most MAX_RECORD_LINES lines / MAX_LINE_BYTES: past that, or at the end of the file, the record
    is reported at its first line and reading resumes at the line after it."""
    pushed: list[tuple[int, str | None, str]] = []  # lines to read again, in reverse order
    pending: list[tuple[int, str]] = []
    quotes = size = 0

    def next_line():
        return pushed.pop() if pushed else next(lines, None)

    while True:
        item = next_line()
        if item is None or (pending and (item[1] is None or len(pending) >= MAX_RECORD_LINES or size > MAX_LINE_BYTES)):
            if not pending:
                return
            # An unterminated quote: report the record's first line, read the others again.
            yield pending[0][0], None, "a quoted field is not closed (the line was skipped)"
            if item is not None:
                pushed.append(item)
            pushed.extend(reversed([(n, t, "") for n, t in pending[1:]]))
            pending, quotes, size = [], 0, 0
            continue
        number, text, reason = item
        if text is None:
            yield number, None, reason
            continue
        if not pending and '"' not in text:
            # The common case: no quoting, so the fields are exactly the comma-separated parts.
            text = text.rstrip("\r\n")
            if text:
                yield number, text.split(","), ""
            continue
        pending.append((number, text))
        quotes += text.count('"')
        size += len(text)
        if quotes % 2:
            continue
        try:
            fields = next(csv.reader([t for _, t in pending]), [])
        except csv.Error as exc:
            yield pending[0][0], None, f"the row cannot be parsed as CSV ({exc})"
        else:
            if fields and fields != [""]:
                yield pending[0][0], fields, ""
        pending, quotes, size = [], 0, 0


def read_rows(
    path: str | Path, required: tuple[str, ...], progress: ProgressCallback | None = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yields (line number, {column: value}) for each data row of a CSV file, gzipped or not.

    A row that cannot be read (too long, not UTF-8, an unclosed quote, a truncated gzip) comes
    as {"__error__": reason} at its line, so it is reported like any bad row; the rest is kept."""
    path = Path(path)
    try:
        raw = open(path, "rb")  # noqa: SIM115 (closed in the finally below)
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot open ({exc.strerror})") from None
    try:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream: io.BufferedIOBase = io.BufferedReader(_ProgressFile(raw, progress), buffer_size=1 << 20)
        if gzipped:
            stream = gzip.GzipFile(fileobj=stream)
        records = _records(_lines(stream))
        first = next(records, None)
        if first is None:
            raise ImportFileError(f"{path}: the file is empty")
        if first[1] is None:
            raise ImportFileError(f"{path}: cannot read the header ({first[2]})")
        header = [h.strip().lower() for h in first[1]]
        missing = [c for c in required if c not in header]
        if missing:
            raise ImportFileError(f"{path}: missing column(s) {', '.join(missing)}; the header is {','.join(header)}")
        width = len(header)
        for line, row, reason in records:
            if row is None:
                yield line, {"__error__": reason}
            elif len(row) != width:
                yield line, {"__error__": f"expected {width} fields, found {len(row)}"}
            else:
                yield line, dict(zip(header, row, strict=True))
    finally:
        raw.close()


def chunked(rows: Iterator, size: int) -> Iterator[list]:
    chunk: list = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- parsing -------------------------------------------------------------------------------


def parse_external_id(value: str, column: str, *, max_length: int = EXTERNAL_ID_LENGTH) -> str:
    value = value.strip()
    if not value:
        raise RowError(f"{column} is empty")
    if len(value) > max_length:
        raise RowError(f"{column} is longer than {max_length} characters")
    return value


def parse_amount(value: str) -> Decimal | None:
    return parse_money(value, "amount") if value.strip() else None


def parse_timestamp_ms(value: str, latest: dt.datetime) -> dt.datetime:
    value = value.strip()
    try:
        ms = int(value)
    except ValueError:
        raise RowError(f"timestamp {value!r} is not milliseconds since 1970 (UTC)") from None
    try:
        at = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise RowError(f"timestamp {value!r} is out of range") from None
    if at < EARLIEST:
        raise RowError(f"timestamp {value!r} is before 2000-01-01 (milliseconds expected, not seconds?)")
    if at > latest:
        raise RowError(f"timestamp {value!r} is in the future ({at:%Y-%m-%d %H:%M} UTC)")
    return at


def imported_event_id(ts: str, visitor: str, event: str, item: str, transaction_id: str, amount: str) -> str:
    """A content hash: two rows get the same id only when every field matches."""
    key = "\x1f".join((ts, visitor, event, item, transaction_id, amount))
    return "imp-" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()


def parse_event_row(row: dict[str, str], latest: dt.datetime) -> ParsedEvent:
    if "__error__" in row:
        raise RowError(row["__error__"])
    occurred_at = parse_timestamp_ms(row["timestamp"], latest)
    visitor = parse_external_id(row["visitorid"], "visitorid")
    if problem := customer_id_problem(visitor):  # it becomes a customer id, part of URLs
        raise RowError(f"visitorid {problem}")
    event = row["event"].strip().lower()
    if event not in FILE_EVENT_TYPES:
        raise RowError(f"event {row['event']!r} is not one of view, addtocart, transaction")
    raw_item = row["itemid"].strip()
    if event == EventType.APP_OPEN:
        if raw_item:
            raise RowError("an app_open event has no itemid")
        item = None
    else:
        item = parse_external_id(raw_item, "itemid")
    transaction_id = row.get("transactionid", "").strip()
    if len(transaction_id) > 64:
        raise RowError("transactionid is longer than 64 characters")
    amount = parse_amount(row.get("amount", ""))
    canonical_amount = "" if amount is None else str(amount)
    return ParsedEvent(
        event_id=imported_event_id(
            str(int(row["timestamp"].strip())), visitor, event, raw_item, transaction_id, canonical_amount
        ),
        visitor=visitor,
        type=event,
        item=item,
        amount=amount,
        transaction_id=transaction_id,
        occurred_at=occurred_at,
    )


# --- importers -----------------------------------------------------------------------------


@dataclass
class Importer:
    """Shared state of one import run: caches of external id → pk, and where bad rows go."""

    on_bad_row: Callable[[BadRow], None] = print
    progress: ProgressCallback | None = None
    chunk_size: int = 5000
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(tz=dt.UTC))
    customers: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)

    def reject(self, report: ImportReport, path: str | Path, line: int, reason: str) -> None:
        report.rejected += 1
        self.on_bad_row(BadRow(str(path), line, reason))

    def import_events(self, path: str | Path) -> ImportReport:
        report = ImportReport()
        latest = self.now + FUTURE_SLACK
        rows = read_rows(path, ("timestamp", "visitorid", "event", "itemid"), self.progress)
        for chunk in chunked(rows, self.chunk_size):
            parsed: list[ParsedEvent] = []
            for line, row in chunk:
                report.rows += 1
                try:
                    parsed.append(parse_event_row(row, latest))
                except RowError as exc:
                    self.reject(report, path, line, str(exc))
            if parsed:
                self._write_events(parsed, report)
        return report

    @transaction.atomic
    def _write_events(self, parsed: list[ParsedEvent], report: ImportReport) -> None:
        report.customers_created += customers_ensure(external_ids={p.visitor for p in parsed}, cache=self.customers)
        report.items_created += items_ensure(
            external_ids={p.item for p in parsed if p.item is not None}, cache=self.items
        )
        # A row whose event_id is already stored (an earlier import of the same file, a repeat
        # within this file, or a concurrent import) is skipped by the database and counted here.
        received_at = dt.datetime.now(tz=dt.UTC)
        added = insert_ignoring_duplicates(
            Event,
            EVENT_COLUMNS,
            [
                (
                    p.event_id,
                    self.customers[p.visitor],
                    None if p.item is None else self.items[p.item],
                    p.type,
                    p.amount,
                    p.transaction_id,
                    p.occurred_at,
                    received_at,
                    EventSource.IMPORT,
                    None,
                )
                for p in parsed
            ],
        )
        report.added += added
        report.duplicates += len(parsed) - added

    def import_categories(self, path: str | Path) -> ImportReport:
        """category_tree.csv: `categoryid,parentid` (parentid empty for a root)."""
        report = ImportReport()
        pairs: list[tuple[str, str]] = []
        for line, row in read_rows(path, ("categoryid", "parentid"), self.progress):
            report.rows += 1
            try:
                if "__error__" in row:
                    raise RowError(row["__error__"])
                category = parse_external_id(row["categoryid"], "categoryid", max_length=64)
                parent = row["parentid"].strip()
                if parent == category:
                    raise RowError("a category cannot be its own parent")
                if len(parent) > 64:
                    raise RowError("parentid is longer than 64 characters")
                pairs.append((category, parent))
            except RowError as exc:
                self.reject(report, path, line, str(exc))
        with transaction.atomic():
            listed = {c for c, _ in pairs}
            existed = set(Category.objects.filter(external_id__in=listed).values_list("external_id", flat=True))
            report.categories_created = categories_ensure(
                external_ids=listed | {p for _, p in pairs if p}, cache=self.categories
            )
            current = dict(Category.objects.filter(external_id__in=listed).values_list("id", "parent_id"))
            changed = []
            for category, parent in pairs:
                pk, parent_pk = self.categories[category], self.categories.get(parent) if parent else None
                if current.get(pk) != parent_pk:
                    changed.append(Category(id=pk, parent_id=parent_pk))
                    report.updated += category in existed
            Category.objects.bulk_update(changed, ["parent"], batch_size=1000)
            report.added = report.categories_created
        return report

    def import_items(self, path: str | Path) -> ImportReport:
        """items.csv: `itemid,title,price` and optionally `category`/`categoryid`, `available`,
        `recommendable`, `stockcode`, `url`, `image_url`. Existing items are updated; other columns
        are ignored. Without a `recommendable` column, an item whose title is set for the first time
        is marked not recommendable when its stock code or title looks like postage or a fee."""
        report = ImportReport()
        rows: dict[str, dict] = {}
        for line, row in read_rows(path, ("itemid",), self.progress):
            report.rows += 1
            try:
                if "__error__" in row:
                    raise RowError(row["__error__"])
                external_id = parse_external_id(row["itemid"], "itemid")
                values: dict = {}
                if "title" in row:
                    values["title"] = row["title"].strip()[:300]
                if row.get("price", "").strip():
                    values["price"] = parse_money(row["price"], "price", limit=MAX_PRICE)
                if row.get("available", "").strip():
                    values["available"] = parse_bool(row["available"], "available")
                if row.get("recommendable", "").strip():
                    values["recommendable"] = parse_bool(row["recommendable"], "recommendable")
                elif "title" in values:
                    code = (row.get("stockcode") or "").strip() or external_id
                    values[DETECTED] = not looks_like_non_product(code, values["title"])
                category = (row.get("categoryid") or row.get("category") or "").strip()
                if category:
                    values["category"] = parse_external_id(category, "category", max_length=64)
                for column in ("url", "image_url"):
                    if value := row.get(column, "").strip():
                        if len(value) > 500:
                            raise RowError(f"{column} is longer than 500 characters")
                        item_url_check(column, value)
                        values[column] = value
                if external_id in rows:
                    report.duplicates += 1
                rows[external_id] = values
            except RowError as exc:
                self.reject(report, path, line, str(exc))
        self._update_items(rows, report)
        return report

    def import_item_properties(self, path: str | Path) -> ImportReport:
        """item_properties.csv: `timestamp,itemid,property,value`. Only `categoryid` and
        `available` are understood; for each item the latest value of each wins."""
        report = ImportReport()
        latest_values: dict[tuple[str, str], tuple[int, str]] = {}
        for line, row in read_rows(path, ("timestamp", "itemid", "property", "value"), self.progress):
            report.rows += 1
            try:
                if "__error__" in row:
                    raise RowError(row["__error__"])
                prop = row["property"].strip()
                if prop not in ("categoryid", "available"):
                    continue
                item = parse_external_id(row["itemid"], "itemid")
                ts = int(parse_timestamp_ms(row["timestamp"], self.now + FUTURE_SLACK).timestamp() * 1000)
                value = row["value"].strip()
                if prop == "available":
                    parse_bool(value, "available")
                else:
                    parse_external_id(value, "categoryid value", max_length=64)
                key = (item, prop)
                if key not in latest_values or latest_values[key][0] <= ts:
                    latest_values[key] = (ts, value)
            except RowError as exc:
                self.reject(report, path, line, str(exc))
        rows: dict[str, dict] = {}
        for (item, prop), (_, value) in latest_values.items():
            values = rows.setdefault(item, {})
            if prop == "available":
                values["available"] = parse_bool(value, "available")
            else:
                values["category"] = value
        self._update_items(rows, report)
        return report

    def _update_items(self, rows: dict[str, dict], report: ImportReport) -> None:
        ids = list(rows)
        for start in range(0, len(ids), self.chunk_size):
            block = {eid: rows[eid] for eid in ids[start : start + self.chunk_size]}
            with transaction.atomic():
                existed = set(Item.objects.filter(external_id__in=block.keys()).values_list("external_id", flat=True))
                report.items_created += items_ensure(external_ids=block.keys(), cache=self.items)
                report.categories_created += categories_ensure(
                    external_ids={v["category"] for v in block.values() if "category" in v}, cache=self.categories
                )
                changed, fields = [], set()
                for item in Item.objects.filter(external_id__in=block.keys()):
                    dirty = False
                    values = dict(block[item.external_id])
                    detected = values.pop(DETECTED, None)
                    if detected is not None and not item.title:
                        values["recommendable"] = detected  # the first title we learn: the default guess
                    for name, value in values.items():
                        attr, value = ("category_id", self.categories[value]) if name == "category" else (name, value)
                        if getattr(item, attr) != value:
                            setattr(item, attr, value)
                            fields.add(name)
                            dirty = True
                    if dirty:
                        changed.append(item)
                        if item.external_id in existed:
                            report.updated += 1
                if changed:
                    Item.objects.bulk_update(changed, sorted(fields), batch_size=1000)
        report.added = report.items_created


# In a row of import_items: the recommendable guess from the title, applied only to an item without one yet.
DETECTED = "__recommendable_detected__"


def parse_bool(value: str, column: str) -> bool:
    v = value.strip().lower()
    if v in {"1", "true", "yes"}:
        return True
    if v in {"0", "false", "no"}:
        return False
    raise RowError(f"{column} {value!r} is not 0/1")
