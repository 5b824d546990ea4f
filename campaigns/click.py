"""The click model on the database: reading pushes and what phones said about them, fitting during `train`,
and `OpenPredictor`, which the planner asks for P(open) of (customer, notification type, local hour of week).

The model itself is pure code in ``recommender.ml.click``; this module only moves data between it and the
database. It lives in campaigns, beside the notifications and feedback it learns from.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from django.db.models import Exists, OuterRef, Q, Value

from campaigns.models import Feedback, Notification
from recommender.ml.click import CONTEXT_MAX_AGE_MS, ActiveHours, ClickModel, PushHistory
from recommender.ml.clock import local_hour_of_week, local_offsets_ms
from recommender.ml.rfm import rfm_scores, rfm_values
from recommender.models import ModelVersion, Segment
from recommender.training import TrainingData, load_artifact

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_TYPE = "product-recommendation"  # the type profiles' predicted_open_rate is for (seeded, allowed widely)
LABEL_DAYS = 90  # pushes sent this far back are what the model learns from
HISTORY_DAYS = 30  # the longest look-back of any history feature (recent opens, dismissals, pushes)
ID_CHUNK = 2_000  # customer ids per IN (...) clause


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _stamps_ms(values) -> np.ndarray:
    import pandas as pd

    stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=True)
    return (stamps.astype("datetime64[ns, UTC]").dt.tz_localize(None).astype("int64") // 1_000_000).to_numpy()


# Reading ---------------------------------------------------------------------------------------------------------


def read_history(
    *, start: dt.datetime, end: dt.datetime, customers: np.ndarray | None = None, labels: bool = True
) -> PushHistory:
    """Pushes sent in [start, end) (with whether each was opened, if ``labels``) and what phones reported in that
    window, for all customers or only the given pks. Without labels (scoring as of ``end``) only what the
    features read is fetched: opens and dismissals, and device context of the last 7 days."""
    import pandas as pd

    sends = Notification.objects.filter(status=Notification.Status.SENT, sent_at__gte=start, sent_at__lt=end)
    if labels:
        # Opens reported after `end` did not exist yet at a replayed clock (`train --now` in the past).
        opened = Feedback.objects.filter(notification=OuterRef("pk"), action=Feedback.Action.OPENED)
        sends = sends.annotate(opened=Exists(opened.filter(occurred_at__lt=end)))
    else:
        sends = sends.annotate(opened=Value(False))
    reports = Feedback.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
    if not labels:
        context_since = end - dt.timedelta(milliseconds=CONTEXT_MAX_AGE_MS)
        answered = Q(action__in=[Feedback.Action.OPENED, Feedback.Action.DISMISSED])
        reports = reports.filter(answered | Q(occurred_at__gte=context_since))
    send_columns = ["customer", "type", "sent_at", "opened"]
    feedback_columns = ["customer", "action", "at", "battery", "charging", "network", "app_state"]
    send_rows, feedback_rows = [], []
    chunks = [None] if customers is None else _chunks(np.unique(np.asarray(customers, dtype=np.int64)))
    for chunk in chunks:
        chunk_sends, chunk_reports = sends, reports
        if chunk is not None:
            chunk_sends = sends.filter(customer_id__in=chunk)
            chunk_reports = reports.filter(notification__customer_id__in=chunk)
        send_rows += chunk_sends.values_list("customer_id", "notification_type__slug", "sent_at", "opened")
        feedback_rows += chunk_reports.values_list(
            "notification__customer_id", "action", "occurred_at", "battery", "charging", "network", "app_state"
        )
    sent = pd.DataFrame.from_records(send_rows, columns=send_columns)
    sent = pd.DataFrame(
        {
            "customer": sent["customer"].to_numpy(dtype=np.int64),
            "type": sent["type"].astype(object),
            "sent_ms": _stamps_ms(sent["sent_at"]) if len(sent) else np.zeros(0, np.int64),
            "opened": sent["opened"].astype(bool),
        }
    )
    reported = pd.DataFrame.from_records(feedback_rows, columns=feedback_columns)
    reported = pd.DataFrame(
        {
            "customer": reported["customer"].to_numpy(dtype=np.int64),
            "action": reported["action"].astype(object),
            "at_ms": _stamps_ms(reported["at"]) if len(reported) else np.zeros(0, np.int64),
            "battery": pd.to_numeric(reported["battery"], errors="coerce").astype(float),
            "charging": reported["charging"].map({True: 1.0, False: 0.0}).astype(float),
            "network": reported["network"].fillna("").astype(object),
            "app_state": reported["app_state"].fillna("").astype(object),
        }
    )
    return PushHistory(sends=sent.sort_values("sent_ms", kind="stable", ignore_index=True), feedback=reported)


def _chunks(values: np.ndarray):
    for start in range(0, len(values), ID_CHUNK):
        yield [int(v) for v in values[start : start + ID_CHUNK]]


def active_hours(data: TrainingData) -> ActiveHours:
    """Everyone's active local hours (each event in the customer's own zone, daylight saving included)."""
    activity = data.activity
    stamps = activity["timestamp"].to_numpy(dtype=np.int64)
    offsets = local_offsets_ms(stamps, activity["zone"].to_numpy())
    return ActiveHours.from_events(activity["customer"].to_numpy(dtype=np.int64), stamps, offsets)


def send_hours_of_week(history: PushHistory, zones: pd.Series) -> pd.DataFrame:
    """The pushes with the local hour of the week they went out at, in each customer's zone."""
    sends = history.sends.copy()
    zone = zones.reindex(sends["customer"]).fillna("UTC").to_numpy(dtype=object)
    stamps = sends["sent_ms"].to_numpy(dtype=np.int64)
    sends["hour_of_week"] = local_hour_of_week(stamps, local_offsets_ms(stamps, zone))
    return sends


