"""The planner: for every customer, whether, what and when to notify in the next 24 hours.

One pass (`plan`, run hourly by beat, sharded by customer-id range) reads each customer's profile
(written by `train`: segment, top items with reasons, hours of the week ranked best first) and
decides, in this order:

1. **who**: opted-out customers, customers without a profile or segment, segments whose policy
   is paused or allows no sends, and customers with no active device (nothing could reach them:
   planned, they would only fail at send time) are skipped; a stable share (PLAN_CONTROL_SHARE, per campaign its
   control share) is held back as a control group — recorded as a suppressed notification, so
   uplift can be measured, never sent;
2. **how often**: never above the segment's weekly ceiling (the marketer's hard rule) over the rolling
   7 × 24 hours before the send (what was sent or planned then, and anything planned after it in the
   window), and at most one notification per customer per local day; below it, the frequency learned
   per segment and adjusted per person (campaigns.policy, recommender.ml.bandits): a push that would be
   the person's n-th of 7 days is planned only while the utilities of levels 1 … n stay positive, the
   seed's weekly number being the prior until the level has data; with exploration on, the levels are
   Thompson-sampled once per person-week and the probability of the send is stored; sends are spread
   (at least PACING × 7 days / that level apart);
3. **when**: the best-ranked hour of the window in the customer's time zone outside their quiet
   hours; with probability PLAN_EXPLORATION another allowed hour, chosen uniformly, so the
   send-time model keeps learning — the probability of the chosen hour is stored (`propensity`)
   for unbiased evaluation later;
4. **what**: the recommended items that are still available (and are products, not postage or
   fees) and were not shown to this person in the last week; the notification type among those the
   segment allows and does not forbid, the customer has not muted and that promise no offer the shop
   has not attached — a cart reminder when something is still in the cart, a re-order reminder when
   they bought before, the segment's pinned type when it applies, otherwise the type a bandit picks
   from the segment's opens per type (Thompson sampling, its propensity stored; greedy, least recently
   used first on a tie, when PLAN_EXPLORATION is 0);
5. **whether at all**: the push's utility = P(open) × value − P(dismiss) × PLAN_DISMISS_COST −
   P(opt-out) × the value of keeping the person reachable − the opens its fatigue costs the next
   pushes, with the costs learned from the log. Below PLAN_MIN_EXPECTED_VALUE it is skipped.

The contact rules themselves (opt-out, segment, muted types, quiet hours, the weekly cap) are
`campaigns.rules`, the same the sender applies at send time. Every decision is stored with its
explanation. The idempotency key (customer, automation or campaign, local date) makes a rerun for
the same slots create nothing new.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import random
import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from campaigns import rules
from campaigns.dispatcher import active_devices
from campaigns.models import Campaign, Notification, NotificationType, Owner, Reason, SegmentPolicy, idempotency_key
from campaigns.policy import PolicyLog, costs_from_settings
from campaigns.templating import TemplateError, template_render
from devices.models import Customer
from optimus_site.dbutils import retrying_lock_conflicts
from recommender.ml import bandits
from recommender.ml.clock import hour_of_week
from recommender.models import CustomerProfile, Item, Segment

log = logging.getLogger(__name__)

WINDOW = dt.timedelta(hours=24)
WEEK = rules.WEEK
CHUNK = 2000  # customers per round of queries
DEFAULT_OPEN_RATE = 0.05  # before any model knows better
PACING = 0.8  # automated sends are at least this × (7 days / weekly cap) apart
# Types that only make sense for some items: the reason an item must have for the type to apply.
TYPE_NEEDS_REASON = {"cart-recovery": "in_cart", "reorder-reminder": "bought_before", "review-request": "bought_before"}
PREFERRED_TYPES = ("cart-recovery", "reorder-reminder")  # when they apply, they are the message


@dataclass(frozen=True)
class Slot:
    starts_at: dt.datetime  # UTC
    local_date: dt.date
    local_hour: int
    hour_of_week: int  # local, 0 = Monday 00:00


@dataclass
class PlanReport:
    customers: int = 0
    planned: int = 0
    control: int = 0
    already_planned: int = 0
    skipped: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "customers": self.customers,
            "planned": self.planned,
            "control": self.control,
            "already_planned": self.already_planned,
            "skipped": {str(reason): count for reason, count in self.skipped.items()},
        }


def plan(*, now: dt.datetime | None = None, first_id: int | None = None, last_id: int | None = None) -> PlanReport:
    """Plans the 24 hours after `now` for customers with ids in [first_id, last_id]."""
    now = (now or timezone.now()).astimezone(dt.UTC)
    planner = Planner(now)
    customers = Customer.objects.order_by("pk")
    if first_id is not None:
        customers = customers.filter(pk__gte=first_id)
    if last_id is not None:
        customers = customers.filter(pk__lte=last_id)
    pks = list(customers.values_list("pk", flat=True))
    for start in range(0, len(pks), CHUNK):
        planner.plan_chunk(pks[start : start + CHUNK])
    log.info("plan %s: %s", now.isoformat(), planner.report.as_dict())
    return planner.report


def shard_ranges(shards: int) -> list[tuple[int, int]]:
    """Customer-id ranges of about equal size, for splitting a pass over several workers."""
    pks = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    if not pks:
        return []
    size = -(-len(pks) // max(1, shards))
    return [(pks[i], pks[min(i + size, len(pks)) - 1]) for i in range(0, len(pks), size)]


class Planner:
    def __init__(self, now: dt.datetime):
        self.now = now
        self.report = PlanReport()
        self.exploration = settings.PLAN_EXPLORATION
        self.types = {t.pk: t for t in NotificationType.objects.filter(is_active=True)}
        self.types_by_slug = {t.slug: t for t in self.types.values()}
        self.policies = {
            p.segment_id: p for p in SegmentPolicy.objects.filter(is_active=True).prefetch_related("allowed_types")
        }
        # Read once: `policy.allowed_types.all()` builds a related manager on every call.
        # A type whose wording promises an offer is never chosen automatically while none is attached.
        forbidden = {
            p.segment_id: {t.pk for t in p.forbidden_types.all()}
            for p in SegmentPolicy.objects.filter(is_active=True).prefetch_related("forbidden_types")
        }
        self.allowed_types = {
            segment_id: [
                t
                for t in policy.allowed_types.all()
                if t.pk in self.types and self.types[t.pk].may_be_sent and t.pk not in forbidden[segment_id]
            ]
            for segment_id, policy in self.policies.items()
        }
        self.log = PolicyLog.read(now=now)
        self.costs = costs_from_settings()
        self.campaigns = list(
            Campaign.objects.filter(
                status=Campaign.Status.APPROVED, starts_at__lt=now + WINDOW, ends_at__gt=now
            ).prefetch_related("segments")
        )
        self.segment_names = dict(Segment.objects.values_list("pk", "name"))
        self._slots: dict[str, list[Slot]] = {}
        self._bad_templates: set[str] = set()
        self._predictor = open_predictor()

    # One chunk ---------------------------------------------------------------------------------

    def plan_chunk(self, pks: list[int]) -> None:
        contexts, items, campaign_counts = self.load_chunk(pks)
        decisions: list[Decision] = []
        for context in contexts:
            self.report.customers += 1
            decision = None
            for campaign in self.campaigns:
                if campaign_counts[(context.customer.pk, campaign.pk)] < campaign.max_per_customer:
                    decision = self.decide(context, items, campaign)
                    if decision is not None:
                        break
            if decision is None:
                decision = self.decide(context, items, None)
            if decision is not None:
                decisions.append(decision)
        self.score_and_store(decisions)

    def load_chunk(self, pks: list[int]) -> tuple[list[CustomerContext], dict[str, str], Counter]:
        """What the decisions of a chunk of customers need, in a few queries: each customer's context,
        the titles of the available items they may be shown, and how many of each campaign they have."""
        customers = Customer.objects.filter(pk__in=pks).only(
            "pk", "external_id", "timezone", "opt_out", "quiet_hours_start", "quiet_hours_end", "muted_types"
        )
        profiles = {
            p.customer_id: p
            for p in CustomerProfile.objects.filter(customer_id__in=pks).only(
                "customer_id", "segment_id", "top_items", "best_hours", "predicted_open_rate"
            )
        }
        week_ago = self.now - WEEK
        # A notification sent within the week counts against the cap even when it was due before.
        recent = Notification.objects.filter(
            Q(scheduled_for__gte=week_ago) | Q(sent_at__gt=week_ago),
            rules.COUNTED,
            customer_id__in=pks,
        )
        pushes: dict[int, list[dt.datetime]] = defaultdict(list)
        shown: dict[int, set[str]] = defaultdict(set)
        last_type: dict[int, dict[int, dt.datetime]] = defaultdict(dict)
        days_taken: dict[int, set[dt.date]] = defaultdict(set)
        campaign_counts: Counter = Counter()
        for customer_id, item_ids, type_id, at, sent_at, status, campaign_id, local_date in recent.values_list(
            "customer_id",
            "item_ids",
            "notification_type_id",
            "scheduled_for",
            "sent_at",
            "status",
            "campaign_id",
            "local_date",
        ):
            pushes[customer_id].append(rules.counted_at(status=status, scheduled_for=at, sent_at=sent_at))
            if at < week_ago:
                continue
            shown[customer_id].update(item_ids or [])
            last_type[customer_id][type_id] = max(at, last_type[customer_id].get(type_id, at))
            if local_date is not None:
                days_taken[customer_id].add(local_date)
            if campaign_id:
                campaign_counts[(customer_id, campaign_id)] += 1
        wanted = {entry["item_id"] for p in profiles.values() for entry in (p.top_items or [])}
        items = dict(
            Item.objects.filter(external_id__in=wanted, available=True, recommendable=True).values_list(
                "external_id", "title"
            )
        )
        reachable = {device.customer_id for device in active_devices(pks)}
        contexts = [
            CustomerContext(
                customer=customer,
                profile=profiles.get(customer.pk),
                pushes=pushes[customer.pk],
                shown=shown[customer.pk],
                last_type=last_type[customer.pk],
                days_taken=days_taken[customer.pk],
                reachable=customer.pk in reachable,
            )
            for customer in customers
        ]
        return contexts, items, campaign_counts

    def weekly_cap_of(self, c: CustomerContext) -> int:
        """The weekly ceiling of the customer's segment's active policy (the rulebook's hard cap); 0 when
        paused or missing, or when the starting frequency is 0 (the marketer's "none")."""
        policy = self.policies.get(c.segment_id)
        return policy.hard_cap if policy is not None else 0

    def start_level_of(self, c: CustomerContext) -> int:
        """The seed's weekly number for the segment: the learned frequency's prior."""
        policy = self.policies.get(c.segment_id)
        return min(policy.weekly_cap, policy.weekly_ceiling) if policy is not None else 0

    def slot_reason(self, c: CustomerContext, at: dt.datetime, notification_type: str) -> Reason | None:
        """The rulebook's answer for a send of `notification_type` (a slug) to this customer at `at`."""
        return rules.contact_reason(
            c.customer,
            segment_id=c.segment_id,
            weekly_cap=self.weekly_cap_of(c),
            notification_type=notification_type,
            at=at,
            pushes=c.pushes,
            planning=True,
        )

    # One customer ------------------------------------------------------------------------------

    def decide(self, c: CustomerContext, items: dict[str, str], campaign: Campaign | None) -> Decision | None:
        """The decision for one customer (None = nothing, with the reason counted in the report).

        The rulebook's checks come first as far as they concern the person and the whole window (cheap,
        and they name the reason in the report), then `slot_reason` has the last word on the chosen slot."""

        def skip(reason: Reason) -> None:
            if campaign is None:  # a campaign that does not apply leaves the customer to the automation
                self.report.skipped[reason] += 1

        customer, profile = c.customer, c.profile
        weekly_cap = self.weekly_cap_of(c)
        reason = rules.who_reason(customer, segment_id=c.segment_id, weekly_cap=weekly_cap, planning=True)
        if reason is not None:
            return skip(reason)
        if not c.reachable:
            return skip(Reason.NO_ACTIVE_DEVICE)
        if (
            campaign is not None
            and campaign.segments.all()
            and profile.segment_id not in {s.pk for s in campaign.segments.all()}
        ):
            return None
        # Even the window's last hour is capped: nothing to choose.
        if rules.weekly_cap_reached(at=self.now + WINDOW, weekly_cap=weekly_cap, pushes=c.pushes, planning=True):
            return skip(Reason.WEEKLY_CAP)

        slots = [s for s in self.window(customer.timezone) if not rules.is_quiet_at(customer, s.starts_at)]
        if campaign is not None:
            slots = [s for s in slots if campaign.starts_at <= s.starts_at < campaign.ends_at]
            if campaign.timing == Campaign.Timing.FIXED_LOCAL_TIME:
                at = campaign.fixed_local_time
                slots = [fixed_time(s, at) for s in slots if s.local_hour == at.hour]
        if not slots:
            return skip(Reason.NO_ALLOWED_HOUR)

        fresh = [e for e in (profile.top_items or []) if e["item_id"] in items and e["item_id"] not in c.shown]
        if campaign is not None:
            notification_type = self.types.get(campaign.notification_type_id)
            if notification_type is None or rules.is_muted(customer, notification_type.slug):
                return None
            if not notification_type.may_be_sent:
                # Its offer was emptied after the campaign was approved: promise nothing, and say so.
                self.report.skipped[Reason.NO_OFFER] += 1
                return None
            carries = notification_type.carries_items and campaign.personalised_items
            chosen_items = fresh[: notification_type.max_items] if carries else []
        else:
            allowed = [t for t in self.allowed_types[profile.segment_id] if not rules.is_muted(customer, t.slug)]
            type_choice = self.choose_type(c, allowed, fresh)
            if type_choice is None:
                return skip(Reason.NOTHING_TO_SAY)
            notification_type, chosen_items = type_choice.notification_type, type_choice.items

        slot, propensity, explored = self.choose_slot(c, slots, profile, campaign)
        reason = self.slot_reason(c, slot.starts_at, notification_type.slug)
        if reason is not None:
            # The weekly cap at the chosen hour. Not a worse hour instead: a later run plans the best
            # hour once the week has room.
            return skip(reason)
        pushes = rules.pushes_counted(at=slot.starts_at, pushes=c.pushes, planning=True)
        if slot.local_date in c.days_taken:
            # Not another hour of the same day, nor a worse hour of the next day: a later run,
            # whose window holds that day's best hours, plans it.
            self.report.already_planned += campaign is None
            return None
        try:
            wording = render(
                notification_type,
                campaign,
                [e["item_id"] for e in chosen_items],
                items,
                self.segment_names.get(profile.segment_id, ""),
            )
        except TemplateError as exc:
            # A wording saved before templates were checked: this customer is skipped, never the pass.
            self.report.skipped[Reason.TEMPLATE_ERROR] += 1
            self.warn_bad_template(notification_type, campaign, exc)
            return None
        # The control group's draw is keyed as before ("auto" / "c<id>"), so the same people stay held back.
        draw_key = "auto" if campaign is None else f"c{campaign.pk}"
        control_share = settings.PLAN_CONTROL_SHARE if campaign is None else float(campaign.control_share)
        return Decision(
            customer=customer,
            profile=profile,
            campaign=campaign,
            notification_type=notification_type,
            slot=slot,
            items=chosen_items,
            wording=wording,
            propensity=propensity,
            explored=explored,
            pushes_last_week=pushes,
            weekly_cap=weekly_cap,
            in_control=in_control_group(customer.external_id, draw_key, control_share),
            start_level=self.start_level_of(c),
            last_sent=max(c.last_type.values(), default=None),
            type_choice=type_choice if campaign is None else None,
            hours=len(slots),
        )

    def warn_bad_template(self, notification_type: NotificationType, campaign: Campaign | None, exc) -> None:
        owner = f"campaign {campaign.pk} ({campaign.name})" if campaign else f"type {notification_type.slug}"
        if owner not in self._bad_templates:  # once a pass, not once a customer
            self._bad_templates.add(owner)
            log.error("plan: the wording of %s cannot be filled in, its customers are skipped: %s", owner, exc)

    def choose_type(self, c: CustomerContext, allowed: list[NotificationType], fresh: list[dict]) -> TypeChoice | None:
        """The type and its items: a specific reminder when it applies, the pinned type when it applies,
        else the bandit's choice among the types that have something to show."""
        fitting = fitting_types(allowed, fresh)
        if not fitting:
            return None
        for slug in PREFERRED_TYPES:
            for notification_type, items in fitting:
                if notification_type.slug == slug:
                    return TypeChoice(notification_type, items, 1.0, "a reminder of what they left or bought", slug)
        pinned = self.policies[c.segment_id].pinned_type_id
        for notification_type, items in fitting:
            if notification_type.pk == pinned:
                why = "pinned for the segment by a marketer"
                return TypeChoice(notification_type, items, 1.0, why, notification_type.slug)
        never = dt.datetime.min.replace(tzinfo=dt.UTC)
        # Least recently used first: the greedy choice on a tie (no data yet) rotates as before.
        fitting.sort(key=lambda pair: (c.last_type.get(pair[0].pk, never), not pair[0].carries_items, pair[0].slug))
        arms = []
        for notification_type, _ in fitting:
            opens, sends = self.log.type_arm_counts(c.segment_id, notification_type.pk)
            prior = self.log.type_prior(c.segment_id, notification_type.pk, DEFAULT_OPEN_RATE)
            arms.append(bandits.TypeArm(notification_type.pk, opens, sends, notification_type.content_value, prior))
        rng = None
        if self.exploration > 0 and len(arms) > 1 and settings.PLAN_TYPE_BANDIT:
            rng = np.random.default_rng(_seed(c.customer.external_id, self.now.date().isoformat(), "type"))
        prior = self.log.open_rate(c.segment_id, DEFAULT_OPEN_RATE)
        index, propensity, _ = bandits.choose_type(arms, prior_mean=prior, rng=rng)
        greedy = index if rng is None else bandits.choose_type(arms, prior_mean=prior, rng=None)[0]
        notification_type, items = fitting[index]
        opens, sends = arms[index].opens, arms[index].sends
        why = (
            f"the best open rate of the segment's types so far ({opens:.0f} opens of {sends:.0f} sends)"
            if sends
            else "not sent to the segment yet: every allowed type starts equal, least recently used first"
        )
        if rng is not None:
            why = f"drawn by the type bandit with probability {propensity:.0%}; {why}"
        return TypeChoice(
            notification_type, items, propensity, why, explored=index != greedy, greedy_slug=fitting[greedy][0].slug
        )

    def choose_slot(self, c: CustomerContext, slots: list[Slot], profile, campaign) -> tuple[Slot, float, bool]:
        # `slots` are in time order, so the first slot of an hour of the week is the earliest (an
        # hour repeated when the clocks fall back is used once); the best is the best-ranked one.
        by_hour: dict[int, Slot] = {}
        for slot in slots:
            by_hour.setdefault(slot.hour_of_week, slot)
        best = next((by_hour[hour] for hour in profile.best_hours or [] if hour in by_hour), slots[0])
        ordered = slots
        if campaign is not None and campaign.timing == Campaign.Timing.FIXED_LOCAL_TIME:
            return best, 1.0, False
        # Seeded by customer and date, so a rerun of the same window makes the same choice.
        # By external id, not primary key: the same person draws the same after a restore or replay.
        rng = random.Random(f"{c.customer.external_id}:{best.local_date.isoformat()}")  # noqa: S311 (not security)
        chosen = rng.choice(ordered) if len(ordered) > 1 and rng.random() < self.exploration else best
        share = self.exploration / len(ordered) if len(ordered) > 1 else 0.0
        propensity = share + (1 - self.exploration if len(ordered) > 1 else 1.0) * (chosen == best)
        return chosen, round(propensity, 6), chosen != best

    def window(self, zone_name: str) -> list[Slot]:
        """The whole local hours starting in [now, now + 24 h) in a zone, computed once per zone."""
        if zone_name not in self._slots:
            zone = zoneinfo.ZoneInfo(zone_name or "UTC")
            first = self.now.replace(minute=0, second=0, microsecond=0)
            if first < self.now:
                first += dt.timedelta(hours=1)
            slots = []
            for h in range(24):
                at = first + dt.timedelta(hours=h)
                local = at.astimezone(zone)
                if local.minute != 0:  # half-hour zones: the local whole hour is half an hour later
                    at += dt.timedelta(minutes=60 - local.minute)
                    local = at.astimezone(zone)
                    if at >= self.now + WINDOW:
                        continue
                slots.append(Slot(at, local.date(), local.hour, hour_of_week(local)))
            self._slots[zone_name] = slots
        return self._slots[zone_name]

    # Scoring and storing -----------------------------------------------------------------------

    def frequency(self, decision: Decision, p_open: float) -> Frequency:
        """How many pushes this person-week is worth, and the utility of this push (the person's
        `level`-th in 7 days)."""
        segment_id = decision.profile.segment_id
        level = decision.pushes_last_week + 1
        ceiling = max(decision.weekly_cap, level)
        costs = self.log.costs(segment_id)
        value = decision.notification_type.content_value
        means, spreads = bandits.level_utilities(
            p_open=p_open,
            level=level,
            value=value,
            costs=costs,
            settings=self.costs,
            start_level=decision.start_level,
            logged=self.log.logged_per_level(segment_id),
            ceiling=ceiling,
        )
        greedy = bandits.learned_level(means)
        if self.exploration > 0 and decision.campaign is None:
            # One draw per person and week, so the week's level (and its pacing) holds from day to day.
            year, week, _ = decision.slot.local_date.isocalendar()
            rng = np.random.default_rng(_seed(decision.customer.external_id, f"{year}-W{week}", "frequency"))
            sampled = bandits.sampled_level(means, spreads, rng.standard_normal(ceiling))
            propensity = bandits.send_probability(means, spreads, level)
        else:
            sampled, propensity = greedy, 1.0
        at_most = settings.PLAN_FREQUENCY_AT_MOST or ceiling  # an experiment's "at most k a week"
        sampled = min(sampled, at_most)
        # Pacing sends only if the week's level is at least `pace_level`: the exact probability of this send
        # is that of a level ≥ both (off-policy evaluation needs it; `propensity` leaves pacing out).
        gap = decision.slot.starts_at - decision.last_sent if decision.last_sent is not None else None
        pace_level = max(1, math.ceil(PACING * WEEK / gap)) if gap else 1
        needed = max(level, pace_level)
        if needed > min(ceiling, at_most):
            send_propensity = 0.0
        elif self.exploration > 0 and decision.campaign is None:
            send_propensity = bandits.send_probability(means, spreads, needed)
        else:
            send_propensity = float(needed <= greedy)
        utility = bandits.push_utility(p_open=p_open, value=value, level=level, costs=costs, settings=self.costs)
        return Frequency(
            level=level,
            sampled_level=sampled,
            learned_level=greedy,
            propensity=round(propensity, 6),
            utility=utility,
            dismiss_if_unopened=costs.dismiss_if_unopened,
            opt_out_hazard=costs.hazard(level),
            fatigue_rate=costs.fatigue_rate,
            send_propensity=round(send_propensity, 6),
            pace_level=pace_level,
        )

    def frequency_reason(self, decision: Decision, frequency: Frequency) -> Reason | None:
        """Why an automated push is not planned after all: beyond the person-week's level, too soon after
        the last one for that level, or not worth it."""
        if frequency.level > frequency.sampled_level:
            return Reason.FREQUENCY
        last_sent = decision.last_sent
        if last_sent is not None and decision.slot.starts_at - last_sent < PACING * WEEK / frequency.sampled_level:
            # Spread the week's pushes instead of spending them on consecutive days: fatigue builds with
            # pushes close together.
            return Reason.PACED
        if frequency.utility.total < settings.PLAN_MIN_EXPECTED_VALUE:
            return Reason.LOW_EXPECTED_VALUE
        return None

    def score_and_store(self, decisions: list[Decision]) -> None:
        if not decisions:
            return
        probabilities = self._predictor(decisions, self.now)
        existing = set(
            Notification.objects.filter(idempotency_key__in=[d.idempotency_key for d in decisions]).values_list(
                "idempotency_key", flat=True
            )
        )
        rows = []
        created = timezone.now()
        for decision, p_open in zip(decisions, probabilities, strict=True):
            if decision.idempotency_key in existing:
                self.report.already_planned += 1
                continue
            frequency = self.frequency(decision, p_open)
            value = frequency.utility.total
            if decision.campaign is None:
                skipped = self.frequency_reason(decision, frequency)
                if skipped is not None:
                    self.report.skipped[skipped] += 1
                    continue
            rows.append(decision.row(p_open, value, created, frequency))
            if decision.in_control:
                self.report.control += 1
            else:
                self.report.planned += 1

        def store() -> None:
            with transaction.atomic():  # one commit for the chunk, not one per multi-row INSERT
                Notification.objects.insert_new(ROW_FIELDS, rows)

        # Shards plan disjoint customers, but their INSERTs still take gap locks on the shared
        # indexes and can deadlock; the insert ignores what exists, so running it again is safe.
        retrying_lock_conflicts(store)


ROW_FIELDS = [
    "customer", "owner", "campaign", "notification_type", "local_date", "status", "reason", "status_reason",
    "scheduled_for",
    "title", "body", "link", "item_ids", "predicted_open", "expected_value", "is_exploration", "propensity",
    "propensities", "explanation", "created_at", "updated_at",
]  # fmt: skip


@dataclass
class CustomerContext:
    customer: Customer
    profile: CustomerProfile | None
    pushes: list[dt.datetime]  # counted notifications from a week before `now` on (`rules.counted_at`)
    shown: set[str]
    last_type: dict[int, dt.datetime]
    days_taken: set[dt.date]  # local dates that have a notification already
    reachable: bool = True  # has at least one active device

    @property
    def segment_id(self) -> int | None:
        return self.profile.segment_id if self.profile is not None else None


@dataclass(frozen=True)
class TypeChoice:
    notification_type: NotificationType
    items: list[dict]
    propensity: float
    why: str
    explored: bool = False  # not the type the posterior means would pick
    greedy_slug: str = ""  # what the greedy choice (no type bandit) would have sent: for off-policy evaluation


@dataclass(frozen=True)
class Frequency:
    level: int  # this push would be the person's level-th in 7 days
    sampled_level: int  # how many this person-week gets (Thompson-sampled when exploring)
    learned_level: int  # how many at the posterior means
    propensity: float  # P(the sampled level reaches `level`)
    utility: bandits.UtilityTerms
    dismiss_if_unopened: float
    opt_out_hazard: float
    fatigue_rate: float
    send_propensity: float = 1.0  # P(this push is sent), pacing included
    pace_level: int = 1  # the least weekly level at which pacing lets this push through

    @property
    def explored(self) -> bool:
        """Sent only because the sampled level reached it: the posterior means would not have."""
        return self.level > self.learned_level

    def why(self, start_level: int) -> str:
        text = f"push {self.level} of their 7 days; this person-week is worth {self.sampled_level}"
        if self.sampled_level != self.learned_level:
            text += f" (drawn while exploring; {self.learned_level} at the learned means)"
        return text + f"; the segment started from {start_level} a week"


@dataclass
class Decision:
    customer: Customer
    profile: CustomerProfile
    campaign: Campaign | None
    notification_type: NotificationType
    slot: Slot
    items: list[dict]
    wording: tuple[str, str, str]  # title, body, deep link
    propensity: float
    explored: bool
    pushes_last_week: int
    weekly_cap: int
    in_control: bool
    start_level: int = 0
    last_sent: dt.datetime | None = None
    type_choice: TypeChoice | None = None
    hours: int = 1  # the allowed hours the slot was chosen among (hour exploration is uniform over them)

    @property
    def owner(self) -> str:
        return Owner.AUTOMATION if self.campaign is None else Owner.CAMPAIGN

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(
            customer_id=self.customer.pk,
            owner=self.owner,
            campaign_id=self.campaign.pk if self.campaign else None,
            local_date=self.slot.local_date,
        )

    @property
    def is_automated(self) -> bool:
        return self.campaign is None

    def propensities(self, frequency: Frequency) -> dict:
        """The probability of each stochastic choice behind this notification, and of all of them."""
        chosen = {"hour": self.propensity}
        if self.is_automated:
            chosen["type"] = self.type_choice.propensity if self.type_choice else 1.0
            chosen["frequency"] = frequency.propensity
        joint = 1.0
        for probability in chosen.values():
            joint *= probability
        return {**chosen, "joint": round(joint, 8)}

    def evaluation_context(self, frequency: Frequency) -> dict | None:
        """What campaigns.ope needs to say how likely another policy was to take this decision's action."""
        if not self.is_automated:
            return None
        return {
            "exploration": settings.PLAN_EXPLORATION,
            "dismiss_cost": settings.PLAN_DISMISS_COST,
            "hours": self.hours,
            "best_hour": not self.explored,
            "greedy_type": self.type_choice.greedy_slug if self.type_choice else "",
            "send": frequency.send_propensity,
            "pace_level": frequency.pace_level,
        }

    def row(self, p_open: float, value: float, created: dt.datetime, frequency: Frequency) -> tuple:
        """The notification as a row in ROW_FIELDS order."""
        item_ids = [entry["item_id"] for entry in self.items]
        title, body, link = self.wording
        return (
            self.customer.pk,
            self.owner,
            self.campaign.pk if self.campaign else None,
            self.notification_type.pk,
            self.slot.local_date,
            Notification.Status.SUPPRESSED if self.in_control else Notification.Status.PLANNED,
            Reason.CONTROL_GROUP if self.in_control else "",
            "Control group: held back to measure uplift" if self.in_control else "",
            self.slot.starts_at,
            title[:200],
            body[:500],
            link[:300],
            item_ids,
            round(p_open, 5),
            round(value, 5),
            self.explored
            or self.is_automated
            and (frequency.explored or bool(self.type_choice and self.type_choice.explored)),
            self.propensity,
            self.propensities(frequency),
            {
                "segment_id": self.profile.segment_id,
                "campaign": self.campaign.name if self.campaign else None,
                "type": self.notification_type.slug,
                "local_time": f"{self.slot.local_date.isoformat()} {self.slot.local_hour:02d}:00",
                "hour_of_week": self.slot.hour_of_week,
                "hour_choice": "exploration" if self.explored else "best allowed hour",
                "items": [{"item_id": e["item_id"], "reason": e.get("reason", "")} for e in self.items],
                "pushes_last_7_days": self.pushes_last_week,
                "weekly_cap": self.weekly_cap,
                "p_open": round(p_open, 5),
                "expected_value": round(value, 5),
                "control_group": self.in_control,
                "frequency": {
                    "level": frequency.level,
                    "sampled_level": frequency.sampled_level,
                    "learned_level": frequency.learned_level,
                    "starting_level": self.start_level,
                    "why": frequency.why(self.start_level),
                }
                if self.is_automated
                else None,
                "type_choice": self.type_choice.why if self.type_choice else "the campaign's type",
                "ope": self.evaluation_context(frequency),
                "utility": {
                    **frequency.utility.as_dict(),
                    "p_dismiss_if_unopened": round(frequency.dismiss_if_unopened, 5),
                    "opt_out_hazard": round(frequency.opt_out_hazard, 6),
                    "fatigue_rate": frequency.fatigue_rate,
                },
            },
            created,
            created,
        )


def fitting_types(allowed: Iterable[NotificationType], fresh: list[dict]) -> list[tuple[NotificationType, list[dict]]]:
    """The allowed types that have something to show, each with the items it would show."""
    fitting = []
    for notification_type in allowed:
        needed = TYPE_NEEDS_REASON.get(notification_type.slug)
        items = [e for e in fresh if needed is None or e.get("reason") == needed]
        if notification_type.carries_items and not items:
            continue
        shown = items[: notification_type.max_items] if notification_type.carries_items else []
        fitting.append((notification_type, shown))
    return fitting


def _seed(*parts: str) -> int:
    """A seed for numpy from strings: the same person and day (or week) draw the same after a restore."""
    return int.from_bytes(hashlib.sha256(":".join(parts).encode()).digest()[:8], "big")


def in_control_group(external_id: str, owner: str, share: float) -> bool:
    """A stable draw per (customer, automation or campaign): the same people stay held back."""
    digest = hashlib.sha256(f"{external_id}:{owner}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def fixed_time(slot: Slot, at: dt.time) -> Slot:
    return Slot(slot.starts_at + dt.timedelta(minutes=at.minute), slot.local_date, slot.local_hour, slot.hour_of_week)


def render(notification_type, campaign, item_ids, titles, segment: str) -> tuple[str, str, str]:
    """The title, body and deep link of a notification; TemplateError when a template cannot be filled
    in (one saved before templates were checked, or written to the database directly)."""
    title_template = (campaign.title_template if campaign else "") or notification_type.title_template
    body_template = (campaign.body_template if campaign else "") or notification_type.body_template
    values = {
        "first_item": titles.get(item_ids[0], "") if item_ids else "",
        "first_item_id": item_ids[0] if item_ids else "",
        "item_count": len(item_ids),
        "segment": segment,
        "offer": notification_type.offer,
    }
    # In a link every value is percent-encoded: an item id with a space, "/" or "?" must stay one
    # path segment, not change where the link goes.
    link_values = {name: quote(str(value), safe="") for name, value in values.items()}
    return (
        template_render(title_template, values),
        template_render(body_template, values),
        template_render(notification_type.deep_link_template, link_values),
    )


def open_predictor():
    """P(open) for each decision: the click model of the latest training run when there is one,
    else the customer's predicted open rate, else a default."""
    try:
        from campaigns.click import OpenPredictor

        predictor = OpenPredictor.latest()
        if predictor.version_id is None:  # no training run yet: its answer would be the bare prior
            predictor = None
    except (ImportError, LookupError, FileNotFoundError):
        predictor = None

    def predict(decisions: list[Decision], now: dt.datetime) -> list[float]:
        if predictor is not None:
            import numpy as np

            values = predictor.predict(
                np.array([d.customer.pk for d in decisions]),
                np.array([d.notification_type.slug for d in decisions]),
                np.array([d.slot.hour_of_week for d in decisions]),
                now,
            )
            return [float(v) for v in values]
        return [d.profile.predicted_open_rate or DEFAULT_OPEN_RATE for d in decisions]

    return predict
