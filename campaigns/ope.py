"""Off-policy evaluation on the database: what another policy would have achieved, from the planner's own log.

The log is the automated notifications sent in a period, each with the probability of every stochastic
choice behind it (`Notification.propensities`: the week's frequency level, the type bandit, the hour) and
the context the planner stored for this purpose (`explanation["ope"]`: its exploration rate, how many
hours it chose among, whether it took the best, what the greedy type would have been). The outcomes are
what the phones reported (opened, dismissed) and the opt-outs blamed on a push as the policy itself
blames them (campaigns.policy.logged_pushes). A candidate policy says, for each logged decision, how
likely it was to take that same action; the pure estimators of recommender.ml.ope do the rest.

What the log cannot show. A decision not to send is not stored as a row. For opens, dismissals and
sends that costs nothing: a no-send has reward 0, so Σ w·r over the logged sends is still an unbiased
total of what the candidate would have got (IPS, DR below). Two consequences:

- SNIPS normalises by Σ w over the *sends*, so it estimates a rate per send of the candidate (opens per
  send, dismissals per send, opt-outs per send), not a total; it is reported that way.
- A candidate that would send where the logger never could (above the weekly ceiling, on a day the
  utility was below the threshold, a day kept free by pacing) has no row there at all: those sends are
  missing from every estimate, and `support` (the share of logged sends the candidate would also have
  made) cannot see them. Blast-like is mostly such sends: its numbers are lower bounds.
- Opt-outs count only those blamed on a push (the last one within 7 days before the opt-out). Every push
  is scored as if the rest of the week were unchanged: a candidate that sends less also annoys less
  and fatigues less, which lifts its later opens — per-decision weights do not see that.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from campaigns.models import Notification, Owner
from campaigns.policy import logged_pushes
from recommender.ml import ope

OUTCOMES = ("opens", "dismissals", "opt_outs", "sends")
METHODS = ("ips", "snips", "dr")
DEFAULT_OPEN_RATE = 0.05
BLAST_LOCAL_HOUR = 10  # as simulation.simulator's blast


@dataclass(frozen=True)
class LoggedDecision:
    """One automated push that was sent, with its propensities, the planner's context and its outcomes."""

    notification_id: int
    segment_id: int | None
    type_slug: str
    local_hour: int | None
    level: int  # the n-th push of the person's 7 days
    learned_level: int  # the week's level at the learned means (what the greedy policy would send up to)
    starting_level: int  # the seed's weekly number for the segment
    p_hour: float
    p_type: float
    p_frequency: float  # P(the week's level reaches this push's): the stored propensities["frequency"]
    p_send: float  # P(this push is sent): the level reaches both it and what pacing needs
    pace_level: int  # the least weekly level at which pacing let this push through
    exploration: float  # the logger's PLAN_EXPLORATION
    hours: int  # the allowed hours the slot was chosen among
    best_hour: bool
    greedy_type: str
    utility: dict  # the push's utility and its terms, as stored (campaigns.planner)
    dismiss_cost: float  # the logger's PLAN_DISMISS_COST
    predicted_open: float | None
    opened: bool
    dismissed: bool
    opted_out: bool

    @property
    def logged_p(self) -> float:
        return self.p_hour * self.p_type * self.p_send

    def sent_at_level(self, weekly_level: int) -> float:
        """1 if a policy sending `weekly_level` pushes a week (paced as the planner paces) sends this one."""
        return float(max(self.level, self.pace_level) <= weekly_level)


@dataclass(frozen=True)
class Choice:
    """A candidate's probability of the logged action, per choice (the frequency kept apart for DR)."""

    frequency: float
    type: float
    hour: float

    @property
    def joint(self) -> float:
        return self.frequency * self.type * self.hour


