"""Send-time model (recommender/ml/timing.py) and its offline evaluation; no database."""

import datetime as dt
import json
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from recommender.ml.clock import DAY_MS, HOUR_MS, local_offsets_ms
from recommender.ml.timing import (
    PopulationProfile,
    QuietHours,
    Targets,
    UserDays,
    best_send_hours,
    coming_week_slots,
    fit_timing_model,
    window_hits,
)
from recommender.ml.timing_eval import evaluate, split_events

UTC = dt.UTC
START_DAY = 19_000  # 2022-01-08


def synthetic_events(*, personal: bool, users: int = 400, days: int = 150, seed: int = 0) -> pd.DataFrame:
    """A log where each person either keeps their own hour (personal) or acts at population-random hours."""
    rng = np.random.default_rng(seed)
    population = np.array([0, 0, 0, 0, 0, 0, 1, 3, 6, 8, 9, 10, 12, 10, 9, 9, 10, 11, 12, 11, 8, 5, 2, 1], float)
    population /= population.sum()
    own_hour = rng.choice(24, users, p=population)
    rate = rng.uniform(0.05, 0.3, users)
    active = rng.random((users, days)) < rate[:, None]
    user, day = np.nonzero(active)
    if personal:
        hour = np.clip(own_hour[user] + rng.integers(-1, 2, len(user)), 0, 23)
    else:
        hour = rng.choice(24, len(user), p=population)
    stamps = (START_DAY + day) * DAY_MS + hour * HOUR_MS + rng.integers(0, HOUR_MS, len(user))
    return pd.DataFrame({"timestamp": stamps, "user": user}).sort_values("timestamp", ignore_index=True)


# --- the evaluation protocol ---


def test_window_hit_is_the_hour_or_the_next_without_wrapping_past_midnight():
    bits = np.array([1 << 0, 1 << 10, 1 << 23])
    hits = window_hits(bits)
    assert list(np.nonzero(hits[0])[0]) == [0]
    assert list(np.nonzero(hits[1])[0]) == [9, 10]
    assert list(np.nonzero(hits[2])[0]) == [22, 23]  # hour 23 does not reach 00:00 of the next day


