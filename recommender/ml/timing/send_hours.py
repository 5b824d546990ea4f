"""In the product: the best hours of a person's coming week, in their own time zone, quiet hours left out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from recommender.ml.clock import hour_of_week, is_quiet
from recommender.ml.timing.days import EPOCH, UTC, PopulationProfile, Targets, UserDays
from recommender.ml.timing.features import FEATURES, hour_features
from recommender.ml.timing.model import TimingModel


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock hours with no sends: from ``start`` to ``end`` (exclusive), wrapping midnight when
    ``end`` <= ``start`` (22:00–07:00)."""

    start: dt.time
    end: dt.time

    def overlaps(self, hour: int) -> bool:
        """True when any minute of the local hour [hour:00, hour+1:00) is quiet: quiet at its first minute, or
        quiet hours begin during it. Unlike ``is_quiet(time)`` this asks about a whole hour-long slot: the
        planner must not send at 21:00 when quiet hours start at 21:30."""
        # Minute precision (seconds dropped), as the slots the planner chooses between.
        start, end = self.start.replace(second=0, microsecond=0), self.end.replace(second=0, microsecond=0)
        if start == end:
            return False
        return is_quiet(dt.time(hour), start, end) or start.hour == hour


@dataclass(frozen=True)
class SendHour:
    hour_of_week: int  # local, 0 = Monday 00:00
    local_start: dt.datetime  # aware, in the person's zone
    starts_at: dt.datetime  # the same instant in UTC
    score: float


def local_user_days(timestamps: Iterable[dt.datetime | int], zone: ZoneInfo, user: object = 0) -> UserDays:
    """User-days of one person in their local clock; each instant gets the UTC offset in force at that instant,
    so summer and winter activity land on the same local hours."""
    users, stamps, offsets = [], [], []
    for stamp in timestamps:
        instant = dt.datetime.fromtimestamp(stamp / 1000, tz=UTC) if isinstance(stamp, int | np.integer) else stamp
        if instant.tzinfo is None:
            raise ValueError("timestamps must be aware datetimes or ms since epoch")
        offset = instant.astimezone(zone).utcoffset()
        users.append(user)
        stamps.append(int(instant.timestamp() * 1000))
        offsets.append(int(offset.total_seconds() * 1000))
    return UserDays.from_events(np.asarray(users), np.asarray(stamps, dtype=np.int64), np.asarray(offsets))


def coming_week_slots(zone: ZoneInfo, now: dt.datetime) -> list[tuple[int, dt.datetime]]:
    """(local day number, local start) of every local wall-clock hour starting in [now, now + 7 days).

    Iterating wall-clock hours, not UTC hours, keeps half-hour zones on the hour. A wall time that does not
    exist (the spring-forward gap) is skipped; an ambiguous one (fall back) means its first occurrence.
    Each hour of the week appears once: the earliest.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    # In UTC: aware datetimes sharing a tzinfo compare and add as wall-clock times, wrong across a DST change.
    now = now.astimezone(UTC)
    end = now + dt.timedelta(days=7)
    today = now.astimezone(zone).date()
    slots, seen = [], set()
    for offset in range(9):
        date = today + dt.timedelta(days=offset)
        for hour in range(24):
            wall = dt.datetime(date.year, date.month, date.day, hour, tzinfo=zone)
            if wall.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall.replace(tzinfo=None):
                continue
            slot_hour = hour_of_week(wall)
            if now <= wall.astimezone(UTC) < end and slot_hour not in seen:
                seen.add(slot_hour)
                slots.append(((date - EPOCH).days, wall))
    return slots


def best_send_hours(
    timestamps: Iterable[dt.datetime | int],
    *,
    population: PopulationProfile,
    timezone: str,
    now: dt.datetime,
    quiet_hours: QuietHours | None = None,
    model: TimingModel | None = None,
    limit: int | None = None,
) -> list[SendHour]:
    """The hours of the person's coming week (from ``now``), best first, in their local time, quiet hours left out.

    ``timestamps`` are the person's past events (aware datetimes or ms since epoch); ``population`` is the
    profile in local time of everyone. ``model`` (a fitted ``TimingModel``) scores the hours; without one,
    the person's rates are shrunk toward the population's.
    """
    zone = ZoneInfo(timezone)
    history = local_user_days(timestamps, zone)
    tomorrow = (now.astimezone(zone).date() - EPOCH).days + 1
    slots = [
        (day, wall)
        for day, wall in coming_week_slots(zone, now)
        if not quiet_hours or not quiet_hours.overlaps(wall.hour)
    ]
    if not slots:
        return []
    days = np.unique([day for day, _ in slots])
    targets = Targets(user=np.zeros(len(days), dtype=np.int64), day=days)
    if model is not None:
        scores = model.scores(history, targets, as_of_day=tomorrow)
    else:
        features = hour_features(history, population, targets, as_of_day=tomorrow)
        scores = features[:, :, FEATURES.index("same_dow")]
    row = {day: i for i, day in enumerate(days)}
    result = [
        SendHour(
            hour_of_week=hour_of_week(wall),
            local_start=wall,
            starts_at=wall.astimezone(UTC),
            score=float(scores[row[day], wall.hour]),
        )
        for day, wall in slots
    ]
    result.sort(key=lambda slot: (-slot.score, slot.starts_at))
    return result[:limit] if limit is not None else result
