"""The simulated world (simulation/world.py) and generate_events: seeded, configurable, its
log follows the planted activity profiles and tastes, and import_events reads what it writes."""

import datetime as dt
import io
import json
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from devices.models import Customer
from recommender.ml.data import DAY_MS, events_frame, load_catalog, load_events, time_split
from recommender.ml.evaluation import evaluate_recommender
from recommender.ml.ranking import FitOptions, fit_recommender
from recommender.models import Category, Event, Item
from simulation.world import REFERENCE_MS, World, WorldParams, write_dataset

SMALL = WorldParams(n_users=300, n_items=200, n_categories=20)


def as_frame(log) -> pd.DataFrame:
    e = log.events
    return events_frame(
        customer=e["visitorid"], item=e["itemid"], event_type=e["event"].astype(str), timestamp=e["timestamp"]
    )


def local_hours(world: World, users: np.ndarray, utc_ms: np.ndarray) -> np.ndarray:
    """Local hour of day, computed here with zoneinfo one event at a time (not the world's code)."""
    zones = world.user_timezone[users]
    return np.array(
        [
            dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).astimezone(ZoneInfo(z)).hour
            for z, ms in zip(zones, utc_ms, strict=True)
        ]
    )


# Seeds and parameters ----------------------------------------------------------------------------


def test_same_seed_same_files_other_seed_differs(tmp_path):
    def files(seed: int, name: str) -> dict[str, bytes]:
        world = World.generate(SMALL, seed)
        paths = write_dataset(tmp_path / name, world, world.sample_events(REFERENCE_MS, 14, rng=[seed, 1]))
        return {p.name: p.read_bytes() for p in paths.values()}

    first, again, other = files(1, "a"), files(1, "b"), files(2, "c")
    assert first == again
    assert first["events.csv.gz"] != other["events.csv.gz"]
    assert first["customers.csv"] != other["customers.csv"]


def test_world_json_overrides_and_rejects_unknown_keys(tmp_path):
    path = tmp_path / "world.json"
    path.write_text(json.dumps({"n_users": 120, "timezones": {"Asia/Tokyo": 1}, "taste_strength": 3}))
    params = WorldParams.from_json(path)
    assert (params.n_users, params.taste_strength, params.n_items) == (120, 3.0, WorldParams().n_items)
    world = World.generate(params, seed=5)
    assert world.n_users == 120 and set(world.user_timezone) == {"Asia/Tokyo"}

    with pytest.raises(ValueError, match=r"unknown world parameter\(s\): colour"):
        WorldParams.from_json({"colour": "blue", "n_users": 5})
    with pytest.raises(ValueError, match="n_users: expected int"):
        WorldParams.from_json({"n_users": 2.5})
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        WorldParams.from_json({"timezones": {"Mars/Olympus": 1}})
    with pytest.raises(ValueError, match="view_to_cart must be between 0 and 1"):
        WorldParams.from_json({"view_to_cart": 2})

    # world.json as generate_events writes it rebuilds the same population.
    write_dataset(tmp_path / "out", world, world.sample_events(REFERENCE_MS, 3, rng=1))
    rebuilt = World.load(tmp_path / "out" / "world.json")
    assert rebuilt.params == params and rebuilt.seed == 5
    np.testing.assert_array_equal(rebuilt.user_taste, world.user_taste)
    np.testing.assert_array_equal(rebuilt.item_price, world.item_price)


# The log follows what was planted ------------------------------------------------------------------


def test_event_times_follow_each_persons_local_profile():
    world = World.generate(WorldParams(n_users=400, n_items=200, n_categories=20, activity_median=6.0), seed=7)
    log = world.sample_events(REFERENCE_MS, 28, rng=8)
    events = log.events
    users = world.user_index(events["visitorid"].to_numpy())
    counts = np.bincount(users, minlength=world.n_users)
    heavy = np.flatnonzero(counts >= 150)
    assert len(heavy) >= 40
    peak = world.activity_profile.reshape(-1, 7, 24)[:, :5].sum(axis=1).argmax(axis=1)  # weekday profile
    hours = local_hours(world, users, events["timestamp"].to_numpy())
    matches = 0
    for u in heavy:
        mine = events["timestamp"].to_numpy()[users == u]
        weekday = pd.to_datetime(mine, unit="ms", utc=True).tz_convert(world.user_timezone[u]).day_of_week < 5
        mode = np.bincount(hours[users == u][weekday], minlength=24).argmax()
        matches += min(abs(mode - peak[u]), 24 - abs(mode - peak[u])) <= 1
    assert matches / len(heavy) >= 0.7
    # Different people, different peaks: the planted profiles are not one shape.
    assert len(np.unique(peak[heavy])) >= 5


