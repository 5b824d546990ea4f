"""The train service: every model fitted from the database in one run, stored as one ModelVersion with
all its metrics (`manage.py train`, the `recommender.train` Celery task).

It lives in campaigns because one of the models, the click model (``campaigns.click``), learns from the
pushes and feedback that campaigns stores; the others (ranking, RFM segments, send-time model) and the
profiles are recommender's (``recommender.training``). Dependencies point one way: this module calls
recommender, recommender never calls back.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from campaigns.click import fit_click_model, open_rates
from campaigns.policy import cost_model_calibration
from recommender.ml.ranking import FitOptions
from recommender.models import ModelVersion
from recommender.training import (
    artifact_forget_erased,
    artifacts_prune,
    customer_rfm,
    fit_ranking_model,
    fit_send_time_model,
    read_training_data,
    save_artifact,
    write_profiles,
)

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    version: ModelVersion
    profiles: int
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)


def model_train(
    *,
    now: dt.datetime | None = None,
    since: dt.datetime | None = None,
    options: FitOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainingResult:
    """Fits every model on the events in [since, now), stores a ModelVersion (failed ones too, with
    the error) and every customer's profile. `now` is the run's clock (replays and simulations)."""
    now = now or timezone.now()
    say = progress or (lambda message: log.info("train: %s", message))
    started = time.perf_counter()
    steps: dict[str, float] = {}
    version = ModelVersion.objects.create(started_at=timezone.now(), data_until=now, data_since=since)

    def step(name: str, fn):
        t = time.perf_counter()
        say(name)
        out = fn()
        steps[name] = round(time.perf_counter() - t, 3)
        return out

    try:
        data = step("reading events", lambda: read_training_data(now=now, since=since))
        rfm = step("RFM segments", lambda: customer_rfm(data, now))
        fitted = None
        if len(data.events):
            fitted = step("recommender", lambda: fit_ranking_model(data, now, options=options, progress=say))
        timing = step("send-time model", lambda: fit_send_time_model(data, now))
        click = step("click model", lambda: fit_click_model(data, now, rfm=rfm, progress=say))
        # The planner fits its push costs on every pass; here they are checked on the last week.
        push_costs = step("push costs check", lambda: cost_model_calibration(now=now))
        artifact = step("saving the artifact", lambda: save_artifact(version, fitted, timing, click))
        profiles = step(
            "writing profiles",
            lambda: write_profiles(
                version,
                data,
                fitted,
                timing,
                rfm,
                now,
                open_rates=lambda pks, hours_of_week: open_rates(click, pks, hours_of_week, now),
            ),
        )
    except Exception:
        version.status = ModelVersion.Status.FAILED
        version.error = traceback.format_exc()
        version.finished_at = timezone.now()
        version.save(update_fields=["status", "error", "finished_at"])
        raise
    version.status = ModelVersion.Status.SUCCEEDED
    version.finished_at = timezone.now()
    version.artifact = artifact
    version.n_customers = profiles
    version.n_items = len(data.catalog.item)
    version.n_events = len(data.activity)
    version.params = {
        "recommender": fitted.params if fitted else {},
        "timing": {"policy": timing.policy},
        "click": click.params,
    }
    version.metrics = {
        "recommender": fitted.validation if fitted else {},
        "timing": timing.validation,
        "click": click.metrics,
        "push_costs": push_costs,
        "steps_s": steps,
        "fit_s": fitted.timings if fitted else {},
    }
    version.save()
    # Someone erased while the run read and fitted: not in this run's file either. Then only the
    # newest files are kept, so no old one keeps anyone's data for ever.
    artifact_forget_erased(version.pk)
    artifacts_prune(keep=settings.MODEL_ARTIFACTS_KEPT)
    seconds = time.perf_counter() - started
    say(f"done: model version {version.pk}, {profiles} profiles in {seconds:.1f} s")
    return TrainingResult(version=version, profiles=profiles, seconds=seconds, steps=steps)
