"""The planner: for every customer, whether, what and when to notify in the next 24 hours.

One pass (`plan`, run hourly by beat, sharded by customer-id range) reads each customer's profile
(written by `train`: segment, top items with reasons, hours of the week ranked best first) and
decides, in this order:

1. **who**: opted-out customers, customers without a profile or segment, and segments whose policy
   is paused or allows no sends are skipped; a stable share (PLAN_CONTROL_SHARE, per campaign its
   control share) is held back as a control group — recorded as a suppressed notification, so
   uplift can be measured, never sent;
2. **how often**: the segment's weekly cap over the rolling 7 × 24 hours before the send (what
   was sent or planned then, and anything planned after it in the window), spread over the week
   (automated sends at least PACING × 7 days / cap apart), and at most one notification per
   customer per local day;
3. **when**: the best-ranked hour of the window in the customer's time zone outside their quiet
   hours; with probability PLAN_EXPLORATION another allowed hour, chosen uniformly, so the
   send-time model keeps learning — the probability of the chosen hour is stored (`propensity`)
   for unbiased evaluation later;
4. **what**: the recommended items that are still available and were not shown to this person in
   the last week; the notification type among those the segment allows and the customer has not
   muted — a cart reminder when something is still in the cart, a re-order reminder when they
   bought before, otherwise the type they got least recently;
5. **whether at all**: expected value = P(open) × the type's content value − the cost of one more
   push (PLAN_PUSH_COST × (1 + pushes in the last 7 days)). Below PLAN_MIN_EXPECTED_VALUE it is
   skipped: the main lever for fewer, better notifications.

Every decision is stored with its explanation. The idempotency key (customer, automation or
campaign, local date) makes a rerun for the same slots create nothing new.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, Notification, NotificationType, SegmentPolicy
from devices.models import Customer
from optimus_site.bulk import insert_ignoring_duplicates
from recommender.models import CustomerProfile, Item, Segment

log = logging.getLogger(__name__)

WINDOW = dt.timedelta(hours=24)
WEEK = dt.timedelta(days=7)
CHUNK = 2000  # customers per round of queries
COUNTED = (
    Notification.Status.PLANNED,
    Notification.Status.QUEUED,
    Notification.Status.SENDING,
    Notification.Status.SENT,
)
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
            "skipped": dict(self.skipped),
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
        self.allowed_types = {
            segment_id: [t for t in policy.allowed_types.all() if t.pk in self.types]
            for segment_id, policy in self.policies.items()
        }
        self.campaigns = list(
            Campaign.objects.filter(
                status=Campaign.Status.APPROVED, starts_at__lt=now + WINDOW, ends_at__gt=now
            ).prefetch_related("segments")
        )
        self.segment_names = dict(Segment.objects.values_list("pk", "name"))
        self._slots: dict[str, list[Slot]] = {}
        self._predictor = open_predictor()

    # One chunk ---------------------------------------------------------------------------------

    def plan_chunk(self, pks: list[int]) -> None:
        customers = Customer.objects.filter(pk__in=pks).only(
            "pk", "external_id", "timezone", "opt_out", "quiet_hours_start", "quiet_hours_end", "muted_types"
        )
        profiles = {
            p.customer_id: p
            for p in CustomerProfile.objects.filter(customer_id__in=pks).only(
                "customer_id", "segment_id", "top_items", "best_hours", "predicted_open_rate"
            )
        }
        recent = Notification.objects.filter(
            customer_id__in=pks, scheduled_for__gte=self.now - WEEK, status__in=COUNTED
        )
        scheduled: dict[int, list[dt.datetime]] = defaultdict(list)
        shown: dict[int, set[str]] = defaultdict(set)
        last_type: dict[int, dict[int, dt.datetime]] = defaultdict(dict)
        days_taken: dict[int, set[dt.date]] = defaultdict(set)
        campaign_counts: Counter = Counter()
        for customer_id, item_ids, type_id, at, campaign_id, key in recent.values_list(
            "customer_id", "item_ids", "notification_type_id", "scheduled_for", "campaign_id", "idempotency_key"
        ):
            scheduled[customer_id].append(at)
            shown[customer_id].update(item_ids or [])
            last_type[customer_id][type_id] = max(at, last_type[customer_id].get(type_id, at))
            days_taken[customer_id].add(key.rsplit(":", 1)[-1])
            if campaign_id:
                campaign_counts[(customer_id, campaign_id)] += 1
        wanted = {entry["item_id"] for p in profiles.values() for entry in (p.top_items or [])}
        items = dict(Item.objects.filter(external_id__in=wanted, available=True).values_list("external_id", "title"))

        decisions: list[Decision] = []
        for customer in customers:
            self.report.customers += 1
            context = CustomerContext(
                customer=customer,
                profile=profiles.get(customer.pk),
                scheduled=scheduled[customer.pk],
                shown=shown[customer.pk],
                last_type=last_type[customer.pk],
                days_taken=days_taken[customer.pk],
            )
            decision = None
            for campaign in self.campaigns:
                if campaign_counts[(customer.pk, campaign.pk)] < campaign.max_per_customer:
                    decision = self.decide(context, items, campaign)
                    if decision is not None:
                        break
            if decision is None:
                decision = self.decide(context, items, None)
            if decision is not None:
                decisions.append(decision)
        self.score_and_store(decisions)

    # One customer ------------------------------------------------------------------------------

    def decide(self, c: CustomerContext, items: dict[str, str], campaign: Campaign | None) -> Decision | None:
        """The decision for one customer (None = nothing, with the reason counted in the report)."""
        skip = self.report.skipped
        if c.customer.opt_out:
            return skip.update(["opted_out"]) if campaign is None else None
        profile = c.profile
        if profile is None or profile.segment_id is None:
            return skip.update(["no_profile"]) if campaign is None else None
        if (
            campaign is not None
            and campaign.segments.all()
            and profile.segment_id not in {s.pk for s in campaign.segments.all()}
        ):
            return None
        policy = self.policies.get(profile.segment_id)
        if policy is None or policy.weekly_cap == 0:
            return skip.update(["segment_not_contacted"]) if campaign is None else None
        if c.pushes_before(self.now + WINDOW) >= policy.weekly_cap:  # even the window's last hour is capped
            return skip.update(["weekly_cap"]) if campaign is None else None

        slots = [s for s in self.window(c.customer.timezone) if not c.customer.is_quiet_at(s.starts_at)]
        if campaign is not None:
            slots = [s for s in slots if campaign.starts_at <= s.starts_at < campaign.ends_at]
            if campaign.timing == Campaign.Timing.FIXED_LOCAL_TIME:
                at = campaign.fixed_local_time
                slots = [fixed_time(s, at) for s in slots if s.local_hour == at.hour]
        if not slots:
            return skip.update(["no_allowed_hour"]) if campaign is None else None

        fresh = [e for e in (profile.top_items or []) if e["item_id"] in items and e["item_id"] not in c.shown]
        if campaign is not None:
            kind = self.types.get(campaign.notification_type_id)
            if kind is None or kind.slug in c.customer.muted_types:
                return None
            chosen_items = fresh[: kind.max_items] if kind.carries_items and campaign.personalised_items else []
        else:
            muted = set(c.customer.muted_types or [])
            allowed = [t for t in self.allowed_types[profile.segment_id] if t.slug not in muted]
            kind, chosen_items = choose_type(allowed, fresh, c.last_type)
            if kind is None:
                return skip.update(["nothing_to_say"])

        slot, propensity, explored = self.choose_slot(c, slots, profile, campaign)
        pushes = c.pushes_before(slot.starts_at)
        if pushes >= policy.weekly_cap:
            # Not a worse hour instead: a later run plans the best hour once the week has room.
            return skip.update(["weekly_cap"]) if campaign is None else None
        last_sent = max(c.last_type.values(), default=None)
        if (
            campaign is None
            and last_sent is not None
            and slot.starts_at - last_sent < PACING * WEEK / policy.weekly_cap
        ):
            # Spread the week's allowance instead of spending it on consecutive days: fatigue
            # builds with pushes close together.
            return skip.update(["paced"])
        if slot.local_date.isoformat() in c.days_taken:
            # Not another hour of the same day, nor a worse hour of the next day: a later run,
            # whose window holds that day's best hours, plans it.
            self.report.already_planned += campaign is None
            return None
        key_owner = "auto" if campaign is None else f"c{campaign.pk}"
        control_share = settings.PLAN_CONTROL_SHARE if campaign is None else float(campaign.control_share)
        return Decision(
            customer=c.customer,
            profile=profile,
            campaign=campaign,
            kind=kind,
            slot=slot,
            items=chosen_items,
            titles=items,
            propensity=propensity,
            explored=explored,
            pushes_last_week=pushes,
            weekly_cap=policy.weekly_cap,
            in_control=in_control_group(c.customer.external_id, key_owner, control_share),
            idempotency_key=f"{c.customer.pk}:{key_owner}:{slot.local_date.isoformat()}",
        )

    def choose_slot(self, c: CustomerContext, slots: list[Slot], profile, campaign) -> tuple[Slot, float, bool]:
        # `slots` are in time order, so the first slot of an hour of the week is the earliest (an
        # hour repeated when the clocks fall back is used once); the best is the best-ranked one.
        by_hour: dict[int, Slot] = {}
        for slot in slots:
            by_hour.setdefault(slot.hour_of_week, slot)
        best = next((by_hour[how] for how in profile.best_hours or [] if how in by_hour), slots[0])
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
                slots.append(Slot(at, local.date(), local.hour, local.weekday() * 24 + local.hour))
            self._slots[zone_name] = slots
        return self._slots[zone_name]

    # Scoring and storing -----------------------------------------------------------------------

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
            value = expected_value(p_open, decision.kind.content_value, decision.pushes_last_week)
            if decision.campaign is None and value < settings.PLAN_MIN_EXPECTED_VALUE:
                self.report.skipped["low_expected_value"] += 1
                continue
            rows.append(decision.row(p_open, value, self.segment_names, created))
            if decision.in_control:
                self.report.control += 1
            else:
                self.report.planned += 1
        # Straight to the driver (optimus_site.bulk): model instances and the ORM's per-value
        # compilation cost more than the database does on this path (bench/send_throughput.py).
        with transaction.atomic():  # one commit for the chunk, not one per multi-row INSERT
            insert_ignoring_duplicates(Notification, ROW_FIELDS, rows)


ROW_FIELDS = [
    "customer", "campaign", "notification_type", "idempotency_key", "status", "status_reason", "scheduled_for",
    "title", "body", "link", "item_ids", "predicted_open", "expected_value", "is_exploration", "propensity",
    "explanation", "created_at", "updated_at",
]  # fmt: skip


@dataclass
class CustomerContext:
    customer: Customer
    profile: CustomerProfile | None
    scheduled: list[dt.datetime]  # counted notifications from a week before `now` on
    shown: set[str]
    last_type: dict[int, dt.datetime]
    days_taken: set[str]

    def pushes_before(self, at: dt.datetime) -> int:
        """What counts against the weekly cap of a send at `at`: the rolling 7 × 24 hours before it
        (as the dispatcher counts at send time), and whatever is planned after it in the window,
        whose own week then holds this send. Counted from `now − 7 days` instead, a weekly push at
        the same best hour would always find last week's push in the way and wait a day more."""
        return sum(1 for t in self.scheduled if t > at - WEEK)


