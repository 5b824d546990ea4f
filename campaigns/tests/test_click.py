"""The click model: P(open) by (customer, notification type, local hour of week).

On a simulated population with planted hour-of-week activity profiles and open propensities
(simulation/world.py), pushes sent at random hours are opened with the world's own probability; the model
must then rank each person's hours like their planted profile, give calibrated probabilities, and, with no
feedback at all, fall back to an activity prior that gives a newcomer the population's shape. Then the same
through `train` on the database, and the predictor the planner calls.

Run with `-s` to see the measured numbers (rank correlation, both model families, reliability table).
"""

import datetime as dt
import json
import uuid
import zoneinfo

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from campaigns.click import DEFAULT_TYPE, OpenPredictor, send_hours_of_week
from recommender.ml import click
from recommender.ml.click import ActiveHours, ClickModel, PushHistory, local_hour_of_week, rank_correlation
from recommender.ml.clock import local_offsets_ms
from recommender.models import CustomerProfile, ModelVersion
from recommender.training import save_artifact
from simulation.world import REFERENCE_MS, World, WorldParams
from tests.factories import ModelVersionFactory

DAY = click.DAY_MS
EVENT_DAYS, FEEDBACK_DAYS = 56, 42
NOW_MS = REFERENCE_MS + EVENT_DAYS * DAY


def planted(n_users: int = 700, seed: int = 3, pushes_per_day: float = 0.8):
    """A world, everyone's active hours over 8 weeks, and 6 weeks of pushes at random times answered with the
    world's P(open) (its planted activity profile, base propensity and fatigue)."""
    world = World.generate(WorldParams(n_users=n_users, n_items=200, n_categories=20, open_base_mean=0.1), seed)
    log = world.sample_events(REFERENCE_MS, EVENT_DAYS, rng=seed)
    users = np.concatenate([world.user_index(log.events["visitorid"].to_numpy()), log.sessions["user"].to_numpy()])
    stamps = np.concatenate([log.events["timestamp"].to_numpy(np.int64), log.sessions["start_ms"].to_numpy(np.int64)])
    hours = ActiveHours.from_events(users, stamps, local_offsets_ms(stamps, world.user_timezone[users]))

    rng = np.random.default_rng(seed + 1)
    count = rng.poisson(rng.uniform(0.25, 1.75, n_users) * pushes_per_day * FEEDBACK_DAYS)
    user = np.repeat(np.arange(n_users), count)
    sent = NOW_MS - FEEDBACK_DAYS * DAY + rng.integers(0, FEEDBACK_DAYS * DAY, len(user))
    order = np.lexsort((sent, user))
    user, sent = user[order], sent[order]
    key = user.astype(np.int64) * (1 << 42) + sent
    last_7d = np.searchsorted(key, key) - np.searchsorted(key, key - 7 * DAY)
    how = world.local_hour_of_week(user, sent)
    opened = rng.random(len(user)) < world.open_probability(user, how, None, last_7d)
    dismissed = ~opened & (rng.random(len(user)) < 0.3)
    sends = pd.DataFrame(
        {"customer": user, "type": rng.choice(["offer", "reminder"], len(user)), "sent_ms": sent, "hour_of_week": how}
        | {"opened": opened}
    )
    answer = sent + rng.integers(60_000, 3 * click.HOUR_MS, len(user))
    feedback = pd.concat(
        [
            pd.DataFrame(
                {"customer": user, "action": "delivered", "at_ms": sent + 2_000}
                | {"battery": rng.integers(5, 100, len(user)).astype(float), "charging": rng.integers(0, 2, len(user))}
                | {"network": rng.choice(["wifi", "cellular"], len(user)), "app_state": "background"}
            ),
            pd.DataFrame({"customer": user[opened], "action": "opened", "at_ms": answer[opened]}),
            pd.DataFrame({"customer": user[dismissed], "action": "dismissed", "at_ms": answer[dismissed]}),
        ],
        ignore_index=True,
    )
    feedback["charging"] = feedback["charging"].astype(float)
    feedback[["network", "app_state"]] = feedback[["network", "app_state"]].fillna("")
    profiles = pd.DataFrame(
        {
            "segment": np.where(np.arange(n_users) % 3, "loyal", "new"),
            "platform": np.where(np.arange(n_users) % 2, "fcm", "apns"),
        }
        | {"recency_score": 3, "frequency_score": 3, "monetary_score": 3}
    )
    return world, hours, PushHistory(sends=sends, feedback=feedback), profiles


