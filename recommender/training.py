"""What recommender learns in a training run, on the database: reading events, catalog and customers,
fitting the ranking model, RFM segments and the send-time model, saving the artifact and writing every
customer's profile. ``campaigns.training.model_train`` runs these steps, with the click model (which
learns from campaigns' pushes and feedback) in between, as one ModelVersion (`manage.py train`, the
`recommender.train` Celery task).

    events, catalog, customers (DB) ──► recommender (LightFM + item correlation + history + trend)
                                   ──► RFM scores and segments
                                   ──► send-time model (hours of the week, local time)
          (campaigns.click)        ──► click model (P(open) by type and local hour, from pushes' feedback)
                                   ──► artifact file (all models of the run)
                                   ──► CustomerProfile per customer (segment, top items, best hours)

The fitting itself is pure code in ``recommender.ml``; this module only moves data between it and
the database. Customers and items are identified by primary key inside the models and by their
external ids in what is written out (``top_items``), which is what the app and the payload use.

Scoring writes profiles block by block (``iter_recommend``), so memory stays bounded however many
customers there are; a customer the fit does not know (no usable events) gets the trend-based list.
"""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from devices.models import Customer, Device
from recommender.ml.click import ClickModel
from recommender.ml.clock import DAY_MS, HOURS_PER_WEEK, local_offsets_ms
from recommender.ml.data import ItemCatalog, events_frame
from recommender.ml.ranking import FitOptions, FittedRecommender, fit_recommender
from recommender.ml.rfm import rfm_scores, rfm_values
from recommender.ml.timing import Targets, TimingModel, UserDays, dow_of_day, fit_timing_model
from recommender.models import (
    Category,
    CustomerProfile,
    Event,
    EventType,
    Item,
    ModelErasure,
    ModelVersion,
    Segment,
)
from recommender.reasons import REASONS, TRENDING, reason_label  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

TOP_ITEMS = 20  # stored per customer; a notification shows a few of them
PROFILE_BATCH = 2000  # profiles written per statement
TIMING_BLOCK = 2_000  # customers scored for send hours at a time (features are 7 × 24 × F per customer)
READ_CHUNK = 50_000


@dataclass
class TrainingData:
    events: pd.DataFrame  # the interaction frame (recommender.ml.data layout), item events only
    activity: pd.DataFrame  # customer, timestamp (ms), zone: every event, app opens included (timing)
    purchases: pd.DataFrame  # customer, at, event, transactionid, amount: for RFM
    catalog: ItemCatalog
    customers: pd.DataFrame  # index pk: external_id, timezone, locale, platform


# Reading ---------------------------------------------------------------------------------------


def read_training_data(*, now: dt.datetime, since: dt.datetime | None) -> TrainingData:
    customers = customer_frame()
    events = Event.objects.filter(occurred_at__lt=now)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    columns = ["customer", "item", "type", "occurred_at", "amount", "transaction_id"]
    rows = events.values_list("customer_id", "item_id", "type", "occurred_at", "amount", "transaction_id")
    chunks, buffer = [], []
    for row in rows.iterator(chunk_size=READ_CHUNK):
        buffer.append(row)
        if len(buffer) == READ_CHUNK:
            chunks.append(pd.DataFrame.from_records(buffer, columns=columns))
            buffer = []
    chunks.append(pd.DataFrame.from_records(buffer, columns=columns))
    raw = pd.concat(chunks, ignore_index=True)
    timestamps = (
        pd.to_datetime(raw["occurred_at"], utc=True).astype("datetime64[ns, UTC]").dt.tz_localize(None).astype("int64")
        // 1_000_000
    ).to_numpy(dtype=np.int64)
    raw["timestamp"] = timestamps
    amount = pd.to_numeric(raw["amount"].astype(float), errors="coerce")
    with_item = raw["item"].notna().to_numpy()
    interactions = events_frame(
        customer=raw["customer"][with_item],
        item=raw["item"][with_item].astype("int64"),
        event_type=raw["type"][with_item],
        timestamp=raw["timestamp"][with_item],
        amount=amount[with_item],
    )
    zones = customers["timezone"].reindex(raw["customer"]).fillna("UTC").to_numpy(dtype=object)
    activity = pd.DataFrame({"customer": raw["customer"], "timestamp": raw["timestamp"], "zone": zones})
    bought = (raw["type"] == EventType.TRANSACTION).to_numpy()
    purchases = pd.DataFrame(
        {
            "customer": raw["customer"],
            "at": raw["timestamp"],
            "event": np.where(bought, "transaction", "view"),
            "transactionid": raw["transaction_id"].replace("", None),
            "amount": amount,
        }
    )
    return TrainingData(
        events=interactions, activity=activity, purchases=purchases, catalog=item_catalog(), customers=customers
    )


