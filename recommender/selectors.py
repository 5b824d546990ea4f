"""Reads about segments for marketers: how many customers sit in each RFM cell and segment, and who
moved between segments at the last model run.

Counting happens in the database (one GROUP BY returning at most 25 × segments rows), never by
loading profiles, so a page costs about the same for a thousand customers as for ten million.
Which segment a cell belongs to follows the current rules, evaluated here on the 125 score cells.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import Count

from recommender.models import CustomerProfile, ModelVersion, Segment

SCORES = (1, 2, 3, 4, 5)


def segments_by_priority() -> list[Segment]:
    return list(Segment.objects.order_by("priority"))


def segment_for_scores(
    segments: list[Segment], recency: int, frequency: int, monetary: int
) -> tuple[Segment | None, bool]:
    """(segment, matched): the first segment by priority whose rule fits the scores. When none fits,
    the last one with matched False: training does the same (``ml.rfm.assign_segments``), so that a
    gap left by an edit of the rules still gives everyone a segment."""
    for segment in segments:
        if segment.matches(recency, frequency, monetary):
            return segment, True
    return (segments[-1] if segments else None), False


def uncovered_cells(segments: list[Segment] | None = None) -> list[tuple[int, int, int]]:
    """(R, F, M) score cells that no segment's rule matches."""
    segments = segments_by_priority() if segments is None else segments
    return [
        (r, f, m)
        for r in SCORES
        for f in SCORES
        for m in SCORES
        if not any(segment.matches(r, f, m) for segment in segments)
    ]


@dataclass(frozen=True)
class SegmentCells:
    """The score cells a segment's rule covers, and how many it actually gets after the segments
    checked before it took theirs."""

    covered: int
    won: int
    taken_by: dict[str, int]  # name of a higher-priority segment → cells it takes from this rule


def segment_cells(segment: Segment, segments: list[Segment] | None = None) -> SegmentCells:
    segments = segments_by_priority() if segments is None else segments
    covered, won, taken_by = 0, 0, Counter()
    for r in SCORES:
        for f in SCORES:
            for m in SCORES:
                if not segment.matches(r, f, m):
                    continue
                covered += 1
                owner, _ = segment_for_scores(segments, r, f, m)
                if owner is not None and owner.pk == segment.pk:
                    won += 1
                elif owner is not None:
                    taken_by[owner.name] += 1
    return SegmentCells(covered=covered, won=won, taken_by=dict(taken_by.most_common()))


# --- Sizes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentSize:
    segment: Segment | None  # None: customers without events yet, so without scores or segment
    customers: int
    share: float  # of every customer with a profile


def segment_sizes(segments: list[Segment] | None = None) -> list[SegmentSize]:
    """Every segment by priority (empty ones too) with its customers, then those with no segment."""
    segments = segments_by_priority() if segments is None else segments
    counts = dict(CustomerProfile.objects.values_list("segment_id").annotate(n=Count("id")).order_by())
    total = sum(counts.values())
    known = {segment.pk for segment in segments}
    sizes = [SegmentSize(s, counts.get(s.pk, 0), counts.get(s.pk, 0) / total if total else 0.0) for s in segments]
    # A segment deleted since the run sets its profiles' segment to NULL, so unknown ids cannot occur.
    unsegmented = sum(n for pk, n in counts.items() if pk not in known)
    if unsegmented:
        sizes.append(SegmentSize(None, unsegmented, unsegmented / total))
    return sizes


# --- The RFM grid ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GridCell:
    recency: int
    frequency: int
    customers: int
    # Segments the current rules give this cell over the monetary scores shown, with the monetary
    # scores each owns: the one owning most first (the higher priority on a tie).
    rule_segments: list[tuple[Segment, list[int]]]
    # Segments the customers in this cell got at the last run, most customers first.
    by_segment: list[tuple[Segment | None, int]]
    uncovered: list[int]  # monetary scores of this cell that no rule matches

    @property
    def segment(self) -> Segment | None:
        return self.rule_segments[0][0] if self.rule_segments else None


@dataclass(frozen=True)
class RfmGrid:
    monetary: int | None  # the monetary score shown; None = all five folded together
    rows: list[list[GridCell]]  # recency 5 (most recent) first; frequency 1 to 5 in each row
    customers: int  # customers in the grid (those with scores, at the monetary score shown)