def week_of(model: ClickModel, users: np.ndarray, **options) -> np.ndarray:
    """(len(users), 168) predictions: every hour of the week of each person."""
    p = model.predict(np.repeat(users, 168), "offer", np.tile(np.arange(168), len(users)), now_ms=NOW_MS, **options)
    return p.reshape(len(users), 168)


@pytest.fixture(scope="module")
def population():
    return planted()


@pytest.fixture(scope="module")
def learned(population):
    world, hours, history, profiles = population
    return ClickModel.fit(hours, history, now_ms=NOW_MS, profiles=profiles)


# With feedback: the learned model -----------------------------------------------------------------------------------


def test_learned_model_ranks_each_persons_hours_by_the_planted_profile(population, learned):
    world, hours, history, _ = population
    users = np.arange(world.n_users)
    rho = rank_correlation(week_of(learned, users, history=history), world.activity_profile)
    population_rho = rank_correlation(np.tile(learned.shares.population, (len(users), 1)), world.activity_profile)
    print(f"\nrank correlation with the planted profile, median over {len(users)} people: model "
          f"{np.median(rho):.3f} ({learned.family}), population profile {np.median(population_rho):.3f}")  # fmt: skip
    assert learned.family in click.FAMILIES
    assert np.median(rho) >= 0.65
    assert np.median(rho) >= np.median(population_rho) + 0.15


def test_learned_probabilities_are_calibrated_and_beat_the_base_rate(learned):
    metrics = learned.metrics
    chosen = metrics["models"][metrics["chosen"]]["test"]
    print(f"\nchosen {metrics['chosen']} ({metrics['calibration']}), test part: {chosen}")
    print("reliability (predicted → observed, count):")
    for row in metrics["reliability"]:
        print(f"  {row['predicted']:.4f} → {row['observed']:.4f}  {row['count']}")
    assert chosen["brier"] < metrics["models"]["base_rate"]["test"]["brier"]
    assert chosen["log_loss"] < metrics["models"]["base_rate"]["test"]["log_loss"]
    for row in metrics["reliability"]:
        error = np.sqrt(max(row["predicted"] * (1 - row["predicted"]), 1e-4) / row["count"])
        assert abs(row["observed"] - row["predicted"]) <= 3 * error + 0.01, row
    assert sum(row["count"] for row in metrics["reliability"]) == metrics["split"]["test"]
    assert chosen["ece"] <= 0.02


def test_both_families_are_measured_and_the_choice_is_recorded(learned):
    models = learned.metrics["models"]
    for family in click.FAMILIES:
        print(f"\n{family}: raw {models[family]['raw']}, calibrated ({models[family]['calibration']}) "
              f"{models[family]['test']}")  # fmt: skip
        for name in ("log_loss", "brier", "auc"):
            assert models[family]["raw"][name] is not None and models[family]["test"][name] is not None
        assert len(models[family]["reliability"]) == 10
    assert learned.metrics["chosen"] == min(("prior", *click.FAMILIES), key=lambda m: models[m]["test"]["log_loss"])
    assert learned.params["family"] == learned.family == learned.metrics["chosen"]
    json.dumps(learned.metrics)  # stored in ModelVersion.metrics


def test_more_recent_pushes_never_raise_p_open(population, learned):
    _, _, history, _ = population
    users = np.arange(50)
    rested = week_of(learned, users, history=history, pushes_last_7d=0)
    tired = week_of(learned, users, history=history, pushes_last_7d=12)
    assert (tired <= rested + 1e-9).all()
    assert tired.mean() < rested.mean()


# Without feedback: the activity prior -----------------------------------------------------------------------------


def test_without_feedback_a_newcomer_gets_the_population_shape_and_a_heavy_user_their_own(population):
    world, hours, _, _ = population
    model = ClickModel.fit(hours, PushHistory.empty(), now_ms=NOW_MS)
    assert model.estimator is None and model.metrics["chosen"] == "prior"

    newcomer = week_of(model, np.array([10**9]))[0]  # never seen
    assert rank_correlation(newcomer[None], model.shares.population[None])[0] == pytest.approx(1.0)
    assert newcomer.mean() == pytest.approx(click.DEFAULT_BASE_RATE, rel=1e-3)

    rows = model.activity.rows(np.arange(world.n_users))
    days = np.where(rows >= 0, model.activity.active_days[np.maximum(rows, 0)], 0)
    heavy = np.argsort(-days)[:30]
    own = rank_correlation(week_of(model, heavy), world.activity_profile[heavy])
    shared = rank_correlation(np.tile(model.shares.population, (len(heavy), 1)), world.activity_profile[heavy])
    print(f"\nprior, 30 heaviest users: rank correlation with their own profile {np.median(own):.3f}, "
          f"population's shape {np.median(shared):.3f}")  # fmt: skip
    assert np.median(own) >= 0.8
    assert np.median(own) >= np.median(shared) + 0.15