def customer_frame() -> pd.DataFrame:
    rows = Customer.objects.values_list("pk", "external_id", "timezone", "locale")
    frame = pd.DataFrame.from_records(list(rows), columns=["pk", "external_id", "timezone", "locale"]).set_index("pk")
    platforms = dict(Device.objects.order_by("updated_at").values_list("customer_id", "platform"))
    frame["platform"] = pd.Series(platforms, dtype=object).reindex(frame.index)
    return frame


def item_catalog() -> ItemCatalog:
    items = pd.DataFrame.from_records(
        list(Item.objects.values_list("pk", "category_id", "price", "available", "recommendable")),
        columns=["item", "category", "price", "available", "recommendable"],
    )
    # The model's "available" is "may be recommended": postage and fees stay in the purchase data
    # (they tell who buys) but never come out as a recommendation.
    items["available"] = items["available"].astype(bool) & items.pop("recommendable").astype(bool)
    items["price"] = pd.to_numeric(items["price"].astype(float), errors="coerce")
    parents = dict(Category.objects.filter(parent__isnull=False).values_list("pk", "parent_id"))
    return ItemCatalog.from_frame(items, parents=parents)


def user_features(events: pd.DataFrame, data: TrainingData, now: dt.datetime) -> pd.DataFrame:
    """LightFM user side features: RFM cell as of the events given (so the validation fit never sees
    its own future), platform, locale and time zone region."""
    as_of = dt.datetime.fromtimestamp((int(events["timestamp"].max()) + 1) / 1000, tz=dt.UTC)
    purchases = data.purchases[data.purchases["at"] < int(as_of.timestamp() * 1000)]
    scores = rfm_scores(rfm_values(purchases, now=as_of))
    frames = [
        pd.DataFrame({"customer": scores.index, "feature": "r:" + scores["recency_score"].astype(str)}),
        pd.DataFrame({"customer": scores.index, "feature": "f:" + scores["frequency_score"].astype(str)}),
        pd.DataFrame({"customer": scores.index, "feature": "m:" + scores["monetary_score"].astype(str)}),
    ]
    customers = data.customers
    for column, prefix in (("platform", "platform:"), ("locale", "locale:")):
        known = customers[column].fillna("").astype(str)
        known = known[known != ""]
        frames.append(pd.DataFrame({"customer": known.index, "feature": prefix + known.to_numpy()}))
    region = customers["timezone"].fillna("").astype(str).str.split("/").str[0]
    region = region[region != ""]
    frames.append(pd.DataFrame({"customer": region.index, "feature": "region:" + region.to_numpy()}))
    return pd.concat(frames, ignore_index=True)


# Fitting ---------------------------------------------------------------------------------------


