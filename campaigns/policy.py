"""The learned policy on the database: what the planner's own log says about how often and what to send.

Reads the automated notifications sent in the STATS_DAYS before `now` with what their phones reported
(opened, dismissed) and the opt-outs that followed them, and hands counts to the pure estimators of
``recommender.ml.bandits``: per segment × level (the n-th push of a person's 7 days) for the frequency and
the costs, per segment × type for the type. Every number comes from the run's own feedback; the seed's
weekly numbers and allowed types are only the priors.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db.models import Exists, OuterRef

from campaigns.models import Feedback, Notification, Owner, SegmentPolicy
from devices.models import Customer
from recommender.ml import bandits

STATS_DAYS = 28
OPT_OUT_WITHIN = dt.timedelta(days=7)  # an opt-out is blamed on the last push before it, if this recent
MAX_LEVEL = 50  # SegmentPolicy.weekly_ceiling's largest value


@dataclass(frozen=True)
class LoggedPush:
    customer_id: int
    segment_id: int | None
    type_id: int
    level: int  # the n-th counted push of the person's 7 days
    predicted_open: float | None
    opened: bool
    dismissed: bool
    opted_out: bool  # the person opted out after it, before another push, within OPT_OUT_WITHIN


def logged_pushes(*, since: dt.datetime, until: dt.datetime) -> list[LoggedPush]:
    """The automated pushes sent in [since, until) with what was reported about them before `until`."""
    reported = Feedback.objects.filter(notification=OuterRef("pk"), occurred_at__lt=until)
    rows = list(
        Notification.objects.filter(
            owner=Owner.AUTOMATION, status=Notification.Status.SENT, sent_at__gte=since, sent_at__lt=until
        )
        .annotate(
            opened=Exists(reported.filter(action=Feedback.Action.OPENED)),
            dismissed=Exists(reported.filter(action=Feedback.Action.DISMISSED)),
        )
        .order_by("sent_at", "pk")
        .values_list(
            "customer_id", "notification_type_id", "sent_at", "explanation", "predicted_open", "opened", "dismissed"
        )
    )
    by_customer: dict[int, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_customer[row[0]].append(index)
    blamed: set[int] = set()
    quitters = Customer.objects.filter(
        pk__in=list(by_customer), opted_out_at__gte=since, opted_out_at__lt=until
    ).values_list("pk", "opted_out_at")
    for customer_id, opted_out_at in quitters:
        before = [i for i in by_customer[customer_id] if rows[i][2] <= opted_out_at]
        if before and opted_out_at - rows[before[-1]][2] <= OPT_OUT_WITHIN:
            blamed.add(before[-1])
    pushes = []
    for index, (customer_id, type_id, _, explanation, predicted_open, opened, dismissed) in enumerate(rows):
        explanation = explanation or {}
        pushes.append(
            LoggedPush(
                customer_id=customer_id,
                segment_id=explanation.get("segment_id"),
                type_id=type_id,
                level=min(int(explanation.get("pushes_last_7_days") or 0) + 1, MAX_LEVEL),
                predicted_open=predicted_open,
                opened=bool(opened),
                dismissed=bool(dismissed),
                opted_out=index in blamed,
            )
        )
    return pushes


def cost_model_calibration(*, now: dt.datetime, holdout_days: int = 7) -> dict:
    """How well the learned P(dismiss) and opt-out hazard predicted the last `holdout_days`: both fitted on
    the log before them, scored on the pushes in them (log loss against the base rate, reliability)."""
    cutoff = now - dt.timedelta(days=holdout_days)
    log = PolicyLog.read(now=cutoff)
    held_out = logged_pushes(since=cutoff, until=now)
    p_dismiss, dismissed, hazard, opted_out = [], [], [], []
    for push in held_out:
        costs = log.costs(push.segment_id)
        p_open = push.predicted_open if push.predicted_open is not None else 0.05
        p_dismiss.append(costs.dismiss_if_unopened * (1 - p_open))
        dismissed.append(push.dismissed)
        hazard.append(costs.hazard(push.level))
        opted_out.append(push.opted_out)
    return {
        "dismiss": bandits.calibration(np.array(p_dismiss), np.array(dismissed)),
        "opt_out": bandits.calibration(np.array(hazard), np.array(opted_out)),
        "fitted_until": cutoff.isoformat(),
    }


def costs_from_settings() -> bandits.Costs:
    return bandits.Costs(dismiss=settings.PLAN_DISMISS_COST, reachable_weeks=settings.PLAN_REACHABLE_WEEKS)


@dataclass
class SegmentLog:
    """Counts per level (index 0 = the first push of a week) and per type id."""

    sends: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LEVEL))
    opens: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LEVEL))
    dismissals: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LEVEL))
    opt_outs: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LEVEL))
    type_sends: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    type_opens: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def stats(self) -> bandits.LevelStats:
        return bandits.LevelStats(self.sends, self.opens, self.dismissals, self.opt_outs)


class PolicyLog:
    """The run's own log, read once per planning pass."""

    def __init__(self, segments: dict[int | None, SegmentLog], fatigue_rate: float):
        self.segments = segments
        self.everyone = SegmentLog()
        for log in segments.values():
            for name in ("sends", "opens", "dismissals", "opt_outs"):
                setattr(self.everyone, name, getattr(self.everyone, name) + getattr(log, name))
        self.fatigue_rate = fatigue_rate
        self._costs: dict[int | None, bandits.SegmentCosts] = {}

    @classmethod
    def read(cls, *, now: dt.datetime) -> PolicyLog:
        pushes = logged_pushes(since=now - dt.timedelta(days=STATS_DAYS), until=now)
        segments: dict[int | None, SegmentLog] = defaultdict(SegmentLog)
        for push in pushes:
            log = segments[push.segment_id]
            log.sends[push.level - 1] += 1
            log.opens[push.level - 1] += push.opened
            log.dismissals[push.level - 1] += push.dismissed
            log.opt_outs[push.level - 1] += push.opted_out
            log.type_sends[push.type_id] += 1
            log.type_opens[push.type_id] += push.opened
        rate = bandits.fatigue_rate(
            np.array([p.customer_id for p in pushes]),
            np.array([p.level for p in pushes]),
            np.array([p.opened for p in pushes], dtype=bool),
        )
        return cls(dict(segments), rate)

    def segment(self, segment_id: int | None) -> SegmentLog:
        return self.segments.get(segment_id) or SegmentLog()

    def costs(self, segment_id: int | None) -> bandits.SegmentCosts:
        if segment_id not in self._costs:
            self._costs[segment_id] = bandits.segment_costs(
                self.segment(segment_id).stats(), self.everyone.stats(), fatigue_rate=self.fatigue_rate
            )
        return self._costs[segment_id]

    def logged_per_level(self, segment_id: int | None) -> np.ndarray:
        """Pushes seen at each level for the segment: its own, and half of everyone else's (other segments
        say something about a level too, less than the segment itself)."""
        own = self.segment(segment_id).sends
        return own + 0.5 * (self.everyone.sends - own)

    def type_arm_counts(self, segment_id: int | None, type_id: int) -> tuple[int, int]:
        log = self.segment(segment_id)
        return log.type_opens.get(type_id, 0), log.type_sends.get(type_id, 0)

    def type_prior(self, segment_id: int | None, type_id: int, default: float) -> float:
        """The open rate a type starts from in a segment: the type's across all segments, shrunk toward
        the segment's open rate (every allowed type starts equal before any data)."""
        opens = sum(log.type_opens.get(type_id, 0) for log in self.segments.values())
        sends = sum(log.type_sends.get(type_id, 0) for log in self.segments.values())
        return bandits.beta_mean(opens, sends, self.open_rate(segment_id, default), bandits.TYPE_PRIOR_PUSHES)

    def open_rate(self, segment_id: int | None, default: float) -> float:
        """The segment's open rate, shrunk toward everyone's, itself toward `default`."""
        everyone = bandits.beta_mean(self.everyone.opens.sum(), self.everyone.sends.sum(), default, 20.0)
        own = self.segment(segment_id)
        return bandits.beta_mean(own.opens.sum(), own.sends.sum(), everyone, 20.0)