def test_local_hours_survive_daylight_saving():
    # Everyone in Berlin, one sharp peak at 20:00–21:00 local; Europe moves its clocks on 2024-03-31.
    params = WorldParams(
        n_users=200,
        n_items=50,
        n_categories=5,
        timezones={"Europe/Berlin": 1.0},
        activity_peaks={"evening": {"hour": 20.5, "share": 1.0, "weekend": 1.0}},
        activity_median=10.0,
        activity_sigma=0.0,
        peak_jitter_hours=0.0,
        peak_width_hours=0.25,
        weekend_shift_hours=0.0,
        activity_floor=0.0,
    )
    world = World.generate(params, seed=3)
    start = int(dt.datetime(2024, 3, 24, tzinfo=dt.UTC).timestamp() * 1000)
    sessions = world.sample_events(start, 14, rng=4).sessions
    utc_hour = pd.to_datetime(sessions["start_ms"], unit="ms", utc=True).dt.hour.to_numpy()
    local = local_hours(world, sessions["user"].to_numpy(), sessions["start_ms"].to_numpy())
    assert (local == 20).mean() > 0.97
    switch = int(dt.datetime(2024, 3, 31, 1, tzinfo=dt.UTC).timestamp() * 1000)
    before = sessions["start_ms"].to_numpy() < switch
    assert np.bincount(utc_hour[before]).argmax() == 19  # CET, UTC+1
    assert np.bincount(utc_hour[~before]).argmax() == 18  # CEST, UTC+2
    # activity() follows the clock it is given.
    users = np.zeros(2, dtype=int)
    winter, summer = world.activity(users, [19, 18], at_ms=start), world.activity(users, [19, 18], at_ms=switch)
    assert winter[0] > 10 * winter[1] and summer[1] > 10 * summer[0]


def test_a_model_trained_on_the_log_recovers_the_planted_tastes():
    world = World.generate(WorldParams(n_users=1500, n_items=600, n_categories=30), seed=3)
    events = as_frame(world.sample_events(REFERENCE_MS, 45, rng=4))
    options = FitOptions(lightfm=False, ease=False, max_validation_users=300)

    # Held-out events: the offline protocol of evaluate_recommender.
    report = evaluate_recommender(events, test_days=7, k=10, options=options)
    assert report.models["optimus"]["ndcg@10"] >= 1.5 * report.models["popularity"]["ndcg@10"]

    # Ground truth: what it recommends (new items only) lies among each person's true favourites.
    split = time_split(events, 7)
    fitted = fit_recommender(split.train, options=options)
    people = world.user_index(split.test_users)
    truth = np.argsort(-world.affinity_matrix(people), axis=1)[:, :50]
    share, affinity = {}, {}
    for model in ("popularity", "optimus"):
        top, _ = fitted.recommend(fitted.user_positions(split.test_users), 10, exclude_seen=True, model=model)
        items = np.where(top >= 0, world.item_index(fitted.item_ids[np.maximum(top, 0)]), -1)
        share[model] = np.mean([np.isin(items[r][items[r] >= 0], truth[r]).mean() for r in range(len(people))])
        affinity[model] = world.affinity(people[:, None], np.maximum(items, 0))[items >= 0].mean()
    assert share["optimus"] >= 1.5 * share["popularity"]
    assert affinity["optimus"] >= affinity["popularity"] + 0.3


def test_funnel_and_repeat_purchases():
    world = World.generate(WorldParams(n_users=800, n_items=300, n_categories=20, repeat_item_share=0.5), seed=11)
    log = world.sample_events(REFERENCE_MS, 60, rng=12)
    e = log.events
    assert e["timestamp"].is_monotonic_increasing
    assert e["timestamp"].min() >= REFERENCE_MS and e["timestamp"].max() < REFERENCE_MS + 60 * DAY_MS
    counts = e["event"].value_counts()
    assert counts["view"] > counts["addtocart"] > counts["transaction"] > 0
    buys = e[e["event"] == "transaction"]
    assert buys["transactionid"].notna().all() and e.loc[e["event"] != "transaction", "transactionid"].isna().all()
    price = world.item_price[world.item_index(buys["itemid"].to_numpy())]
    quantity = buys["amount"].to_numpy() / price
    np.testing.assert_allclose(quantity, np.round(quantity), atol=0.01)
    # Repeat purchases are of repeatable items, later, by the same person.
    again = buys[buys.duplicated(["visitorid", "itemid"])]
    assert len(again) > 0.05 * len(buys)
    assert world.item_repeatable[world.item_index(again["itemid"].to_numpy())].mean() > 0.9
    # Withdrawn items are no longer sold after they were withdrawn.
    withdrawn = log.withdrawn_ms[world.item_index(buys["itemid"].to_numpy())]
    assert ((withdrawn < 0) | (buys["timestamp"].to_numpy() < withdrawn)).all()


