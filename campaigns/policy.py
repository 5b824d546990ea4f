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
        since = now - dt.timedelta(days=STATS_DAYS)
        opened = Feedback.objects.filter(notification=OuterRef("pk"), occurred_at__lt=now)
        rows = list(
            Notification.objects.filter(
                owner=Owner.AUTOMATION, status=Notification.Status.SENT, sent_at__gte=since, sent_at__lt=now
            )
            .annotate(
                opened=Exists(opened.filter(action=Feedback.Action.OPENED)),
                dismissed=Exists(opened.filter(action=Feedback.Action.DISMISSED)),
            )
            .values_list("customer_id", "notification_type_id", "sent_at", "explanation", "opened", "dismissed")
            .order_by("sent_at", "pk")
        )
        last_push: dict[int, list[tuple[dt.datetime, int | None, int]]] = defaultdict(list)
        segments: dict[int | None, SegmentLog] = defaultdict(SegmentLog)
        people, levels, opens = [], [], []
        for customer_id, type_id, sent_at, explanation, was_opened, was_dismissed in rows:
            explanation = explanation or {}
            segment_id = explanation.get("segment_id")
            level = min(int(explanation.get("pushes_last_7_days") or 0) + 1, MAX_LEVEL)
            log = segments[segment_id]
            log.sends[level - 1] += 1
            log.opens[level - 1] += was_opened
            log.dismissals[level - 1] += was_dismissed
            log.type_sends[type_id] += 1
            log.type_opens[type_id] += was_opened
            last_push[customer_id].append((sent_at, segment_id, level))
            people.append(customer_id)
            levels.append(level)
            opens.append(was_opened)
        quitters = Customer.objects.filter(
            pk__in=list(last_push), opted_out_at__gte=since, opted_out_at__lt=now
        ).values_list("pk", "opted_out_at")
        for customer_id, opted_out_at in quitters:
            before = [push for push in last_push[customer_id] if push[0] <= opted_out_at]
            if before and opted_out_at - before[-1][0] <= OPT_OUT_WITHIN:
                _, segment_id, level = before[-1]
                segments[segment_id].opt_outs[level - 1] += 1
        rate = bandits.fatigue_rate(np.array(people), np.array(levels), np.array(opens, dtype=bool))
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
        """Pushes seen at each level for the segment: its own, and a quarter of everyone else's (other
        segments say something about a level too, less than the segment itself)."""
        own = self.segment(segment_id).sends
        return own + 0.25 * (self.everyone.sends - own)

    def type_arm_counts(self, segment_id: int | None, type_id: int) -> tuple[int, int]:
        log = self.segment(segment_id)
        return log.type_opens.get(type_id, 0), log.type_sends.get(type_id, 0)

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
