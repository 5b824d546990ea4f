"""The click model's features: their names and order, which are categorical, and the monotone constraints."""

from __future__ import annotations

FEATURES = (
    "activity",  # log(168 × the person's shrunk share of activity in this hour): the prior's input
    "own_week",  # log(168 × their own smoothed share), the population's without history
    "own_day",  # log(24 × their own share of this hour of the day)
    "population",  # log(168 × the population's share)
    "active_days",  # log(1 + active days)
    "idle_days",  # log(1 + days since their last event)
    "hour",
    "weekday",
    "recency_score",
    "frequency_score",
    "monetary_score",
    "segment",
    "platform",
    "type",
    "sends_7d",  # pushes received in the 7 days before (fatigue)
    "sends_30d",
    "opens_30d",
    "dismissals_30d",
    "open_rate_30d",  # opens / pushes over 30 days, shrunk toward the base rate
    "hours_since_push",  # log(1 + hours)
    "hours_since_open",
    "battery",  # last device context reported within 7 days; -1 unknown
    "charging",
    "network",
    "app_state",
)
CATEGORICAL = ("segment", "platform", "type", "network", "app_state")
# More activity never lowers P(open), more recent pushes never raise it. Without the second constraint the
# trees learn "people who got many pushes open more" (caps are higher for engaged segments) and the planner
# would read that as "send more".
MONOTONE = {"activity": 1, "own_week": 1, "own_day": 1, "population": 1, "sends_7d": -1}
UNKNOWN = -1.0
ROW_FEATURES = ("activity", "own_week", "own_day", "population", "hour", "weekday", "type")  # vary by hour / type
HISTORY_FEATURES = (
    "sends_7d", "sends_30d", "opens_30d", "dismissals_30d", "open_rate_30d",
    "hours_since_push", "hours_since_open", "battery", "charging",
)  # fmt: skip
PERSON_FEATURES = tuple(name for name in FEATURES if name not in ROW_FEATURES)
PERSON_COLUMNS = [FEATURES.index(name) for name in PERSON_FEATURES]