def segment_frequency(log: PolicyLog, *, segment_id: int, start_level: int, ceiling: int, value: float = 1.0) -> dict:
    """The segment's learned weekly frequency for its average person (P(open) = the segment's open rate so
    far), next to the starting one, with the per-level evidence: what the admin shows."""
    p_open = log.open_rate(segment_id, default=0.05)
    costs = log.costs(segment_id)
    means, _ = bandits.level_utilities(
        p_open=p_open,
        level=1,
        value=value,
        costs=costs,
        settings=costs_from_settings(),
        start_level=start_level,
        logged=log.logged_per_level(segment_id),
        ceiling=max(ceiling, 1),
    )
    learned = bandits.learned_level(means) if ceiling > 0 else 0
    own = log.segment(segment_id)
    if own.sends.sum() == 0:
        why = "No automated push sent to this segment yet: the starting frequency holds."
    else:
        why = (
            f"{int(own.sends.sum())} pushes in the last {STATS_DAYS} days, {p_open:.1%} opened; "
            f"P(dismiss | not opened) {costs.dismiss_if_unopened:.0%}, fatigue {log.fatigue_rate:.2f} per push; "
        )
        if learned > start_level:
            why += f"the utility stays positive up to {learned} a week, above the starting {start_level}."
        elif learned < start_level:
            n = learned + 1
            why += f"push number {n} of a week is worth {means[n - 1]:+.3f} opens: below zero."
        else:
            why += "the starting frequency is still where the utility turns negative."
    return {"starting": start_level, "learned": learned, "ceiling": ceiling, "why": why}


def segment_frequencies(*, now: dt.datetime) -> dict[int, dict]:
    """segment id → `segment_frequency` of every active policy, from one read of the log."""
    log = PolicyLog.read(now=now)
    return {
        policy.segment_id: segment_frequency(
            log,
            segment_id=policy.segment_id,
            start_level=min(policy.weekly_cap, policy.weekly_ceiling),
            ceiling=policy.weekly_ceiling,
        )
        for policy in SegmentPolicy.objects.filter(is_active=True)
    }