def fit_ranking_model(
    data: TrainingData,
    now: dt.datetime,
    *,
    options: FitOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> FittedRecommender:
    """The ranking model (LightFM + item correlation + history + trend) on the run's item events, with
    each customer's RFM cell, platform, locale and region as user side features."""
    return fit_recommender(
        data.events,
        catalog=data.catalog,
        user_features=lambda events: user_features(events, data, now),
        now_ms=int(now.timestamp() * 1000),
        options=options,
        progress=progress,
    )


def customer_rfm(data: TrainingData, now: dt.datetime) -> pd.DataFrame:
    """RFM values, scores and segment slug per customer pk (customers with at least one event)."""
    rules = [
        (s.slug, s.recency_min, s.recency_max, s.frequency_min, s.frequency_max, s.monetary_min, s.monetary_max)
        for s in Segment.objects.order_by("priority")
    ]
    return rfm_scores(rfm_values(data.purchases, now=now), rules or None)


def fit_send_time_model(data: TrainingData, now: dt.datetime) -> TimingModel:
    history = local_history(data)
    return fit_timing_model(history, as_of_day=utc_day(now) + 1, horizon_days=7)


def local_history(data: TrainingData) -> UserDays:
    activity = data.activity
    offsets = local_offsets_ms(activity["timestamp"].to_numpy(), activity["zone"].to_numpy())
    return UserDays.from_events(activity["customer"].to_numpy(), activity["timestamp"].to_numpy(), offsets)


def utc_day(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000) // DAY_MS


def save_artifact(
    version: ModelVersion, fitted: FittedRecommender | None, timing: TimingModel, click: ClickModel | None = None
) -> str:
    """Pickles the fitted models next to the others; returns the path relative to MODEL_ARTIFACT_DIR."""
    directory = settings.MODEL_ARTIFACT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    # The pk alone is not unique across databases: two of them (simulations side by side, a test
    # database and the demo's) sharing one checkout would overwrite, and then load, each other's.
    name = f"model-{version.pk}-{uuid.uuid4().hex[:12]}.pkl"
    temporary = directory / f".{name}.partial"
    with temporary.open("wb") as f:
        pickle.dump({"version": version.pk, "recommender": fitted, "timing": timing, "click": click}, f, protocol=5)
    temporary.replace(directory / name)  # atomic: a reader never sees half a file
    return name


def load_artifact(version: ModelVersion) -> dict:
    with (settings.MODEL_ARTIFACT_DIR / version.artifact).open("rb") as f:
        return pickle.load(f)  # noqa: S301 (our own file, written by save_artifact)


# Erasure: the saved models hold rows of their own for each customer (their history, LightFM vector,
# hours of activity, RFM as of the fit). An erased customer's rows are removed from every saved file.


def artifact_customers(models: dict) -> np.ndarray:
    """Every customer pk with rows of their own in a loaded artifact."""
    ids = [np.zeros(0, dtype=np.int64)]
    if models.get("recommender") is not None:
        ids.append(np.asarray(models["recommender"].user_ids, dtype=np.int64))
    if models.get("click") is not None:
        ids.append(models["click"].customers())
    return np.unique(np.concatenate(ids))


def existing_customers(pks: np.ndarray) -> np.ndarray:
    found: list[int] = []
    for start in range(0, len(pks), 10_000):
        chunk = pks[start : start + 10_000].tolist()
        found += Customer.objects.filter(pk__in=chunk).values_list("pk", flat=True)
    return np.asarray(found, dtype=np.int64)


def artifact_forget_erased(version_pk: int) -> int:
    """Rewrites the version's artifact without the customers no longer in the database (erased after
    the fit, or during it). Returns how many were removed; 0 leaves the file as it was.

    The version's row is locked while the file is rewritten, so two clean-ups (or one and the end of
    a training run) never write over each other's result. The new file gets a new name: a process that
    cached the old model by name reloads it."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().filter(pk=version_pk).exclude(artifact="").first()
        if version is None:
            return 0
        try:
            models = load_artifact(version)
        except FileNotFoundError:
            return 0
        held = artifact_customers(models)
        gone = np.setdiff1d(held, existing_customers(held))
        if not len(gone):
            return 0
        fitted = models.get("recommender")
        click = models.get("click")
        old = settings.MODEL_ARTIFACT_DIR / version.artifact
        version.artifact = save_artifact(
            version,
            None if fitted is None else fitted.without_users(gone),
            models.get("timing"),
            None if click is None else click.without_customers(gone),
        )
        version.save(update_fields=["artifact"])
        transaction.on_commit(lambda: old.unlink(missing_ok=True))
    log.info("model version %s: removed %d erased customers from its artifact", version_pk, len(gone))
    return len(gone)


def artifacts_forget_erased() -> int:
    """Removes erased customers from every saved artifact; clears the erasures it has dealt with.
    Cheap when none are pending (a burst of erasures queues many runs; the first does the work)."""
    pending = list(ModelErasure.objects.values_list("customer_pk", flat=True))
    if not pending:
        return 0
    versions = ModelVersion.objects.exclude(artifact="").values_list("pk", flat=True)
    removed = sum(artifact_forget_erased(pk) for pk in versions)
    ModelErasure.objects.filter(customer_pk__in=pending).delete()
    return removed


def artifacts_prune(*, keep: int) -> int:
    """Deletes the files of all but the newest ``keep`` succeeded runs (only the newest is used; the
    others would keep old data, erased people's included, on disk for ever). Returns files deleted."""
    versions = ModelVersion.objects.exclude(artifact="").order_by("-started_at", "-pk")
    deleted = 0
    for version in versions[keep:]:
        (settings.MODEL_ARTIFACT_DIR / version.artifact).unlink(missing_ok=True)
        version.artifact = ""
        version.save(update_fields=["artifact"])
        deleted += 1
    return deleted


# Writing profiles ------------------------------------------------------------------------------


def write_profiles(
    version: ModelVersion,
    data: TrainingData,
    fitted: FittedRecommender | None,
    timing: TimingModel,
    rfm: pd.DataFrame,
    now: dt.datetime,
    open_rates: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> int:
    """One CustomerProfile per customer: RFM and segment, top items with reasons, best hours and P(open) at the
    best one. ``open_rates(customer pks, local hours of the week)`` gives that P(open) (the click model's,
    passed in by the caller: it learns from campaigns' tables); without it, none is stored."""
    customers = data.customers
    pks = customers.index.to_numpy(dtype=np.int64)
    if not len(pks):
        return 0
    segments = dict(Segment.objects.values_list("slug", "pk"))
    previous = dict(CustomerProfile.objects.values_list("customer_id", "segment_id"))
    item_external = dict(Item.objects.values_list("pk", "external_id"))
    available = data.catalog.aligned(fitted.item_ids).available if fitted else None
    history = local_history(data)
    computed_at = timezone.now()
    written = 0
    for start, top, scores, reasons in top_items_by_block(fitted, data.events, pks, available):
        hours = best_hours(history, timing, now, pks[start : start + len(top)])
        rates = open_rates(pks[start : start + len(top)], hours[:, 0]) if open_rates is not None else None
        batch = []
        for offset in range(len(top)):
            pk = int(pks[start + offset])
            row = rfm.loc[pk] if pk in rfm.index else None
            segment = segments.get(row["segment"]) if row is not None and "segment" in row else None
            batch.append(
                CustomerProfile(
                    customer_id=pk,
                    model_version=version,
                    recency_days=None if row is None else round(float(row["recency_days"]), 3),
                    frequency=0 if row is None else int(row["frequency"]),
                    monetary=0 if row is None else round(float(row["monetary"]), 2),
                    recency_score=None if row is None else int(row["recency_score"]),
                    frequency_score=None if row is None else int(row["frequency_score"]),
                    monetary_score=None if row is None else int(row["monetary_score"]),
                    segment_id=segment,
                    previous_segment_id=previous.get(pk),
                    top_items=[
                        {"item_id": item_external[int(i)], "score": round(float(s), 5), "reason": r}
                        for i, s, r in zip(top[offset], scores[offset], reasons[offset], strict=True)
                        if i >= 0 and int(i) in item_external
                    ],
                    best_hours=hours[offset].tolist(),
                    predicted_open_rate=None if rates is None else round(float(rates[offset]), 5),
                    computed_at=computed_at,
                )
            )
        save_profiles(batch)
        written += len(batch)
    return written


def save_profiles(batch: list[CustomerProfile]) -> None:
    fields = [
        "model_version", "recency_days", "frequency", "monetary", "recency_score", "frequency_score",
        "monetary_score", "segment", "previous_segment", "top_items", "best_hours", "predicted_open_rate",
        "computed_at",
    ]  # fmt: skip
    # MySQL's ON DUPLICATE KEY UPDATE takes no conflict target; PostgreSQL and SQLite need one.
    target = ["customer"] if connection.features.supports_update_conflicts_with_target else None

    def upsert(rows: list[CustomerProfile]) -> None:
        with transaction.atomic():
            CustomerProfile.objects.bulk_create(rows, update_conflicts=True, unique_fields=target, update_fields=fields)

    for start in range(0, len(batch), PROFILE_BATCH):
        chunk = batch[start : start + PROFILE_BATCH]
        try:
            upsert(chunk)
        except IntegrityError:
            # A customer erased since the run read its data: their profile is not written (the
            # erasure wins), everyone else's is.
            alive = set(existing_customers(np.array([p.customer_id for p in chunk], dtype=np.int64)).tolist())
            upsert([p for p in chunk if p.customer_id in alive])


def top_items_by_block(
    fitted: FittedRecommender | None, events: pd.DataFrame, pks: np.ndarray, available: np.ndarray | None
):
    """Yields (offset, item pks, scores, reason slugs) for blocks of customers, best first."""
    if fitted is None:
        empty = np.full((len(pks), 0), -1)
        yield 0, empty, empty.astype(float), np.empty((len(pks), 0), dtype=object)
        return
    positions = fitted.user_positions(pks)
    flags = history_flags(fitted, events)
    for start, idx, val in fitted.iter_recommend(positions, TOP_ITEMS, available=available):
        item_pks = np.where(idx >= 0, fitted.item_ids[np.maximum(idx, 0)], -1)
        yield start, item_pks, val, item_reasons(fitted, flags, positions[start : start + len(idx)], idx)


def item_reasons(fitted: FittedRecommender, flags: dict[str, sp.csr_matrix], users: np.ndarray, idx: np.ndarray):
    """The reason slug of each recommended item (see REASONS): the person's own history first."""
    out = np.full(idx.shape, TRENDING[0], dtype=object)
    decided = idx < 0
    rows = np.repeat(users, idx.shape[1]).reshape(idx.shape)
    warm = (rows >= 0) & ~decided
    weights = fitted.model_weights("optimus", exclude_seen=False)
    similar = None
    if fitted.knn is not None and weights.get("knn"):
        similar = (fitted.profile[np.maximum(users, 0)] @ fitted.knn.similarity).tocsr()
    for source, slug, _ in REASONS:
        value = np.zeros(idx.shape, dtype=np.float32)
        if source in flags:
            value[warm] = np.asarray(flags[source][rows[warm], idx[warm]]).ravel()
        elif source == "knn" and similar is not None:
            value[warm] = np.asarray(similar[np.nonzero(warm)[0], idx[warm]]).ravel()
        elif source == "lightfm" and fitted.lightfm is not None and weights.get("lightfm"):
            value[warm] = 1.0
        hit = ~decided & (value > 0)
        out[hit] = slug
        decided |= hit
    return out


def history_flags(fitted: FittedRecommender, events: pd.DataFrame) -> dict[str, sp.csr_matrix]:
    """Users × items 0/1 matrices, in the fit's positions: carted and not bought, bought, any event."""
    users = fitted.user_positions(events["customer"].to_numpy())
    items = pd.Index(fitted.item_ids).get_indexer(events["item"].to_numpy())
    known = (users >= 0) & (items >= 0)
    shape = (fitted.n_users, fitted.n_items)

    def matrix(mask: np.ndarray) -> sp.csr_matrix:
        mask = mask & known
        out = sp.csr_matrix((np.ones(int(mask.sum()), np.float32), (users[mask], items[mask])), shape=shape)
        out.sum_duplicates()
        out.data[:] = 1.0
        return out

    event_type = events["type"].to_numpy()
    bought = matrix(event_type == "transaction")
    carted = matrix(event_type == "addtocart")
    return {
        "open_cart": carted - carted.multiply(bought),
        "bought": bought,
        "any": matrix(np.ones(len(events), dtype=bool)),
    }


def best_hours(history: UserDays, timing: TimingModel, now: dt.datetime, pks: np.ndarray) -> np.ndarray:
    """Every hour of the week (local, 0 = Monday 00:00), best first: one row of HOURS_PER_WEEK per customer pk."""
    tomorrow = utc_day(now) + 1
    days = np.arange(tomorrow, tomorrow + 7)
    dows = dow_of_day(days)
    out = np.empty((len(pks), HOURS_PER_WEEK), dtype=np.int64)
    for start in range(0, len(pks), TIMING_BLOCK):
        block = pks[start : start + TIMING_BLOCK]
        targets = Targets(user=np.repeat(block, 7), day=np.tile(days, len(block)))
        scores = timing.scores(history, targets, as_of_day=tomorrow).reshape(len(block), 7, 24)
        week = np.empty((len(block), HOURS_PER_WEEK), dtype=np.float64)
        for d, dow in enumerate(dows):
            week[:, dow * 24 : dow * 24 + 24] = scores[:, d, :]
        # Stable sort on -score: ties keep the earlier hour of the week first.
        out[start : start + len(block)] = np.argsort(-week, axis=1, kind="stable")
    return out