def read_log(*, since: dt.datetime, until: dt.datetime) -> tuple[list[LoggedDecision], int]:
    """The evaluable decisions sent in [since, until), and how many sent ones lacked what evaluation needs
    (logged before the planner stored it, or without propensities)."""
    outcomes = logged_pushes(since=since, until=until)
    # Same filter and order as logged_pushes: row i here is push i there.
    rows = list(
        Notification.objects.filter(
            owner=Owner.AUTOMATION, status=Notification.Status.SENT, sent_at__gte=since, sent_at__lt=until
        )
        .order_by("sent_at", "pk")
        .values_list("pk", "notification_type__slug", "predicted_open", "propensities", "explanation")
    )
    if len(rows) != len(outcomes):  # a push sent between the two queries: read again
        return read_log(since=since, until=until)
    decisions, left_out = [], 0
    for (pk, slug, predicted_open, propensities, explanation), push in zip(rows, outcomes, strict=True):
        explanation, propensities = explanation or {}, propensities or {}
        context = explanation.get("ope")
        frequency = explanation.get("frequency") or {}
        # Older rows have no pacing-aware send probability: the level's is then the best there is.
        p_send = float(context.get("send", propensities.get("frequency") or 0.0)) if context else 0.0
        if not context or not p_send or not propensities.get("hour"):
            left_out += 1  # logged before the planner stored them (or a propensity rounded to 0)
            continue
        local_time = explanation.get("local_time") or ""
        decisions.append(
            LoggedDecision(
                notification_id=pk,
                segment_id=push.segment_id,
                type_slug=slug,
                local_hour=int(local_time[-5:-3]) if len(local_time) >= 5 else None,
                level=push.level,
                learned_level=int(frequency.get("learned_level", push.level)),
                starting_level=int(frequency.get("starting_level", 0)),
                p_hour=float(propensities["hour"]),
                p_type=float(propensities.get("type", 1.0)) or 1.0,
                p_frequency=float(propensities["frequency"]),
                p_send=p_send,
                pace_level=int(context.get("pace_level", 1)),
                exploration=float(context["exploration"]),
                hours=int(context["hours"]),
                best_hour=bool(context["best_hour"]),
                greedy_type=context.get("greedy_type") or slug,
                utility=explanation.get("utility") or {},
                dismiss_cost=float(context.get("dismiss_cost", settings.PLAN_DISMISS_COST)),
                predicted_open=predicted_open,
                opened=push.opened,
                dismissed=push.dismissed,
                opted_out=push.opted_out,
            )
        )
    return decisions, left_out


# Candidates -----------------------------------------------------------------------------------------------


def hour_probability(d: LoggedDecision, exploration: float) -> float:
    """P(the logged hour) under uniform hour exploration at rate `exploration` (campaigns.planner.choose_slot:
    the draw may land on the best hour too)."""
    if d.hours <= 1:
        return 1.0
    share = exploration / d.hours
    return share + (1 - exploration) if d.best_hour else share


def greedy_type_probability(d: LoggedDecision) -> float:
    return 1.0 if d.type_slug == d.greedy_type else 0.0


class Candidate:
    """A policy to evaluate: `choice(d)` is its probability of decision d's logged action."""

    name = ""
    description = ""

    def choice(self, d: LoggedDecision) -> Choice:
        raise NotImplementedError


class Logged(Candidate):
    name = "logged"
    description = "the logging policy itself (a sanity check: every weight is 1)"

    def choice(self, d):
        return Choice(d.p_send, d.p_type, d.p_hour)


class Exploration(Candidate):
    """Today's policy at another PLAN_EXPLORATION: the hour explored at `rate`; at 0 the type and the weekly
    level are greedy too (the planner explores all three only when the rate is above 0)."""

    def __init__(self, rate: float):
        if not 0.0 <= rate <= 1.0:
            raise ValueError("exploration must be between 0 and 1")
        self.rate = rate
        self.name = f"exploration={rate:g}"
        self.description = f"hour exploration {rate:.0%}" + (
            "; greedy type and weekly level (no exploration at all)" if rate == 0 else ""
        )

    def choice(self, d):
        if self.rate == 0:
            return Choice(d.sent_at_level(d.learned_level), greedy_type_probability(d), hour_probability(d, 0.0))
        # Thompson sampling of the type and the level does not depend on the rate, only on it being > 0.
        if d.exploration == 0:
            raise ValueError("the log was written without exploration: its type and level draws are unknown")
        return Choice(d.p_send, d.p_type, hour_probability(d, self.rate))


class FixedFrequency(Candidate):
    """At most k automated pushes in 7 days, otherwise as logged (PLAN_FREQUENCY_AT_MOST=k)."""

    def __init__(self, k: int):
        if k < 0:
            raise ValueError("fixed-frequency needs k ≥ 0")
        self.k = k
        self.name = f"fixed-frequency={k}"
        self.description = f"at most {k} a week, otherwise as logged"

    def choice(self, d):
        return Choice(d.p_send if d.sent_at_level(self.k) else 0.0, d.p_type, d.p_hour)