@dataclass
class Decision:
    customer: Customer
    profile: CustomerProfile
    campaign: Campaign | None
    kind: NotificationType
    slot: Slot
    items: list[dict]
    titles: dict[str, str]
    propensity: float
    explored: bool
    pushes_last_week: int
    weekly_cap: int
    in_control: bool
    idempotency_key: str

    def row(self, p_open: float, value: float, segment_names: dict[int, str], created: dt.datetime) -> tuple:
        """The notification as a row in ROW_FIELDS order."""
        item_ids = [entry["item_id"] for entry in self.items]
        segment = segment_names.get(self.profile.segment_id, "")
        title, body, link = render(self.kind, self.campaign, item_ids, self.titles, segment)
        return (
            self.customer.pk,
            self.campaign.pk if self.campaign else None,
            self.kind.pk,
            self.idempotency_key,
            Notification.Status.SUPPRESSED if self.in_control else Notification.Status.PLANNED,
            "Control group: held back to measure uplift" if self.in_control else "",
            self.slot.starts_at,
            title[:200],
            body[:500],
            link[:300],
            item_ids,
            round(p_open, 5),
            round(value, 5),
            self.explored,
            self.propensity,
            {
                "segment_id": self.profile.segment_id,
                "campaign": self.campaign.name if self.campaign else None,
                "type": self.kind.slug,
                "local_time": f"{self.slot.local_date.isoformat()} {self.slot.local_hour:02d}:00",
                "hour_of_week": self.slot.hour_of_week,
                "hour_choice": "exploration" if self.explored else "best allowed hour",
                "items": [{"item_id": e["item_id"], "reason": e.get("reason", "")} for e in self.items],
                "pushes_last_7_days": self.pushes_last_week,
                "weekly_cap": self.weekly_cap,
                "p_open": round(p_open, 5),
                "expected_value": round(value, 5),
                "control_group": self.in_control,
            },
            created,
            created,
        )


