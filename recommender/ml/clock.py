"""Time on the customer's wall clock: the one definition of the hour of the week and of quiet hours.

Everything is stored in UTC; what a person experiences is their local time. The planner, the sender, the
explanations and the models all ask the same two questions — "which hour of the week is this for them?" and
"is this inside their quiet hours?" — and get their answer here, so the four can never disagree.

Pure Python and numpy: no Django, as everything in ``recommender.ml``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

HOURS_PER_WEEK = 168
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS


def hour_of_week(local: dt.datetime) -> int:
    """The hour of the week of a local wall-clock time: 0 = Monday 00:00–01:00, 167 = Sunday 23:00."""
    return local.weekday() * 24 + local.hour


def local_hour_of_week(timestamps_ms: np.ndarray, offsets_ms: np.ndarray) -> np.ndarray:
    """``hour_of_week`` of many UTC instants (ms since the epoch), given the UTC offset in force at each
    (``local_offsets_ms``)."""
    local = np.asarray(timestamps_ms, dtype=np.int64) + np.asarray(offsets_ms, dtype=np.int64)
    day = local // DAY_MS
    return ((day + 3) % 7) * 24 + (local % DAY_MS) // HOUR_MS  # 1970-01-01 was a Thursday


def local_offsets_ms(timestamps_ms: np.ndarray, zones: np.ndarray) -> np.ndarray:
    """UTC offset (ms) in force at each instant in each event's IANA zone, daylight saving included: with
    ``UserDays.from_events(users, timestamps_ms, offsets)`` it gives everyone's user-days in local time,
    e.g. for the population profile the product plans with."""
    import pandas as pd  # the web process asks is_quiet / hour_of_week and never needs pandas

    stamps = pd.Series(np.asarray(timestamps_ms, dtype=np.int64))
    zones = pd.Series(np.asarray(zones, dtype=object))
    offsets = np.zeros(len(stamps), dtype=np.int64)
    for zone, where in zones.groupby(zones, sort=False).groups.items():
        instants = pd.to_datetime(stamps[where], unit="ms", utc=True)
        wall = instants.dt.tz_convert(zone).dt.tz_localize(None)
        offsets[np.asarray(where)] = (wall - instants.dt.tz_localize(None)).dt.total_seconds().to_numpy() * 1000
    return offsets


def is_quiet(local: dt.time, start: dt.time | None, end: dt.time | None) -> bool:
    """True when the local time of day falls inside quiet hours [start, end); they may wrap midnight
    (22:00–07:00). No quiet hours when either end is unset, or when start == end (an empty span)."""
    if start is None or end is None:
        return False
    if start < end:
        return start <= local < end
    if start == end:
        return False
    return local >= start or local < end
