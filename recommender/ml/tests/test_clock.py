"""recommender.ml.clock: the one hour of the week and the helpers the models moved onto it (issue 16)."""

import datetime as dt
import subprocess
import sys
from zoneinfo import ZoneInfo

import numpy as np

from recommender.ml.click import ActiveHours
from recommender.ml.clock import DAY_MS, HOUR_MS, hour_of_week, local_hour_of_week, local_offsets_ms
from recommender.ml.timing import PopulationProfile, QuietHours, best_send_hours, coming_week_slots

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")


def minute_overlap(start: dt.time, end: dt.time, hour: int) -> bool:
    """The minute arithmetic QuietHours.overlaps used before it read the clock module: the reference."""
    start_min, end_min = start.hour * 60 + start.minute, end.hour * 60 + end.minute
    first, last = hour * 60, hour * 60 + 59
    if start_min == end_min:
        return False
    if start_min < end_min:
        return first < end_min and last >= start_min
    return last >= start_min or first < end_min


def test_quiet_hours_overlap_answers_as_the_minute_arithmetic_did_for_any_span():
    rng = np.random.default_rng(16)
    spans = [(dt.time(22), dt.time(7)), (dt.time(7), dt.time(22)), (dt.time(9), dt.time(9)), (dt.time(0), dt.time(0))]
    for _ in range(2000):
        h1, m1, s1, h2, m2, s2 = (int(v) for v in rng.integers(0, [24, 60, 60, 24, 60, 60]))
        spans.append((dt.time(h1, m1, s1), dt.time(h2, m2, s2)))
    for start, end in spans:
        quiet = QuietHours(start, end)
        assert [quiet.overlaps(hour) for hour in range(24)] == [minute_overlap(start, end, h) for h in range(24)]


def test_local_hour_of_week_of_instants_agrees_with_the_wall_clock_in_every_zone():
    rng = np.random.default_rng(7)
    stamps = rng.integers(1_600_000_000_000, 1_800_000_000_000, 3000)  # 2020–2027, daylight saving changes included
    for zone in ZONES:
        vectorised = local_hour_of_week(stamps, local_offsets_ms(stamps, np.array([zone] * len(stamps), dtype=object)))
        walls = [dt.datetime.fromtimestamp(s / 1000, tz=dt.UTC).astimezone(ZoneInfo(zone)) for s in stamps]
        assert vectorised.tolist() == [hour_of_week(wall) for wall in walls]


def test_active_hours_carry_the_hour_of_week_of_their_local_day_and_hour():
    stamps = np.array([0, 30 * 60_000, HOUR_MS, 4 * DAY_MS + 23 * HOUR_MS, 4 * DAY_MS + 23 * HOUR_MS])
    offsets = np.array([0, 0, 0, 0, HOUR_MS])  # the last one is already Tuesday 00:xx locally
    hours = ActiveHours.from_events(np.array([1, 1, 1, 1, 2]), stamps, offsets)
    # 1970-01-01 was a Thursday (hour of week 3 × 24); the 5th is a Monday.
    assert hours.customer.tolist() == [1, 1, 1, 2]
    assert hours.hour_of_week.tolist() == [72, 73, 23, 24]
    assert hours.first_ms.tolist() == [0, HOUR_MS, 4 * DAY_MS + 23 * HOUR_MS, 4 * DAY_MS + 23 * HOUR_MS]


def test_send_hours_and_slots_are_numbered_by_the_clock_module():
    zone = ZoneInfo("Europe/Berlin")
    now = dt.datetime(2026, 3, 27, 12, tzinfo=dt.UTC)  # the week of the spring-forward change
    slots = coming_week_slots(zone, now)
    assert len({hour_of_week(wall) for _, wall in slots}) == len(slots)
    best = best_send_hours([], population=PopulationProfile.uniform(), timezone="Europe/Berlin", now=now)
    assert all(slot.hour_of_week == hour_of_week(slot.local_start) for slot in best)


def test_the_ml_package_imports_no_django():
    code = (
        "import sys, recommender.ml.ranking, recommender.ml.click, recommender.ml.timing, recommender.ml.evaluation;"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