def test_push_response_ground_truth():
    world = World.generate(SMALL, seed=2)
    users = np.arange(world.n_users)
    peak = world.activity_profile.argmax(axis=1)
    trough = world.activity_profile.argmin(axis=1)
    best = world.affinity_matrix(users).argmax(axis=1)
    worst = world.affinity_matrix(users).argmin(axis=1)
    fresh = world.open_probability(users, peak, best, 0)
    assert (fresh <= world.params.open_max).all() and (fresh > 0).all()
    tired = world.open_probability(users, peak, best, 6)
    uncapped = fresh < world.params.open_max
    assert (tired <= fresh).all() and (tired[uncapped] < fresh[uncapped]).all()  # fatigue
    assert (world.open_probability(users, trough, best, 0) <= fresh).all()  # timing
    assert (world.open_probability(users, peak, worst, 0) <= fresh).all()  # relevance
    shown = np.stack([worst, best, np.full(len(users), -1)], axis=1)  # the best item shown counts
    np.testing.assert_allclose(world.open_probability(users, peak, shown, 0), fresh)
    no_items = world.open_probability(users, peak, None, 0)
    np.testing.assert_allclose(world.open_probability(users, peak, np.full((len(users), 2), -1), 0), no_items)

    calm = world.opt_out_probability(users, 0)
    assert np.allclose(calm, world.params.opt_out_base)
    assert (world.opt_out_probability(users, np.ceil(world.tolerance) + 5) > calm).all()  # annoyance
    assert (world.purchase_probability(users, best) > world.purchase_probability(users, worst)).all()
    active = world.activity(users[:, None], np.arange(168)[None, :])
    assert active.shape == (world.n_users, 168) and ((active >= 0) & (active < 1)).all()


# The command ------------------------------------------------------------------------------------


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_generate_events_then_import_events(tmp_path):
    out_dir = tmp_path / "sim"
    printed = run("generate_events", str(out_dir), "--users", "150", "--items", "80", "--days", "10", "--seed", "3")
    assert "events" in printed and "transaction" in printed
    events = pd.read_csv(out_dir / "events.csv.gz")
    assert list(events.columns) == ["timestamp", "visitorid", "event", "itemid", "transactionid", "amount"]
    assert json.loads((out_dir / "world.json").read_text())["seed"] == 3

    run(
        "import_events",
        str(out_dir / "events.csv.gz"),
        "--item-properties",
        str(out_dir / "item_properties.csv.gz"),
        "--categories",
        str(out_dir / "category_tree.csv"),
        "--items",
        str(out_dir / "items.csv"),
        "--no-progress",
    )
    assert Event.objects.count() == len(events)
    assert Customer.objects.count() == events["visitorid"].nunique()
    assert Item.objects.count() == 80
    assert Category.objects.count() == len(pd.read_csv(out_dir / "category_tree.csv"))
    world = World.load(out_dir / "world.json")
    assert Item.objects.filter(available=False).count() == (~world.item_available).sum()
    priced = dict(Item.objects.values_list("external_id", "price"))
    assert float(priced["1"]) == pytest.approx(world.item_price[0])
    # evaluate_recommender's readers take the same files.
    assert len(load_events(str(out_dir / "events.csv.gz"))) == len(events)
    catalog = load_catalog(
        items=str(out_dir / "items.csv"),
        item_properties=str(out_dir / "item_properties.csv.gz"),
        categories=str(out_dir / "category_tree.csv"),
    )
    assert len(catalog.item) == 80 and catalog.lineage(catalog.category[0])[-1] in {"1", "2", "3"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--days", "0"], "--days must be positive"),
        (["--users", "0"], "--users must be at least 1"),
        (["--start", "yesterday"], "is not an ISO 8601"),
        (["--start", "2999-01-01"], "would end in the future"),
        (["--world", "missing.json"], "cannot read"),
    ],
)
def test_generate_events_rejects_bad_arguments(tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        run("generate_events", str(tmp_path / "out"), *args)


def test_generate_events_rejects_unknown_world_keys(tmp_path):
    path = tmp_path / "world.json"
    path.write_text(json.dumps({"n_users": 10, "fatigue": 0.5}))
    with pytest.raises(CommandError, match=r"unknown world parameter\(s\): fatigue"):
        run("generate_events", str(tmp_path / "out"), "--world", str(path))