class NoTypeBandit(Candidate):
    name = "no-type-bandit"
    description = "today's policy with the greedy type (least recently used on a tie) instead of the type bandit"

    def choice(self, d):
        return Choice(d.p_send, greedy_type_probability(d), d.p_hour)


class SeedLike(Candidate):
    name = "seed-like"
    description = "the seed's weekly number for the segment, the greedy type, the best hour"

    def choice(self, d):
        return Choice(d.sent_at_level(d.starting_level), greedy_type_probability(d), hour_probability(d, 0.0))


class DismissCost(Candidate):
    """Another PLAN_DISMISS_COST for the push's own threshold: sent only while its utility, with the
    dismissal term rescaled, stays above PLAN_MIN_EXPECTED_VALUE. The weekly level is taken as logged (the
    Thompson draw's utilities of the other levels are not stored); a lower cost would also send pushes the
    logger skipped, which are not in the log."""

    def __init__(self, cost: float):
        if cost < 0:
            raise ValueError("dismiss-cost must be at least 0")
        self.cost = cost
        self.name = f"dismiss-cost={cost:g}"
        self.description = f"a dismissal costs {cost:g} opens (the push's threshold only; the weekly level as logged)"

    def choice(self, d):
        terms = d.utility
        if "utility" not in terms or d.dismiss_cost <= 0:
            return Choice(d.p_send, d.p_type, d.p_hour)
        rescaled = terms["utility"] + terms["dismiss_cost"] * (1 - self.cost / d.dismiss_cost)
        sent = rescaled >= settings.PLAN_MIN_EXPECTED_VALUE
        return Choice(d.p_send if sent else 0.0, d.p_type, d.p_hour)


class BlastLike(Candidate):
    name = "blast-like"
    description = (
        f"every day at {BLAST_LOCAL_HOUR}:00 local, the logged type; only the logged sends at that hour support it, "
        "and its sends on the days the logger never sent are not in the log: a lower bound"
    )

    def choice(self, d):
        return Choice(1.0, 1.0, float(d.local_hour == BLAST_LOCAL_HOUR))


OFFERED = (
    "logged",
    "exploration=0",
    "exploration=0.2",
    "fixed-frequency=1",
    "fixed-frequency=2",
    "no-type-bandit",
    "dismiss-cost=0.5",
    "seed-like",
    "blast-like",
)


def candidate_named(name: str) -> Candidate:
    """`logged`, `exploration=<rate>`, `fixed-frequency=<k>`, `no-type-bandit`, `dismiss-cost=<c>`,
    `seed-like`, `blast-like`."""
    simple = {"logged": Logged, "no-type-bandit": NoTypeBandit, "seed-like": SeedLike, "blast-like": BlastLike}
    if name in simple:
        return simple[name]()
    kind, _, value = name.partition("=")
    try:
        if kind == "exploration":
            return Exploration(float(value))
        if kind == "fixed-frequency":
            return FixedFrequency(int(value))
        if kind == "dismiss-cost":
            return DismissCost(float(value))
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    raise ValueError(f"unknown candidate {name!r}: one of {', '.join(OFFERED)} (any rate or k)")


# Estimates ------------------------------------------------------------------------------------------------


def rewards(decisions: list[LoggedDecision]) -> dict[str, np.ndarray]:
    return {
        "opens": np.array([d.opened for d in decisions], dtype=float),
        "dismissals": np.array([d.dismissed for d in decisions], dtype=float),
        "opt_outs": np.array([d.opted_out for d in decisions], dtype=float),
        "sends": np.ones(len(decisions)),
    }