def rfm_grid(*, monetary: int | None = None, segments: list[Segment] | None = None) -> RfmGrid:
    """Customers per recency × frequency cell, at one monetary score or all of them folded."""
    segments = segments_by_priority() if segments is None else segments
    by_pk = {segment.pk: segment for segment in segments}
    profiles = CustomerProfile.objects.filter(recency_score__isnull=False, frequency_score__isnull=False)
    if monetary is not None:
        profiles = profiles.filter(monetary_score=monetary)
    counts: dict[tuple[int, int], Counter] = {}
    rows = profiles.values_list("recency_score", "frequency_score", "segment_id").annotate(n=Count("id")).order_by()
    for recency, frequency, segment_id, n in rows:
        counts.setdefault((recency, frequency), Counter())[segment_id] += n
    monetary_scores = SCORES if monetary is None else (monetary,)
    priority = {segment.pk: i for i, segment in enumerate(segments)}
    grid = []
    for r in reversed(SCORES):
        row = []
        for f in SCORES:
            owners: dict[int, list[int]] = {}
            uncovered = []
            for m in monetary_scores:
                owner, matched = segment_for_scores(segments, r, f, m)
                if not matched:
                    uncovered.append(m)
                if owner is not None:
                    owners.setdefault(owner.pk, []).append(m)
            cell = counts.get((r, f), Counter())
            row.append(
                GridCell(
                    recency=r,
                    frequency=f,
                    customers=sum(cell.values()),
                    rule_segments=[
                        (by_pk[pk], ms) for pk, ms in sorted(owners.items(), key=lambda o: (-len(o[1]), priority[o[0]]))
                    ],
                    by_segment=[
                        (by_pk.get(pk), n)
                        for pk, n in sorted(cell.items(), key=lambda c: (-c[1], priority.get(c[0], len(priority))))
                    ],
                    uncovered=uncovered,
                )
            )
        grid.append(row)
    return RfmGrid(monetary=monetary, rows=grid, customers=sum(c.customers for row in grid for c in row))


# --- Movement between segments --------------------------------------------------------------


@dataclass(frozen=True)
class MovementRow:
    origin: Segment | None  # segment at the run before; None = new (no earlier segment)
    counts: list[int]  # one per destination, in Movement.destinations order
    total: int


@dataclass(frozen=True)
class Movement:
    destinations: list[Segment | None]  # segment now; None = no segment (no events yet)
    rows: list[MovementRow]
    column_totals: list[int]
    moved: int  # had a segment before and now have another (or none)
    stayed: int
    new: int  # no segment at the run before
    run: ModelVersion | None  # the latest successful run, which wrote the current segments

    @property
    def total(self) -> int:
        return self.moved + self.stayed + self.new


def segment_movement(segments: list[Segment] | None = None) -> Movement:
    """From-segment × to-segment counts between the last two model runs."""
    segments = segments_by_priority() if segments is None else segments
    pairs = dict(
        ((origin, destination), n)
        for origin, destination, n in CustomerProfile.objects.values_list("previous_segment_id", "segment_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    ids = [segment.pk for segment in segments]
    destinations: list[Segment | None] = list(segments)
    destination_ids: list[int | None] = list(ids)
    if any(destination is None for _, destination in pairs):
        destinations.append(None)
        destination_ids.append(None)
    rows = []
    for origin, origin_id in [*zip(segments, ids, strict=True), (None, None)]:
        counts = [pairs.get((origin_id, destination), 0) for destination in destination_ids]
        rows.append(MovementRow(origin=origin, counts=counts, total=sum(counts)))
    stayed = sum(pairs.get((pk, pk), 0) for pk in ids)
    new = sum(n for (origin, _), n in pairs.items() if origin is None)
    return Movement(
        destinations=destinations,
        rows=rows,
        column_totals=[sum(row.counts[i] for row in rows) for i in range(len(destinations))],
        moved=sum(pairs.values()) - stayed - new,
        stayed=stayed,
        new=new,
        run=ModelVersion.objects.filter(status=ModelVersion.Status.SUCCEEDED).order_by("-started_at").first(),
    )