def test_split_uses_the_cutoff_and_keeps_only_users_with_train_and_test_events():
    end = (START_DAY + 30) * DAY_MS + 15 * HOUR_MS
    events = pd.DataFrame(
        {
            "timestamp": [
                end - 10 * DAY_MS,  # a: train (before the cutoff)
                end - 2 * DAY_MS,  # a: test
                end - 9 * DAY_MS,  # b: train only
                end - DAY_MS,  # c: test only
                end - 7 * DAY_MS,  # a: exactly at the cutoff -> test
                end,  # a: the last event
            ],
            "user": [1, 1, 2, 3, 1, 1],
        }
    )
    split = split_events(events, test_days=7)
    assert split.cutoff_ms == end - 7 * DAY_MS
    assert set(split.train.user) == {1, 2}  # everyone's train days feed the population
    assert set(split.test.user) == {1}
    assert len(split.test) == 3  # three distinct test days of user 1
    assert split.train.day.max() < split.test.day.min()
    assert split.as_of_day == -(-split.cutoff_ms // DAY_MS)


def test_hours_are_chosen_from_train_data_only():
    events = synthetic_events(personal=True, users=150, days=120)
    split = split_events(events, test_days=14)
    altered = events.copy()
    day = altered["timestamp"] // DAY_MS
    is_test = (altered["timestamp"] >= split.cutoff_ms) & (day < day.max())
    # Move test events (but the last day's, which fix the cutoff) to the end of their day: no choice may change.
    altered.loc[is_test, "timestamp"] = (day[is_test] + 1) * DAY_MS - 1
    split_altered = split_events(altered, test_days=14)
    np.testing.assert_array_equal(split.train.bits, split_altered.train.bits)
    np.testing.assert_array_equal(split.test.day, split_altered.test.day)
    assert not np.array_equal(split.test.bits, split_altered.test.bits)

    def chosen(s):
        model = fit_timing_model(s.train, as_of_day=s.as_of_day, horizon_days=14, train_windows=3, validation_windows=2)
        return model.best_hours(s.train, Targets.of(s.test), as_of_day=s.as_of_day)

    np.testing.assert_array_equal(chosen(split), chosen(split_altered))


def test_evaluate_writes_every_policy_with_the_same_user_days():
    result = evaluate(
        synthetic_events(personal=False, users=150, days=100), test_days=14, train_windows=3, validation_windows=2
    )
    models = result["models"]
    assert {"fixed_hour", "user_mode_hour", "optimus", "global_best_hour", "random"} <= set(models)
    assert len({row["user_days"] for row in models.values()}) == 1
    assert all(0 <= row["hit_rate"] <= 1 for row in models.values())
    json.dumps(result)  # plain JSON types only


def test_with_strong_personal_hours_optimus_beats_the_population_hour():
    result = evaluate(
        synthetic_events(personal=True, users=250, days=120), test_days=14, train_windows=3, validation_windows=2
    )
    models = result["models"]
    assert models["optimus"]["hit_rate"] > models["global_best_hour"]["hit_rate"] + 0.2
    assert models["optimus"]["hit_rate"] >= 0.97 * models["user_best_window"]["hit_rate"]


def test_without_personal_hours_optimus_falls_back_to_the_population():
    result = evaluate(
        synthetic_events(personal=False, users=250, days=120), test_days=14, train_windows=3, validation_windows=2
    )
    models = result["models"]
    assert models["optimus"]["hit_rate"] >= models["global_best_hour"]["hit_rate"] - 0.01
    assert models["optimus"]["hit_rate"] > models["user_mode_hour"]["hit_rate"]


def test_population_profile_round_trips_through_json():
    days = UserDays.from_events(np.array([1, 1, 2]), np.array([0, HOUR_MS * 9, DAY_MS + HOUR_MS * 13]))
    profile = PopulationProfile.from_user_days(days)
    again = PopulationProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    np.testing.assert_allclose(again.dow_hour, profile.dow_hour, atol=1e-6)
    assert again.best_hour == profile.best_hour
    assert profile.hour_of_week().shape == (168,)


# --- the product: best hours of the coming week, local time ---


def at(zone: str, *args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZoneInfo(zone))


def flat_population() -> PopulationProfile:
    return PopulationProfile.uniform()


def daily_at(zone: str, hour: int, first: dt.date, days: int) -> list[dt.datetime]:
    return [at(zone, d.year, d.month, d.day, hour, 15) for d in (first + dt.timedelta(n) for n in range(days))]


def test_best_hours_are_in_the_persons_local_time():
    history = daily_at("Asia/Tokyo", 9, dt.date(2024, 5, 1), 20)
    now = dt.datetime(2024, 6, 3, 0, 0, tzinfo=UTC)  # a Monday; 09:00 in Tokyo
    best = best_send_hours(history, population=flat_population(), timezone="Asia/Tokyo", now=now)
    top = best[0]
    assert top.local_start.hour in (8, 9)  # the window [h, h + 1] covers 09:xx from either
    assert top.starts_at == top.local_start.astimezone(UTC)
    assert top.starts_at.utcoffset() == dt.timedelta(0)
    assert top.hour_of_week == top.local_start.weekday() * 24 + top.local_start.hour
    assert all(now <= slot.starts_at < now + dt.timedelta(days=7) for slot in best)
    assert len({slot.hour_of_week for slot in best}) == len(best) == 168


def test_summer_and_winter_history_land_on_the_same_local_hour():
    # 08:15 in Berlin is 06:15 UTC in summer and 07:15 UTC in winter: both are local hour 8.
    history = daily_at("Europe/Berlin", 8, dt.date(2023, 7, 1), 10) + daily_at(
        "Europe/Berlin", 8, dt.date(2023, 12, 1), 10
    )
    assert {stamp.astimezone(UTC).hour for stamp in history} == {6, 7}
    now = at("Europe/Berlin", 2024, 1, 8, 0, 0)
    best = best_send_hours(history, population=flat_population(), timezone="Europe/Berlin", now=now, limit=14)
    assert {slot.local_start.hour for slot in best} <= {7, 8}


def test_population_user_days_in_each_persons_local_time():
    summer = int(dt.datetime(2024, 7, 1, 6, 30, tzinfo=UTC).timestamp() * 1000)
    winter = int(dt.datetime(2024, 1, 8, 7, 30, tzinfo=UTC).timestamp() * 1000)
    zones = np.array(["Europe/Berlin", "Europe/Berlin", "America/New_York", "UTC"])
    stamps = np.array([summer, winter, winter, winter])
    offsets = local_offsets_ms(stamps, zones)
    assert (offsets // HOUR_MS).tolist() == [2, 1, -5, 0]
    days = UserDays.from_events(np.array([1, 1, 2, 3]), stamps, offsets)
    hours = [int(bits).bit_length() - 1 for bits in days.bits]
    assert hours == [8, 8, 2, 7]  # Berlin 08:30 in summer and in winter; 02:30 in New York
    late = int(dt.datetime(2024, 1, 8, 3, 0, tzinfo=UTC).timestamp() * 1000)
    ny = UserDays.from_events(np.array([1]), np.array([late]), local_offsets_ms(np.array([late]), zones[2:3]))
    assert ny.day[0] == days.day[3] - 1 and ny.bits[0] == 1 << 22  # 22:00 the evening before in New York


def test_spring_forward_skips_the_missing_hour_and_keeps_local_times():
    zone = ZoneInfo("Europe/Berlin")
    now = at("Europe/Berlin", 2024, 3, 28, 0, 0)  # Sunday 31 March 02:00 -> 03:00
    slots = coming_week_slots(zone, now)
    walls = [wall for _, wall in slots]
    assert not any(w.date() == dt.date(2024, 3, 31) and w.hour == 2 for w in walls)
    eight = {w.date(): w.astimezone(UTC).hour for w in walls if w.hour == 8}
    assert eight[dt.date(2024, 3, 30)] == 7  # CET, UTC+1
    assert eight[dt.date(2024, 3, 31)] == 6  # CEST, UTC+2

    history = daily_at("Europe/Berlin", 8, dt.date(2024, 2, 1), 30)
    best = best_send_hours(history, population=flat_population(), timezone="Europe/Berlin", now=now)
    sunday = [s for s in best if s.local_start.date() == dt.date(2024, 3, 31)]
    assert len(sunday) == 23
    assert all(s.local_start.astimezone(UTC) == s.starts_at for s in best)


def test_a_newcomer_gets_the_populations_local_hour_across_the_change():
    evening = np.eye(24)[19] * 0.5 + 0.01
    population = PopulationProfile(hour=evening, dow_hour=np.tile(evening, (7, 1)), days=1000)
    now = at("Europe/Berlin", 2024, 3, 28, 0, 0)
    best = best_send_hours([], population=population, timezone="Europe/Berlin", now=now, limit=7)
    assert {slot.local_start.hour for slot in best} == {19}
    utc_hours = {slot.local_start.date(): slot.starts_at.hour for slot in best}
    assert utc_hours[dt.date(2024, 3, 30)] == 18 and utc_hours[dt.date(2024, 3, 31)] == 17


def test_fall_back_uses_the_first_of_the_repeated_hour_once():
    zone = ZoneInfo("America/New_York")
    now = at("America/New_York", 2024, 10, 31, 12, 0)  # Sunday 3 November 02:00 -> 01:00
    walls = [wall for _, wall in coming_week_slots(zone, now)]
    one_am = [w for w in walls if w.date() == dt.date(2024, 11, 3) and w.hour == 1]
    assert len(one_am) == 1
    assert one_am[0].astimezone(UTC) == dt.datetime(2024, 11, 3, 5, 0, tzinfo=UTC)  # EDT, the first 01:00
    assert len({w.weekday() * 24 + w.hour for w in walls}) == len(walls)


def test_half_hour_zones_get_whole_local_hours():
    walls = [wall for _, wall in coming_week_slots(ZoneInfo("Asia/Kolkata"), dt.datetime(2024, 1, 1, tzinfo=UTC))]
    assert all(w.minute == 0 for w in walls)
    assert {w.astimezone(UTC).minute for w in walls} == {30}


@pytest.mark.parametrize(
    ("start", "end", "quiet"),
    [
        (dt.time(22, 0), dt.time(7, 0), {22, 23, 0, 1, 2, 3, 4, 5, 6}),
        (dt.time(21, 30), dt.time(6, 30), {21, 22, 23, 0, 1, 2, 3, 4, 5, 6}),
        (dt.time(12, 0), dt.time(14, 0), {12, 13}),
    ],
)
def test_quiet_hours_are_never_chosen(start, end, quiet):
    quiet_hours = QuietHours(start, end)
    assert {hour for hour in range(24) if quiet_hours.overlaps(hour)} == quiet
    # The person is most active right inside the quiet hours.
    history = daily_at("Europe/Paris", 23, dt.date(2024, 1, 1), 20) + daily_at(
        "Europe/Paris", 12, dt.date(2024, 1, 1), 20
    )
    now = at("Europe/Paris", 2024, 3, 25, 9, 30)  # the week holds the spring-forward Sunday
    best = best_send_hours(
        history, population=flat_population(), timezone="Europe/Paris", now=now, quiet_hours=quiet_hours
    )
    assert best
    assert not {slot.local_start.hour for slot in best} & quiet
    assert all(not quiet_hours.overlaps(slot.local_start.hour) for slot in best)


def test_a_fitted_model_scores_the_product_hours():
    events = synthetic_events(personal=True, users=150, days=120)
    days = UserDays.from_events(events["user"].to_numpy(), events["timestamp"].to_numpy())
    as_of = int(days.day.max()) + 1
    model = fit_timing_model(days, as_of_day=as_of, horizon_days=14, train_windows=3, validation_windows=2)
    person = events[events["user"] == 0]["timestamp"].astype(int).tolist()
    now = dt.datetime.fromtimestamp(as_of * 86400, tz=UTC)
    best = best_send_hours(person, population=model.population, timezone="UTC", now=now, model=model, limit=3)
    own = np.bincount(((np.array(person) % DAY_MS) // HOUR_MS), minlength=24)
    assert own[best[0].local_start.hour] + own[min(best[0].local_start.hour + 1, 23)] > 0
