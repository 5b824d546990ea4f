"""Click model: the probability that a person opens a push of a given type sent at a given hour of the week
in their own time zone (0 = Monday 00:00 local).

Two layers:

- **the activity prior** — what we can say before any push was answered: a person opens when they are around.
  Their share of activity in each local hour of the week (days active in that hour, smoothed over
  neighbouring hours, partly pooled over the days of the week) is shrunk toward the population's share, with
  their own weight ``days / (days + prior_days)`` growing with their active days; the smoothing, pooling and
  shrinkage are chosen on the last two weeks of events (held-out likelihood). Then
  ``logit P = intercept + slope × log(168 × share) − fatigue × pushes in the last 7 days``, a base rate times
  a power of the relative activity: a new person gets the population's shape at the base rate.
- **the learned model** — once there are enough answered pushes, gradient-boosted trees or a random forest
  (whichever has the lower log loss on the most recent pushes; the prior competes too) over the activity
  features, recency, RFM scores, segment, platform, type, the person's recent pushes, opens and dismissals and
  the last device context, calibrated on held-out pushes (see ``Calibrated``).

Every training row sees only what was known when the push went out: notification history strictly before it,
the activity of the weeks before it (weekly snapshots, so the app opens a push itself caused never explain it)
and the RFM profile as of that week. Nothing here imports Django: pandas / numpy / scikit-learn in,
dataclasses out.

    activity       active hours, weekly snapshots, each person's shrunk share of activity per hour of the week
    push_history   earlier pushes, opens, dismissals and the last device context, as of any instant
    features       the feature names, categorical ones and monotone constraints
    prior          the activity prior (logistic in log relative activity and recent pushes)
    choice         the tree families and how candidates are scored (log loss, reliability table)
    calibration    from tree scores to probabilities on held-out pushes
    model          ClickModel: fit (choose among the prior and the families) and predict

Import the public names from here.
"""

from recommender.ml.click.activity import ActiveHours, ActivitySnapshot, Shares, fit_shares
from recommender.ml.click.calibration import CALIBRATIONS, Calibrated
from recommender.ml.click.choice import FAMILIES, rank_correlation, reliability_table, scores_of
from recommender.ml.click.features import FEATURES
from recommender.ml.click.model import ClickModel
from recommender.ml.click.prior import DEFAULT_BASE_RATE, ActivityPrior
from recommender.ml.click.push_history import CONTEXT_MAX_AGE_MS, PushHistory, push_history_features
from recommender.ml.clock import DAY_MS, HOUR_MS, local_hour_of_week

__all__ = [
    "CALIBRATIONS",
    "CONTEXT_MAX_AGE_MS",
    "DAY_MS",
    "DEFAULT_BASE_RATE",
    "FAMILIES",
    "FEATURES",
    "HOUR_MS",
    "ActiveHours",
    "ActivityPrior",
    "ActivitySnapshot",
    "Calibrated",
    "ClickModel",
    "PushHistory",
    "Shares",
    "fit_shares",
    "local_hour_of_week",
    "push_history_features",
    "rank_correlation",
    "reliability_table",
    "scores_of",
]