def reward_model(decisions: list[LoggedDecision], observed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """q̂ of each outcome for a push in the decision's context: the click model's P(open) stored at
    planning time; the segment's dismissals and opt-outs per send in this log; 1 send. The same for any
    hour and type of the push (only whether it is sent changes q̂): crude, and DR stays unbiased anyway
    when the propensities are right."""
    segments = np.array([-1 if d.segment_id is None else d.segment_id for d in decisions])
    model = {"sends": np.ones(len(decisions))}
    for outcome in ("dismissals", "opt_outs"):
        totals, counts = defaultdict(float), defaultdict(int)
        for segment, value in zip(segments, observed[outcome], strict=True):
            totals[segment] += value
            counts[segment] += 1
        model[outcome] = np.array([totals[s] / counts[s] for s in segments])
    fallback = float(observed["opens"].mean()) if len(decisions) else DEFAULT_OPEN_RATE
    model["opens"] = np.array([fallback if d.predicted_open is None else d.predicted_open for d in decisions])
    return model


@dataclass(frozen=True)
class Evaluation:
    candidate: str
    description: str
    since: dt.datetime
    until: dt.datetime
    decisions: int
    left_out: int
    logged: dict[str, float]  # the log's own totals
    estimates: dict[str, dict[str, ope.Estimate]]  # method -> outcome -> estimate (per decision)

    @property
    def support(self) -> float:
        return self.estimates["ips"]["sends"].support if self.decisions else 0.0

    @property
    def effective_size(self) -> float:
        return self.estimates["ips"]["sends"].effective_size if self.decisions else 0.0

    def figure(self, method: str, outcome: str) -> tuple[float, float, float]:
        """(value, low, high): a total over the period for IPS and DR, a rate per send for SNIPS."""
        estimate = self.estimates[method][outcome]
        if method == "snips":
            return estimate.value, estimate.low, estimate.high
        return estimate.total()

    def as_dict(self) -> dict:
        def number(value: float) -> float | None:
            return None if not np.isfinite(value) else round(float(value), 6)

        return {
            "candidate": self.candidate,
            "description": self.description,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "decisions": self.decisions,
            "left_out": self.left_out,
            "support": round(self.support, 6),
            "effective_size": round(self.effective_size, 2),
            "logged": self.logged,
            "estimates": {
                method: {
                    outcome: dict(zip(("value", "low", "high"), map(number, self.figure(method, outcome)), strict=True))
                    for outcome in OUTCOMES
                }
                for method in METHODS
            },
            "units": {"ips": "total over the period", "dr": "total over the period", "snips": "per send"},
        }


def evaluate(candidate: Candidate, decisions: list[LoggedDecision], *, since, until, left_out: int = 0) -> Evaluation:
    observed = rewards(decisions)
    model = reward_model(decisions, observed)
    choices = [candidate.choice(d) for d in decisions]
    logged_p = np.array([d.logged_p for d in decisions])
    target_p = np.array([c.joint for c in choices])
    # DR's direct part for a context is π(send) · q̂: the frequency choice is whether to send there; the
    # contexts where the logger did not send are not in the log, so that part is itself weighted by the
    # frequency's weight (DR over the type and hour, IPS over whether to send). It takes the candidate's
    # hour and type to be sent as often as the logged ones: where another hour changes whether a push
    # clears pacing or the utility threshold, DR is biased and IPS is not.
    frequency_weight = np.array([c.frequency / d.p_send for c, d in zip(choices, decisions, strict=True)])
    estimates: dict[str, dict[str, ope.Estimate]] = {method: {} for method in METHODS}
    for outcome in OUTCOMES:
        q = model[outcome]
        found = ope.all_estimates(observed[outcome], logged_p, target_p, q, frequency_weight * q)
        for method in METHODS:
            estimates[method][outcome] = found[method]
    return Evaluation(
        candidate=candidate.name,
        description=candidate.description,
        since=since,
        until=until,
        decisions=len(decisions),
        left_out=left_out,
        logged={outcome: float(observed[outcome].sum()) for outcome in OUTCOMES},
        estimates=estimates,
    )


def policy_evaluate(*, candidate: str, since: dt.datetime, until: dt.datetime) -> Evaluation:
    """The estimate of one named candidate over the automated pushes sent in [since, until)."""
    chosen = candidate_named(candidate)
    decisions, left_out = read_log(since=since, until=until)
    return evaluate(chosen, decisions, since=since, until=until, left_out=left_out)


def policies_evaluate(*, candidates=OFFERED, since: dt.datetime, until: dt.datetime) -> list[Evaluation]:
    """Several candidates on one reading of the log (the admin page)."""
    decisions, left_out = read_log(since=since, until=until)
    evaluations = []
    for name in candidates:
        chosen = candidate_named(name)
        try:
            evaluations.append(evaluate(chosen, decisions, since=since, until=until, left_out=left_out))
        except ValueError:  # e.g. exploration > 0 on a log written without exploration
            continue
    return evaluations