def test_a_little_feedback_sets_the_prior_base_rate_but_trains_no_trees(population):
    _, hours, history, _ = population
    early = history.sends[history.sends["sent_ms"] < NOW_MS - 2 * DAY].head(150)
    few = PushHistory(sends=early, feedback=history.feedback)
    model = ClickModel.fit(hours, few, now_ms=NOW_MS)
    opens = int(few.sends["opened"].sum())
    assert model.estimator is None and model.metrics["sends"] == 150
    assert model.base_rate == pytest.approx((opens + 20 * click.DEFAULT_BASE_RATE) / 170)


# Features -----------------------------------------------------------------------------------------------------------


def test_history_features_count_only_what_came_before_within_their_windows():
    now = NOW_MS
    sends = pd.DataFrame({"customer": [1, 1, 1, 1, 2], "sent_ms": [now - 40 * DAY, now - 8 * DAY, now - 3 * DAY,
                                                                    now, now - DAY]})  # fmt: skip
    feedback = pd.DataFrame(
        {
            "customer": [1, 1, 1, 2],
            "action": ["opened", "dismissed", "delivered", "delivered"],
            "at_ms": [now - 3 * DAY + 60_000, now - 8 * DAY + 60_000, now - 8 * DAY, now - 9 * DAY],
            "battery": [np.nan, np.nan, 40.0, 90.0],
            "charging": [np.nan, np.nan, 1.0, 0.0],
            "network": ["", "", "wifi", "cellular"],
            "app_state": ["", "", "killed", "foreground"],
        }
    )
    history = PushHistory(sends, feedback)
    out = click.push_history_features(history, np.array([1, 2, 3]), np.full(3, now), base_rate=0.05)
    assert out["sends_7d"].tolist() == [1, 1, 0]  # the push at `now` itself is not before it
    assert out["sends_30d"].tolist() == [2, 1, 0]
    assert out["opens_30d"].tolist() == [1, 0, 0]
    assert out["dismissals_30d"].tolist() == [1, 0, 0]
    assert np.expm1(out["hours_since_push"][:2]).round(3).tolist() == [72.0, 24.0]
    # Customer 1's context is 8 days old, customer 2's 9: both older than a week, so unknown.
    assert out["battery"].tolist() == [-1, -1, -1]
    feedback.loc[2, "at_ms"] = now - 2 * DAY
    out = click.push_history_features(PushHistory(sends, feedback), np.array([1]), np.array([now]), base_rate=0.05)
    assert (out["battery"][0], out["charging"][0], out["network"][0], out["app_state"][0]) == (40, 1, "wifi", "killed")


def test_local_hour_of_week_follows_daylight_saving():
    zone = zoneinfo.ZoneInfo("Europe/Berlin")
    # Sunday 29 March 2026: clocks go from 02:00 CET to 03:00 CEST. One UTC hour apart, two local hours apart.
    before = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)
    after = dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)
    stamps = np.array([int(t.timestamp() * 1000) for t in (before, after)])
    how = local_hour_of_week(stamps, local_offsets_ms(stamps, np.array([zone.key] * 2, dtype=object)))
    assert how.tolist() == [6 * 24 + 1, 6 * 24 + 3]
    sends = pd.DataFrame({"customer": [7, 8], "sent_ms": stamps, "opened": [True, False]})
    zones = pd.Series({7: "Europe/Berlin", 8: "Asia/Tokyo"})
    assert send_hours_of_week(PushHistory(sends, PushHistory.empty().feedback), zones)["hour_of_week"].tolist() == [
        6 * 24 + 1,
        6 * 24 + 10,  # 01:30 UTC is 10:30 in Tokyo, no daylight saving there
    ]


# Through `train` on the database -----------------------------------------------------------------------------------


NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.fixture
def artifacts(settings, tmp_path):
    settings.MODEL_ARTIFACT_DIR = tmp_path / "models"
    OpenPredictor._cache.clear()
    yield settings.MODEL_ARTIFACT_DIR
    OpenPredictor._cache.clear()


