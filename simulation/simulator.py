"""The closed loop on a simulated population with known ground truth (DESIGN.md, "Simulated world").

Only the phones are simulated. Everything else is the production code path, run on the simulated
clock: the behaviour log goes into the Event table, `campaigns.training.model_train` trains,
`campaigns.planner.plan` decides, `campaigns.dispatcher.dispatch` sends through the configured
push backend, and the phones answer through the same service calls the API makes
(`campaigns.services.feedback_record`, `devices.services.preferences_update`).

    setup:  a world (simulation.world, the population generate_events draws from), its
            behaviour over the HISTORY_DAYS before the start imported with the real importer,
            one FCM device per person
    daily:  the day's organic behaviour (views, carts, purchases, app opens) is stored;
            policy `optimus` trains (weekly) and plans; `blast` and `seed` write their own
            notifications; then, hour by hour, the dispatcher sends what is due and each phone
            that got a push opens it, dismisses it or ignores it from its owner's true
            activity, taste and fatigue, perhaps buys, perhaps opts out for good.

Policies: `blast` = everyone daily at 10:00 local with the most popular items; `seed` = the
original method (each person's most active local hour, the first type their segment allows,
their top item, no cap); `optimus` = the product.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from campaigns import dispatcher, planner, services
from campaigns.models import Delivery, Feedback, Notification, NotificationType, SegmentPolicy
from campaigns.results import click_through_rate, notification_results, notification_results_by, treated_vs_control
from campaigns.training import model_train
from devices.models import Customer, Device, Platform, push_device_model
from devices.services import preferences_update
from optimus_site.bulk import insert_ignoring_duplicates
from recommender.ml.factorization import LightfmParams
from recommender.ml.ranking import FitOptions
from recommender.models import CustomerProfile, Event, EventSource, EventType, Item
from recommender.training import customer_rfm, read_training_data
from simulation.world import World, write_dataset

log = logging.getLogger(__name__)

POLICIES = ("blast", "seed", "optimus")
HISTORY_DAYS = 56
TRAIN_EVERY_DAYS = 7
BLAST_LOCAL_HOUR = 10
BLAST_ITEMS = 3
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
WEEK_MS = 7 * 86_400_000
EVENT_FIELDS = ["event_id", "customer", "item", "type", "amount", "transaction_id", "occurred_at", "received_at",
                "source"]  # fmt: skip
# Every NOT NULL column: INSERT IGNORE would silently drop a row missing one.
NOTIFICATION_FIELDS = ["customer", "owner", "campaign", "notification_type", "local_date", "status", "reason",
                       "status_reason", "scheduled_for", "title", "body", "link", "item_ids", "is_exploration",
                       "explanation", "created_at", "updated_at"]  # fmt: skip


@dataclass
class SimulationResult:
    policy: str
    users: int
    days: int
    seed: int
    sends: int = 0
    deliveries: int = 0
    opens: int = 0
    dismissals: int = 0
    opt_outs: int = 0
    purchases: int = 0
    daily: list[dict] = field(default_factory=list)
    segments: dict[str, dict] = field(default_factory=dict)
    uplift: dict = field(default_factory=dict)  # campaigns.results.treated_vs_control, as the dashboard
    seconds: float = 0.0

    def as_json(self) -> dict:
        weeks = self.days / 7
        return {
            "policy": self.policy,
            "users": self.users,
            "days": self.days,
            "seed": self.seed,
            "sends": self.sends,
            "deliveries": self.deliveries,
            "opens": self.opens,
            "ctr": round(click_through_rate(opens=self.opens, sends=self.sends) or 0.0, 5),
            "dismissals": self.dismissals,
            "opt_outs": self.opt_outs,
            "purchases": self.purchases,
            "sends_per_user_week": round(self.sends / self.users / weeks, 4) if self.users and weeks else 0.0,
            "daily": self.daily,
            "segments": self.segments,
            "uplift": self.uplift,
            "seconds": round(self.seconds, 1),
        }


class Simulation:
    def __init__(
        self,
        world: World,
        *,
        policy: str,
        days: int,
        start: dt.datetime,
        progress: Callable[[str], None] | None = None,
        train_options: FitOptions | None = None,
    ):
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}")
        self.world = world
        self.policy = policy
        self.days = days
        self.start = start.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.say = progress or (lambda message: log.info(message))
        self.rng = np.random.default_rng([world.seed, 2, POLICIES.index(policy)])
        # One thread: LightFM is only reproducible single-threaded, and the run must be.
        self.train_options = train_options or FitOptions(lightfm_params=LightfmParams(num_threads=1))
        self.result = SimulationResult(policy=policy, users=world.n_users, days=days, seed=world.seed)
        self.received: dict[int, deque] = defaultdict(deque)  # user position -> ms of pushes received
        self.purchase_count = 0

    # Setup ---------------------------------------------------------------------------------------

    def setup(self) -> None:
        clear_previous_simulation()
        history_start = self.start - dt.timedelta(days=HISTORY_DAYS)
        self.say(f"history: {HISTORY_DAYS} days of behaviour before {self.start:%Y-%m-%d}")
        history = self.world.sample_events(
            _ms(history_start), HISTORY_DAYS, np.random.default_rng([self.world.seed, 1])
        )
        with tempfile.TemporaryDirectory() as tmp:
            paths = write_dataset(tmp, self.world, history)
            call_command(
                "import_events",
                str(paths["events.csv.gz"]),
                "--items",
                str(paths["items.csv"]),
                "--categories",
                str(paths["category_tree.csv"]),
                "--item-properties",
                str(paths["item_properties.csv.gz"]),
                "--no-progress",
                stdout=_Null(),
                stderr=_Null(),
            )
        self.map_ids()
        self.store_app_opens(history.sessions)
        if self.policy == "seed":
            # The original method had no cap: its segments are configured without one (the most the
            # policy model allows), so the dispatcher's send-time check of caps lets everything through.
            SegmentPolicy.objects.update(weekly_cap=50, weekly_ceiling=50)
        # Everyone, buyers or not, is a customer with their time zone and one phone.
        self.say("customers and their phones")
        zones = self.world.user_timezone
        known = self.customer_pk
        new = [
            Customer(external_id=uid, timezone=zones[u])
            for u, uid in enumerate(self.world.user_ids)
            if known[u] < 0
        ]  # fmt: skip
        Customer.objects.bulk_create(new, batch_size=2000)
        self.map_ids()
        customers = list(Customer.objects.filter(pk__in=self.customer_pk.tolist()))
        for c in customers:
            c.timezone = zones[self.user_of[c.pk]]
        Customer.objects.bulk_update(customers, ["timezone"], batch_size=2000)
        gcm = push_device_model(Platform.FCM)
        gcm.objects.bulk_create(
            [gcm(user_id=int(pk), registration_id=f"sim-{pk}", cloud_message_type="FCM", active=True)
             for pk in self.customer_pk],
            batch_size=2000,
        )  # fmt: skip
        rows = dict(gcm.objects.filter(registration_id__startswith="sim-").values_list("user_id", "pk"))
        Device.objects.bulk_create(
            [Device(customer_id=pk, platform=Platform.FCM, push_device_id=rows[pk]) for pk in rows], batch_size=2000
        )

    def map_ids(self) -> None:
        customers = dict(Customer.objects.values_list("external_id", "pk"))
        self.customer_pk = np.array([customers.get(uid, -1) for uid in self.world.user_ids], dtype=np.int64)
        self.user_of = {int(pk): u for u, pk in enumerate(self.customer_pk) if pk >= 0}
        items = dict(Item.objects.values_list("external_id", "pk"))
        self.item_pk = np.array([items.get(str(i), -1) for i in self.world.item_ids], dtype=np.int64)
        self.item_position = {str(i): n for n, i in enumerate(self.world.item_ids)}

    # The run -------------------------------------------------------------------------------------

    def run(self) -> SimulationResult:
        started = time.monotonic()
        self.setup()
        for day in range(self.days):
            day_start = self.start + day * DAY
            before = self.totals()
            self.store_behaviour(day_start)
            self.decide(day, day_start)
            for hour in range(24):
                now = day_start + hour * HOUR
                dispatcher.dispatch(now=now)
                self.phones_answer(now)
            after = self.totals()
            self.result.daily.append(
                {"day": day, "date": day_start.date().isoformat(), **{k: after[k] - before[k] for k in after}}
            )
            self.say(f"day {day + 1}/{self.days}: {self.result.daily[-1]}")
        final = self.totals()
        for key, value in final.items():
            setattr(self.result, key, value)
        self.result.segments = self.segment_breakdown(self.start + self.days * DAY)
        sim = Notification.objects.filter(customer__external_id__in=self.world.user_ids.tolist())
        self.result.uplift = treated_vs_control(sim).as_dict()
        self.result.seconds = time.monotonic() - started
        return self.result

    def totals(self) -> dict:
        sim = Notification.objects.filter(customer__external_id__in=self.world.user_ids.tolist())
        # Opt-outs are those of customers with a notification: in the simulated world only a push
        # makes anyone opt out, so that is every simulated customer who did.
        return {
            **dataclasses.asdict(notification_results(sim)),
            "purchases": Event.objects.filter(
                event_id__startswith=f"sim-{self.world.seed}-push-", type=EventType.TRANSACTION
            ).count(),
        }

    def segment_breakdown(self, end: dt.datetime) -> dict[str, dict]:
        """Sends, opens and opt-outs per RFM segment as of the end (the same rules for every policy,
        so blast, which never trains, is broken down the same way)."""
        rfm = customer_rfm(read_training_data(now=end, since=None), end)
        segment_of = rfm["segment"].to_dict() if "segment" in rfm else {}
        out: dict[str, dict] = defaultdict(lambda: {"customers": 0, "sends": 0, "opens": 0, "opt_outs": 0})
        sim = Notification.objects.filter(customer_id__in=self.customer_pk.tolist())
        for pk in self.customer_pk.tolist():
            out[segment_of.get(pk, "no events")]["customers"] += 1
        for pk, results in notification_results_by(sim, by="customer").items():
            segment = out[segment_of.get(pk, "no events")]
            segment["sends"] += results.sends
            segment["opens"] += results.opens
            segment["opt_outs"] += results.opt_outs
        return {segment: dict(values) for segment, values in sorted(out.items())}

    def decide(self, day: int, day_start: dt.datetime) -> None:
        if self.policy == "blast":
            self.blast(day_start)
            return
        if day % TRAIN_EVERY_DAYS == 0:
            self.say(f"training (as of {day_start:%Y-%m-%d})")
            model_train(now=day_start, options=self.train_options, progress=lambda message: None)
        if self.policy == "optimus":
            planner.plan(now=day_start)
        else:
            self.seed_policy(day_start)

    # Organic behaviour -----------------------------------------------------------------------------

    def store_behaviour(self, day_start: dt.datetime) -> None:
        day = (day_start - self.start).days
        log_ = self.world.sample_events(_ms(day_start), 1.0, np.random.default_rng([self.world.seed, 3, day]))
        events = log_.events
        users = self.world.user_index(events["visitorid"].to_numpy())
        items = self.world.item_index(events["itemid"].to_numpy())
        received = timezone.now()
        rows = []
        tids = events["transactionid"].astype(object).where(events["transactionid"].notna(), "")
        amounts = events["amount"].astype(float).where(events["amount"].notna(), float("nan"))
        for n, (u, i, kind, ts, tid, amount) in enumerate(
            zip(users, items, events["event"], events["timestamp"], tids, amounts, strict=True)
        ):
            if u < 0 or i < 0 or self.customer_pk[u] < 0 or self.item_pk[i] < 0:
                continue
            rows.append(
                (f"sim-{self.world.seed}-{day}-{n}", int(self.customer_pk[u]), int(self.item_pk[i]), kind,
                 None if amount != amount else round(float(amount), 2), str(tid),
                 _at(ts), received, EventSource.IMPORT)
            )  # fmt: skip
        insert_ignoring_duplicates(Event, EVENT_FIELDS, rows)
        self.store_app_opens(log_.sessions, tag=f"d{day}")

    def store_app_opens(self, sessions, tag: str = "h") -> None:
        received = timezone.now()
        rows = [
            (f"sim-{self.world.seed}-open-{tag}-{n}", int(self.customer_pk[u]), None, EventType.APP_OPEN, None, "",
             _at(ms), received, EventSource.APP)
            for n, (u, ms) in enumerate(zip(sessions["user"], sessions["start_ms"], strict=True))
            if self.customer_pk[u] >= 0
        ]  # fmt: skip
        insert_ignoring_duplicates(Event, EVENT_FIELDS, rows)

    # The two baselines -----------------------------------------------------------------------------

    def blast(self, day_start: dt.datetime) -> None:
        """Everyone not opted out, daily at 10:00 local, the most popular items of the last week."""
        week_ago = day_start - 7 * DAY
        popular = list(
            Event.objects.filter(occurred_at__gte=week_ago, occurred_at__lt=day_start, item__isnull=False)
            .values_list("item__external_id", flat=True)
        )  # fmt: skip
        values, counts = np.unique(np.array(popular, dtype=object), return_counts=True) if popular else ([], [])
        top = [str(v) for v in np.asarray(values)[np.argsort(-np.asarray(counts), kind="stable")][:BLAST_ITEMS]]
        kind = NotificationType.objects.get(slug="product-recommendation")
        titles = dict(Item.objects.filter(external_id__in=top).values_list("external_id", "title"))
        rows = []
        for c in Customer.objects.filter(pk__in=self.customer_pk.tolist(), opt_out=False).only("pk", "timezone"):
            local = dt.datetime.combine(day_start.astimezone(c.zone).date(), dt.time(BLAST_LOCAL_HOUR), tzinfo=c.zone)
            at = local.astimezone(dt.UTC)
            if at < day_start:
                at += DAY
            rows.append(self._row(c.pk, kind, at, top, titles, "blast"))
        Notification.objects.insert_new(NOTIFICATION_FIELDS, rows)

    def seed_policy(self, day_start: dt.datetime) -> None:
        """The original method: each person's most active local hour, the first type their segment
        allows, their top item, no cap."""
        first_type = {}
        for policy in SegmentPolicy.objects.prefetch_related("allowed_types"):
            allowed = sorted(policy.allowed_types.all(), key=lambda t: t.pk)
            if allowed:
                first_type[policy.segment_id] = allowed[0]
        profiles = (
            CustomerProfile.objects.filter(customer_id__in=self.customer_pk.tolist(), customer__opt_out=False)
            .select_related("customer")
            .only("customer__id", "customer__timezone", "segment_id", "top_items")
        )
        mode_hours = self.mode_hours(day_start)
        titles = dict(Item.objects.values_list("external_id", "title"))
        rows = []
        for p in profiles:
            kind = first_type.get(p.segment_id)
            if kind is None:
                continue
            c = p.customer
            hour = mode_hours.get(c.pk, 12)
            local = dt.datetime.combine(day_start.astimezone(c.zone).date(), dt.time(hour), tzinfo=c.zone)
            at = local.astimezone(dt.UTC)
            if at < day_start:
                at += DAY
            items = [p.top_items[0]["item_id"]] if p.top_items else []
            rows.append(self._row(c.pk, kind, at, items, titles, "seed"))
        Notification.objects.insert_new(NOTIFICATION_FIELDS, rows)

    def mode_hours(self, until: dt.datetime) -> dict[int, int]:
        """Each customer's most frequent local hour of activity (the original project's rule)."""
        counts: dict[int, np.ndarray] = {}
        zones = dict(Customer.objects.filter(pk__in=self.customer_pk.tolist()).values_list("pk", "timezone"))
        events = Event.objects.filter(customer_id__in=self.customer_pk.tolist(), occurred_at__lt=until)
        for pk, at in events.values_list("customer_id", "occurred_at").iterator(chunk_size=20_000):
            hours = counts.setdefault(pk, np.zeros(24, dtype=np.int64))
            hours[at.astimezone(_zone(zones[pk])).hour] += 1
        return {pk: int(np.argmax(hours)) for pk, hours in counts.items()}

    @staticmethod
    def _row(customer_pk: int, kind: NotificationType, at: dt.datetime, items: list[str], titles: dict, policy: str):
        title, body, link = planner.render(kind, None, items, titles, "")
        now = timezone.now()
        return (
            # Keyed by the UTC date, as these stand-in policies always were (one a day each).
            customer_pk, policy, None, kind.pk, at.date(), Notification.Status.PLANNED, "", "", at,
            title[:200], body[:500], link[:300], items, False, {"policy": policy}, now, now,
        )  # fmt: skip

    # The phones ------------------------------------------------------------------------------------

    def phones_answer(self, now: dt.datetime) -> None:
        """Every push handed to the provider at `now` reaches its phone; its owner reacts."""
        delivered = list(
            Delivery.objects.filter(status=Delivery.Status.SENT, sent_at=now)
            .order_by("notification__customer__external_id", "notification_id")
            .values_list("notification_id", "notification__customer_id", "notification__item_ids")
        )
        if not delivered:
            return
        now_ms = _ms(now)
        users = np.array([self.user_of[pk] for _, pk, _ in delivered])
        pushes = np.array([self._pushes_last_week(u, now_ms) for u in users])
        k = max(1, max(len(items or []) for _, _, items in delivered))
        shown = np.full((len(delivered), k), -1, dtype=np.int64)
        for row, (_, _, items) in enumerate(delivered):
            for col, item in enumerate(items or []):
                shown[row, col] = self.item_position.get(str(item), -1)
        how = self.world.local_hour_of_week(users, now_ms)
        p_open = self.world.open_probability(users, how, shown, pushes)
        p_quit = self.world.opt_out_probability(users, pushes)
        first_item = shown[:, 0]
        p_buy = np.where(first_item >= 0, self.world.purchase_probability(users, np.maximum(first_item, 0)), 0.0)
        draws = self.rng.random((len(delivered), 5))
        purchases = []
        with transaction.atomic():
            for row, (notification_id, customer_pk, _) in enumerate(delivered):
                u = users[row]
                self.received[u].append(now_ms)
                context = {"battery": int(20 + draws[row, 4] * 80), "network": "wifi", "app_state": "background"}
                later = now + dt.timedelta(minutes=1 + int(draws[row, 3] * 50))
                self.report(customer_pk, notification_id, Feedback.Action.DELIVERED, now, context)
                if draws[row, 0] < p_open[row]:
                    self.report(customer_pk, notification_id, Feedback.Action.OPENED, later, context)
                    if draws[row, 2] < p_buy[row]:
                        purchases.append((customer_pk, int(first_item[row]), now + dt.timedelta(minutes=55)))
                elif draws[row, 1] < self.world.params.dismiss_probability:
                    self.report(customer_pk, notification_id, Feedback.Action.DISMISSED, later, context)
        self.store_purchases(purchases)
        quitting = np.flatnonzero(self.rng.random(len(delivered)) < p_quit)
        for row in quitting:
            customer = Customer.objects.get(pk=delivered[row][1])
            preferences_update(customer=customer, opt_out=True, now=now)

    @staticmethod
    def report(customer_pk: int, notification_id: int, action: str, at: dt.datetime, context: dict) -> None:
        """What the phone's SDK posts to /notifications/{id}/feedback, through the same service."""
        services.feedback_record(
            customer_id=customer_pk, notification_id=notification_id, action=action, at=at, context=context
        )

    def _pushes_last_week(self, u: int, now_ms: int) -> int:
        seen = self.received[u]
        while seen and seen[0] <= now_ms - WEEK_MS:
            seen.popleft()
        return len(seen)

    def store_purchases(self, purchases: list[tuple]) -> None:
        received = timezone.now()
        rows = []
        for customer_pk, item, at in purchases:
            self.purchase_count += 1
            n = self.purchase_count
            price = round(float(self.world.item_price[item]), 2)
            event_id = f"sim-{self.world.seed}-push-{n}"
            rows.append((event_id, customer_pk, int(self.item_pk[item]), EventType.TRANSACTION, price, f"push-{n}", at,
                         received, EventSource.APP))  # fmt: skip
        insert_ignoring_duplicates(Event, EVENT_FIELDS, rows)


def clear_previous_simulation() -> None:
    """A run starts from an empty database, or one holding only an earlier simulation's rows."""
    others = Customer.objects.exclude(external_id__regex=r"^u[0-9]+$")
    if others.exists():
        raise ValueError(
            f"this database holds {others.count()} real customers: simulate only runs on an empty database "
            "(e.g. DATABASE_URL=sqlite:///sim.sqlite3)"
        )
    Customer.objects.all().delete()  # cascades: events, devices, notifications, feedback, profiles
    for platform in Platform.values:
        push_device_model(platform).objects.all().delete()
    Item.objects.all().delete()
    services.sending_resume(by=None)


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _at(ms) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.UTC)


_ZONES: dict = {}


def _zone(name: str):
    import zoneinfo

    if name not in _ZONES:
        _ZONES[name] = zoneinfo.ZoneInfo(name)
    return _ZONES[name]


class _Null:
    def write(self, *args, **kwargs) -> None:
        pass

    def flush(self) -> None:
        pass