# Fitting ----------------------------------------------------------------------------------------------------------


def fit_click_model(
    data: TrainingData,
    now: dt.datetime,
    *,
    rfm: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> ClickModel:
    """Fits the click model on the pushes of the last LABEL_DAYS (older feedback only feeds the features),
    with each push's RFM profile as of its week. ``rfm``: the run's RFM table (as of ``now``), if computed."""
    now_ms = _ms(now)
    since = now - dt.timedelta(days=LABEL_DAYS)
    history = read_history(start=since - dt.timedelta(days=HISTORY_DAYS), end=now)
    history = PushHistory(sends=send_hours_of_week(history, data.customers["timezone"]), feedback=history.feedback)
    return ClickModel.fit(
        active_hours(data),
        history,
        now_ms=now_ms,
        profiles=profiles_as_of(data, now, rfm),
        label_since_ms=_ms(since),
        progress=progress,
    )


def profiles_as_of(data: TrainingData, now: dt.datetime, rfm: pd.DataFrame | None) -> Callable[[int], pd.DataFrame]:
    """RFM scores, segment and platform per customer pk as of an instant: from the purchases before it, so a
    push is never explained by what its own open led to."""
    import pandas as pd

    rules = [
        (s.slug, s.recency_min, s.recency_max, s.frequency_min, s.frequency_max, s.monetary_min, s.monetary_max)
        for s in Segment.objects.order_by("priority")
    ]
    platform = data.customers["platform"]
    now_ms = _ms(now)

    def table(as_of_ms: int) -> pd.DataFrame:
        if as_of_ms >= now_ms and rfm is not None:
            scores = rfm
        else:
            as_of = dt.datetime.fromtimestamp(min(as_of_ms, now_ms) / 1000, tz=dt.UTC)
            purchases = data.purchases[data.purchases["at"] < min(as_of_ms, now_ms)]
            scores = rfm_scores(rfm_values(purchases, now=as_of), rules or None)
        out = pd.DataFrame(index=platform.index)
        for name in ("recency_score", "frequency_score", "monetary_score", "segment"):
            out[name] = scores[name].reindex(out.index) if name in scores else np.nan
        out["platform"] = platform
        return out

    return table


# Predicting -------------------------------------------------------------------------------------------------------


class OpenPredictor:
    """Calibrated P(open) from the latest successful training run's click model.

    ``OpenPredictor.latest()`` loads it once per process per model version (a new run is picked up on the next
    call); ``predict`` reads the customers' pushes and feedback of the last 30 days, so fatigue and recent opens
    are as of ``now``, not as of the training run.
    """

    _cache: dict[tuple[int, str] | None, OpenPredictor] = {}
    _lock = threading.Lock()

    def __init__(self, model: ClickModel, version_id: int | None = None):
        self.model = model
        self.version_id = version_id

    @classmethod
    def latest(cls) -> OpenPredictor:
        version = (
            ModelVersion.objects.filter(status=ModelVersion.Status.SUCCEEDED)
            .exclude(artifact="")
            .order_by("-started_at", "-pk")
            .only("pk", "artifact")
            .first()
        )
        # By file, not only by version: erasure rewrites a version's file under a new name, and the
        # copy in memory must not keep the erased customer's rows.
        key = (version.pk, version.artifact) if version else None
        cached = cls._cache.get(key)
        if cached is not None:
            return cached
        with cls._lock:
            if key not in cls._cache:
                # The older model is dropped.
                cls._cache = {key: cls(_load_model(version), version_id=version.pk if version else None)}
            return cls._cache[key]

    def predict(
        self,
        customer_pks: np.ndarray,
        type_slugs: np.ndarray | str,
        local_hours_of_week: np.ndarray,
        now: dt.datetime,
    ) -> np.ndarray:
        """P(open) for each (customer pk, type slug, local hour of the week: 0 = Monday 00:00) row, as of now.
        Arrays are aligned row by row; a single slug applies to every row."""
        pks = np.asarray(customer_pks, dtype=np.int64).ravel()
        if not len(pks):
            return np.zeros(0)
        history = read_history(start=now - dt.timedelta(days=HISTORY_DAYS), end=now, customers=pks, labels=False)
        return self.model.predict(pks, type_slugs, local_hours_of_week, now_ms=_ms(now), history=history)


def _load_model(version: ModelVersion | None) -> ClickModel:
    if version is None:
        return ClickModel.cold()
    try:
        model = load_artifact(version).get("click")
    except (OSError, EOFError, AttributeError, ImportError):
        # The planner must keep planning: a missing or unreadable file means the population prior, loudly.
        log.exception("click model of model version %s could not be loaded; using the population prior", version.pk)
        return ClickModel.cold()
    return model if model is not None else ClickModel.cold()


def open_rates(model: ClickModel, customer_pks: np.ndarray, hours_of_week: np.ndarray, now: dt.datetime):
    """P(open) of the default type at the given local hour (each customer's best), for the profiles."""
    return OpenPredictor(model).predict(customer_pks, DEFAULT_TYPE, hours_of_week, now)
