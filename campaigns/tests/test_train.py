"""`train`: every model fitted from the database, a model version, and one profile per customer.

The world here is planted: each customer sticks to one category and is active at one local hour,
so what the run writes can be checked against what we know to be true.
"""

import datetime as dt
import time
import uuid
import zoneinfo

import numpy as np
import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from campaigns import tasks
from devices.models import Customer
from recommender import training
from recommender.models import Category, CustomerProfile, Event, EventType, Item, ModelVersion
from recommender.training import load_artifact
from tests.factories import ModelVersionFactory

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
ZONES = ["Europe/London", "America/New_York", "Asia/Tokyo"]
HOURS = [8, 13, 20]  # local hours at which customers are active
N_CATEGORIES, ITEMS_PER_CATEGORY, N_CUSTOMERS = 4, 12, 72


@pytest.fixture
def artifacts(settings, tmp_path):
    settings.MODEL_ARTIFACT_DIR = tmp_path / "models"
    return settings.MODEL_ARTIFACT_DIR


@pytest.fixture
def world(db, artifacts):
    """Customers with a favourite category and a habitual local hour; a best-seller that is out of stock."""
    rng = np.random.default_rng(7)
    categories = [Category.objects.create(external_id=f"cat-{c}", name=f"Category {c}") for c in range(N_CATEGORIES)]
    items = [
        Item.objects.create(external_id=f"sku-{c}-{i}", title=f"Item {c}-{i}", price="10.00", category=categories[c])
        for c in range(N_CATEGORIES)
        for i in range(ITEMS_PER_CATEGORY)
    ]
    sold_out = Item.objects.create(external_id="sold-out", title="Everyone bought it", price="5.00", available=False)
    customers, events = [], []
    for n in range(N_CUSTOMERS):
        zone, hour = ZONES[n % 3], HOURS[(n // 3) % 3]
        customer = Customer.objects.create(external_id=f"c{n}", timezone=zone)
        favourite = n % N_CATEGORIES
        customers.append((customer, favourite, zone, hour))
        mine = [it for it in items if it.category_id == categories[favourite].pk]
        for day in range(0, 84, 2):
            local = dt.datetime.combine(NOW.date() - dt.timedelta(days=84 - day), dt.time(hour, 10))
            at = local.replace(tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(dt.UTC)
            item = mine[int(rng.zipf(1.6) - 1) % len(mine)]
            kind = EventType.TRANSACTION if rng.random() < 0.3 else EventType.VIEW
            events.append(Event(event_id=str(uuid.uuid4()), customer=customer, item=item, type=kind, occurred_at=at,
                                amount="10.00" if kind == EventType.TRANSACTION else None,
                                transaction_id=f"t{n}-{day}" if kind == EventType.TRANSACTION else ""))  # fmt: skip
            events.append(Event(event_id=str(uuid.uuid4()), customer=customer, type=EventType.APP_OPEN,
                                occurred_at=at - dt.timedelta(minutes=5)))  # fmt: skip
        events.append(Event(event_id=str(uuid.uuid4()), customer=customer, item=sold_out, type=EventType.TRANSACTION,
                            amount="5.00", occurred_at=NOW - dt.timedelta(days=3 + n % 5)))  # fmt: skip
    # After the clock of the run: must be ignored.
    events.append(Event(event_id="future", customer=customers[0][0], item=items[-1], type=EventType.VIEW,
                        occurred_at=NOW + dt.timedelta(hours=1)))  # fmt: skip
    Event.objects.bulk_create(events)
    newcomer = Customer.objects.create(external_id="newcomer", timezone="Europe/Paris")
    return {"customers": customers, "categories": categories, "sold_out": sold_out, "newcomer": newcomer}


def run_train() -> ModelVersion:
    call_command("train", "--now", NOW.isoformat(), "--quiet", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return ModelVersion.objects.latest()


def test_train_stores_a_version_with_metrics_and_a_loadable_artifact(world, artifacts):
    version = run_train()
    assert version.status == ModelVersion.Status.SUCCEEDED and version.finished_at is not None
    assert version.data_until == NOW
    assert version.n_events == Event.objects.filter(occurred_at__lt=NOW).count()  # the future one ignored
    ndcg = version.metrics["recommender"]["ndcg@10"]
    assert {"optimus", "popularity", "item_knn"} <= set(ndcg)
    assert (artifacts / version.artifact).exists()
    models = load_artifact(version)
    assert models["version"] == version.pk and models["recommender"] is not None and models["timing"] is not None


def test_artifacts_of_two_databases_sharing_a_checkout_never_overwrite_each_other(db, artifacts):
    # Simulations side by side (bench/worlds.py) each have a version 1: each must load its own.
    version = ModelVersionFactory(started_at=NOW, data_until=NOW)
    ours = training.save_artifact(version, None, "our timing model")
    theirs = training.save_artifact(version, None, "another database's")  # the same pk elsewhere
    assert ours != theirs
    version.artifact = ours
    assert load_artifact(version)["timing"] == "our timing model"


def test_every_customer_gets_a_profile_with_items_from_their_taste_and_never_a_sold_out_item(world):
    version = run_train()
    profiles = {p.customer_id: p for p in CustomerProfile.objects.all()}
    assert len(profiles) == Customer.objects.count() == version.n_customers
    in_favourite = []
    for customer, favourite, _, _ in world["customers"]:
        top = profiles[customer.pk].top_items
        assert len(top) == training.TOP_ITEMS
        assert "sold-out" not in {entry["item_id"] for entry in top}
        scores = [entry["score"] for entry in top]
        assert scores == sorted(scores, reverse=True)
        assert {entry["reason"] for entry in top} <= {slug for _, slug, _ in training.REASONS} | {"trending"}
        in_favourite.append(np.mean([entry["item_id"].startswith(f"sku-{favourite}-") for entry in top[:5]]))
    # Popularity alone would give everyone the same mixed list (at most ~25% from one's category).
    assert np.mean(in_favourite) > 0.8
    newcomer = profiles[world["newcomer"].pk]
    assert len(newcomer.top_items) == training.TOP_ITEMS and newcomer.segment is None
    assert {entry["reason"] for entry in newcomer.top_items} == {"trending"}


def test_profiles_carry_rfm_segments_and_movement_between_runs(world):
    run_train()
    profile = CustomerProfile.objects.get(customer=world["customers"][0][0])
    assert profile.segment is not None and profile.previous_segment is None
    assert 1 <= profile.recency_score <= 5 and profile.frequency > 0 and profile.monetary > 0
    segment = profile.segment
    run_train()
    profile.refresh_from_db()
    assert profile.previous_segment == segment


def test_best_hours_follow_each_customers_local_habit(world):
    run_train()
    profiles = {p.customer_id: p for p in CustomerProfile.objects.all()}
    right = 0
    for customer, _, _, hour in world["customers"]:
        ranking = profiles[customer.pk].best_hours
        assert sorted(ranking) == list(range(168))
        right += ranking[0] % 24 in (hour - 1, hour)  # an event at h:10 is caught by a send at h or h - 1
    assert right / len(world["customers"]) > 0.8


def test_since_limits_the_data_and_bad_clocks_are_refused(world):
    call_command("train", "--now", NOW.isoformat(), "--since", "2026-05-01", "--quiet", stdout=open("/dev/null", "w"))  # noqa: SIM115
    version = ModelVersion.objects.latest()
    since = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    assert version.n_events == Event.objects.filter(occurred_at__lt=NOW, occurred_at__gte=since).count()
    with pytest.raises(CommandError, match="not a date"):
        call_command("train", "--now", "yesterday")
    with pytest.raises(CommandError, match="must be before"):
        call_command("train", "--now", "2026-01-01", "--since", "2026-02-01")


def test_a_failed_run_is_recorded_with_its_error(world, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(training, "fit_recommender", broken)
    with pytest.raises(RuntimeError):
        run_train()
    version = ModelVersion.objects.latest()
    assert version.status == ModelVersion.Status.FAILED and "disk full" in version.error


def test_empty_database_trains_without_error(db, artifacts):
    Customer.objects.create(external_id="alone")
    version = run_train()
    assert version.status == ModelVersion.Status.SUCCEEDED
    assert CustomerProfile.objects.get().top_items == []


def test_the_task_runs_one_training_at_a_time(world):
    cache.add(tasks.TRAIN_LOCK, "1", 60)
    try:
        assert tasks.train.apply(kwargs={"now": NOW.isoformat()}).get() is None
    finally:
        cache.delete(tasks.TRAIN_LOCK)
    version_id = tasks.train.apply(kwargs={"now": NOW.isoformat()}).get()
    assert ModelVersion.objects.get(pk=version_id).status == ModelVersion.Status.SUCCEEDED


def test_postage_on_every_invoice_is_never_recommended(world):
    # Issue 17, item 15: a line the shop marks as not a product is a strong purchase signal (it is on
    # every invoice) that must never come out as a recommendation, nor as a "bought with" neighbour.
    postage = Item.objects.create(external_id="postage", title="POSTAGE", price="3.00", recommendable=False)
    Event.objects.bulk_create(
        Event(event_id=str(uuid.uuid4()), customer=customer, item=postage, type=EventType.TRANSACTION,
              amount="3.00", occurred_at=NOW - dt.timedelta(days=1 + n % 20))
        for n, (customer, _, _, _) in enumerate(world["customers"])
    )  # fmt: skip
    run_train()
    for profile in CustomerProfile.objects.all():
        assert "postage" not in {entry["item_id"] for entry in profile.top_items}
    assert CustomerProfile.objects.filter(customer=world["newcomer"]).get().top_items  # cold start still gets items


# Erasure reaches the saved models --------------------------------------------------------------


def rows_of(version: ModelVersion, pk: int) -> dict[str, bool]:
    """Where the customer still has rows of their own in the version's file."""
    models = load_artifact(version)
    click = models["click"]
    return {
        "recommender": pk in set(models["recommender"].user_ids.tolist()),
        "click activity": pk in set(click.activity.customers.tolist()),
        "click profiles": pk in set(click.profiles.index.tolist()),
    }


@pytest.mark.django_db(transaction=True)
def test_an_erased_customer_is_removed_from_the_saved_models(world, artifacts):
    """Through the real path: the erasure commits, queues the clean-up on Redis, a real worker runs it."""
    from celery.contrib.testing.worker import start_worker

    from devices.services import customer_erase
    from optimus_site.celery import app
    from recommender.tasks import forget_in_models  # noqa: F401 (registers the task with the worker)

    version = run_train()
    erased, kept = world["customers"][0][0], world["customers"][1][0]
    assert all(rows_of(version, erased.pk).values()) and all(rows_of(version, kept.pk).values())
    before = load_artifact(version)["recommender"]
    old_file = artifacts / version.artifact

    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        assert customer_erase(external_id=erased.external_id)
        deadline = time.monotonic() + 30
        while training.ModelErasure.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    assert not training.ModelErasure.objects.exists(), "the clean-up did not run"

    version.refresh_from_db()
    assert not any(rows_of(version, erased.pk).values()), "the erased customer's rows are still in the model file"
    assert all(rows_of(version, kept.pk).values())
    assert not old_file.exists() and (artifacts / version.artifact).exists()
    # Everyone else is recommended exactly what they were before.
    after = load_artifact(version)["recommender"]
    others = np.array([c.pk for c, *_ in world["customers"][1:]])
    top_before, _ = before.recommend(before.user_positions(others), 5)
    top_after, _ = after.recommend(after.user_positions(others), 5)
    assert np.array_equal(top_before, top_after)


def test_a_customer_erased_while_the_run_reads_is_neither_profiled_nor_saved(world, artifacts, monkeypatch):
    erased = world["customers"][2][0]
    real_read = training.read_training_data

    def read_then_erase(**kwargs):
        data = real_read(**kwargs)
        Customer.objects.filter(pk=erased.pk).delete()  # the erasure commits while the run fits
        return data

    monkeypatch.setattr("campaigns.training.read_training_data", read_then_erase)
    version = run_train()
    assert version.status == ModelVersion.Status.SUCCEEDED
    assert CustomerProfile.objects.count() == N_CUSTOMERS  # everyone else (and the newcomer) has one
    assert not any(rows_of(version, erased.pk).values())


def test_only_the_newest_model_files_are_kept(world, artifacts, settings):
    settings.MODEL_ARTIFACTS_KEPT = 2
    versions = [run_train() for _ in range(3)]
    for version in versions:
        version.refresh_from_db()
    assert versions[0].artifact == "" and all(v.artifact for v in versions[1:])
    assert sorted(p.name for p in artifacts.glob("*.pkl")) == sorted(v.artifact for v in versions[1:])