@pytest.fixture
def answered_pushes(db, artifacts):
    """60 customers in three zones, each active at one local hour, who were pushed at random hours over four
    weeks and opened mostly around their own hour."""
    from campaigns.models import Feedback, Notification, NotificationType
    from devices.models import Customer
    from recommender.models import Event, EventType

    rng = np.random.default_rng(11)
    kind = NotificationType.objects.get(slug=DEFAULT_TYPE)
    events, notifications, answers = [], [], []
    habits = {}
    for n in range(60):
        zone, hour = ["Europe/London", "America/New_York", "Asia/Tokyo"][n % 3], [8, 13, 20][(n // 3) % 3]
        customer = Customer.objects.create(external_id=f"c{n}", timezone=zone)
        habits[customer.pk] = hour
        for day in range(1, 57, 2):
            local = dt.datetime.combine(NOW.date() - dt.timedelta(days=day), dt.time(hour, 15))
            at = local.replace(tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(dt.UTC)
            events.append(Event(event_id=str(uuid.uuid4()), customer=customer, type=EventType.APP_OPEN, occurred_at=at))
        for k in range(8):
            sent = NOW - dt.timedelta(days=2 + k * 3.5, hours=float(rng.integers(0, 24)))
            local_hour = sent.astimezone(zoneinfo.ZoneInfo(zone)).hour
            near = min(abs(local_hour - hour), 24 - abs(local_hour - hour)) <= 1
            notifications.append(
                Notification(customer=customer, notification_type=kind, idempotency_key=f"{customer.pk}:auto:{k}",
                             status=Notification.Status.SENT, scheduled_for=sent, sent_at=sent, title="t", body="b")
            )  # fmt: skip
            answers.append((rng.random() < (0.6 if near else 0.08), sent))
    Event.objects.bulk_create(events)
    Notification.objects.bulk_create(notifications)
    feedback = []
    for notification, (opened, sent) in zip(Notification.objects.order_by("pk"), answers, strict=True):
        battery, charging = int(rng.integers(5, 100)), bool(rng.integers(0, 2))
        feedback += [
            Feedback(notification=notification, action="delivered", occurred_at=sent + dt.timedelta(seconds=5),
                     battery=battery, charging=charging, network="wifi"),
            Feedback(notification=notification, action="opened" if opened else "dismissed",
                     occurred_at=sent + dt.timedelta(minutes=9)),
        ]  # fmt: skip
    Feedback.objects.bulk_create(feedback)
    return habits


def test_train_fills_predicted_open_rates_and_the_predictor_serves_the_latest_model(answered_pushes, artifacts):
    call_command("train", "--now", NOW.isoformat(), "--quiet", stdout=open("/dev/null", "w"))  # noqa: SIM115
    version = ModelVersion.objects.latest()
    metrics = version.metrics["click"]
    assert version.status == ModelVersion.Status.SUCCEEDED
    assert metrics["sends"] == 480 and metrics["opens"] > 20
    assert metrics["chosen"] in ("prior", *click.FAMILIES) and version.params["click"]["shares"]

    rates = list(CustomerProfile.objects.values_list("predicted_open_rate", flat=True))
    assert len(rates) == 60 and all(r is not None and 0 < r < 1 for r in rates)

    predictor = OpenPredictor.latest()
    assert predictor.version_id == version.pk and OpenPredictor.latest() is predictor  # cached
    pks = np.array(sorted(answered_pushes))
    own = np.array([answered_pushes[pk] for pk in pks])
    weekday = 2 * 24  # Wednesday
    at_habit = predictor.predict(pks, DEFAULT_TYPE, weekday + own, NOW)
    off_habit = predictor.predict(pks, np.full(len(pks), DEFAULT_TYPE), weekday + (own + 12) % 24, NOW)
    assert at_habit.shape == (60,) and ((at_habit > 0) & (at_habit < 1)).all()
    assert (at_habit > off_habit).mean() >= 0.9
    assert predictor.predict(np.array([10**9]), DEFAULT_TYPE, np.array([weekday + 20]), NOW)[0] > 0  # unknown

    # A newer run: the next call serves its model (here the cold one its artifact holds).
    newer = ModelVersionFactory(started_at=version.started_at + dt.timedelta(hours=1), data_until=NOW,
                                        status=ModelVersion.Status.SUCCEEDED)  # fmt: skip
    newer.artifact = save_artifact(newer, None, None, ClickModel.cold())
    newer.save()
    assert OpenPredictor.latest().version_id == newer.pk
    cold = OpenPredictor.latest().predict(np.full(168, 10**9), DEFAULT_TYPE, np.arange(168), NOW)
    assert cold.shape == (168,) and cold.mean() == pytest.approx(click.DEFAULT_BASE_RATE, rel=1e-3)