def choose_type(
    allowed: Iterable[NotificationType], fresh: list[dict], last_type: dict[int, dt.datetime]
) -> tuple[NotificationType | None, list[dict]]:
    """The type and its items: a specific reminder when it applies, else the least recently used."""
    fitting = []
    for kind in allowed:
        needed = TYPE_NEEDS_REASON.get(kind.slug)
        items = [e for e in fresh if needed is None or e.get("reason") == needed]
        if kind.carries_items and not items:
            continue
        fitting.append((kind, items[: kind.max_items] if kind.carries_items else []))
    if not fitting:
        return None, []
    for slug in PREFERRED_TYPES:
        for kind, items in fitting:
            if kind.slug == slug:
                return kind, items
    never = dt.datetime.min.replace(tzinfo=dt.UTC)
    fitting.sort(key=lambda pair: (last_type.get(pair[0].pk, never), not pair[0].carries_items, pair[0].slug))
    return fitting[0]


def expected_value(p_open: float, content_value: float, pushes_last_week: int) -> float:
    """P(open) × value − the cost of one more push, which grows with the pushes of the last week."""
    return p_open * content_value - settings.PLAN_PUSH_COST * (1 + pushes_last_week)


def in_control_group(external_id: str, owner: str, share: float) -> bool:
    """A stable draw per (customer, automation or campaign): the same people stay held back."""
    digest = hashlib.sha256(f"{external_id}:{owner}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def fixed_time(slot: Slot, at: dt.time) -> Slot:
    return Slot(slot.starts_at + dt.timedelta(minutes=at.minute), slot.local_date, slot.local_hour, slot.hour_of_week)


class _Placeholders(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(kind, campaign, item_ids, titles, segment: str) -> tuple[str, str, str]:
    title_template = (campaign.title_template if campaign else "") or kind.title_template
    body_template = (campaign.body_template if campaign else "") or kind.body_template
    values = _Placeholders(
        first_item=titles.get(item_ids[0], "") if item_ids else "",
        first_item_id=item_ids[0] if item_ids else "",
        item_count=len(item_ids),
        segment=segment,
    )
    return (
        title_template.format_map(values),
        body_template.format_map(values),
        kind.deep_link_template.format_map(values),
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
                np.array([d.kind.slug for d in decisions]),
                np.array([d.slot.hour_of_week for d in decisions]),
                now,
            )
            return [float(v) for v in values]
        return [d.profile.predicted_open_rate or DEFAULT_OPEN_RATE for d in decisions]

    return predict
