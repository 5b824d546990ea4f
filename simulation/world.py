"""A simulated world with known ground truth: a catalog, the people who shop in it, and how they
answer push notifications. `generate_events` writes its behaviour log; the closed-loop simulator
asks it how each person reacts to each push.

    world = World.generate(WorldParams(n_users=5000), seed=1)
    log = world.sample_events(start_ms, days=60, rng=2)   # RetailRocket-layout events + sessions
    events, catalog = sample_interactions(8000, 500, 300)  # the same, sized for the recommender's tests

Generative model (everything from one seed):
- categories form a tree; a category's latent vector is its parent's plus noise, an item's is its
  category's plus noise, so siblings are alike and items of a category are alike;
- a person's taste mixes the vectors of one to a few favourite categories, plus noise;
  `affinity(u, i)` is taste · item vector, standardised over random pairs (≈ N(0, 1): 0 is a
  random item, 2–4 an item of a favourite category);
- sessions follow an inhomogeneous Poisson process: sessions a week × the person's hour-of-week
  profile in their own time zone (a mixture of a few daily peaks, different on weekends),
  converted to UTC per 15-minute slot through zoneinfo, so daylight saving is exact;
- a session picks a category by softmax(taste_strength · category affinity + log popularity),
  then its views by softmax(taste_strength · affinity + popularity_weight · log popularity)
  within it (a nested logit);
- a view becomes an add-to-cart with `view_to_cart · exp(relevance_purchase · affinity)`, a cart
  a purchase with `cart_to_purchase`; purchases of repeatable items are bought again in a later
  session of the same person. Withdrawn items are still viewed but no longer bought.

Nothing here imports Django: numpy / pandas in, dataclasses and frames out.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from recommender.ml.data import DAY_MS, ItemCatalog, events_frame

HOURS_PER_WEEK = 168
SLOT_MS = 15 * 60_000  # every real zone's offset is a multiple of 15 minutes
REFERENCE_MS = 1_704_067_200_000  # 2024-01-01T00:00Z, the default start and the default clock
MAX_CART = 0.9  # caps view → add-to-cart however relevant the item

DEFAULT_TIMEZONES = {
    "Europe/London": 0.18,
    "Europe/Berlin": 0.2,
    "America/New_York": 0.2,
    "America/Los_Angeles": 0.12,
    "Asia/Tokyo": 0.1,
    "Asia/Kolkata": 0.08,
    "Australia/Sydney": 0.12,
}
# Candidate daily peaks: `share` of people have it, `weekend` scales it on Saturday and Sunday.
DEFAULT_PEAKS = {
    "morning": {"hour": 7.5, "share": 0.35, "weekend": 0.4},
    "lunch": {"hour": 12.5, "share": 0.4, "weekend": 0.8},
    "evening": {"hour": 20.0, "share": 0.75, "weekend": 1.2},
    "late": {"hour": 23.0, "share": 0.25, "weekend": 1.3},
}


@dataclass(frozen=True)
class WorldParams:
    # Catalog
    n_users: int = 10_000
    n_items: int = 5_000
    n_categories: int = 100  # leaf categories; items belong to these
    category_depth: int = 3  # levels from a root to a leaf
    category_branching: int = 6  # children per parent category
    category_size_sigma: float = 0.8  # log-normal spread of the number of items per category
    latent_dim: int = 16
    category_spread: float = 1.0  # a child category's vector = parent's + this × noise
    item_spread: float = 0.7  # an item's vector = its category's + this × noise
    popularity_exponent: float = 0.9  # Zipf exponent of item popularity
    price_median: float = 25.0
    category_price_sigma: float = 0.8  # log-normal spread of price levels between categories
    price_sigma: float = 0.5  # and of prices within a category
    unavailable_share: float = 0.1  # items withdrawn during the log (still viewed, no longer sold)
    repeat_item_share: float = 0.2  # items people buy again (consumables)
    # People
    timezones: dict = field(default_factory=lambda: dict(DEFAULT_TIMEZONES))  # IANA name -> share
    favourite_categories_max: int = 3
    taste_noise: float = 0.5
    activity_median: float = 1.2  # sessions a week
    activity_sigma: float = 1.0  # log-normal spread of sessions a week between people
    activity_peaks: dict = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_PEAKS.items()})
    peak_jitter_hours: float = 1.0  # a person's peak hour = the candidate's ± this
    peak_width_hours: float = 1.2  # median width (standard deviation) of a peak
    weekend_shift_hours: float = 1.5  # peaks come later on weekends, by about this much
    activity_floor: float = 0.08  # share of activity spread evenly over the week (nights included)
    # Behaviour
    taste_strength: float = 2.0  # softmax temperature on affinity for categories and items
    popularity_weight: float = 0.5  # weight of log popularity next to it
    session_views_mean: float = 4.0
    view_gap_seconds: float = 45.0
    view_to_cart: float = 0.012  # at affinity 0
    cart_to_purchase: float = 0.35
    relevance_purchase: float = 0.5  # cart (and so purchase) odds × exp(this × affinity)
    quantity_mean: float = 1.2
    repeat_probability: float = 0.5  # chance a repeatable item bought is bought again
    repeat_interval_days: float = 21.0  # mean delay before buying again
    # Answering pushes (used by the simulator)
    open_base_mean: float = 0.05  # mean of the per-person base open probability (beta distributed)
    open_base_concentration: float = 12.0  # beta a + b: higher = people more alike
    open_timing_effect: float = 0.4  # open × (168 × activity share of that local hour) ** this
    open_relevance: float = 0.25  # open × exp(this × affinity of the best item shown)
    open_max: float = 0.9
    fatigue_per_push: float = 0.12  # open × exp(−this × pushes received in the last 7 days)
    tolerance_median: float = 5.0  # pushes a week a person accepts before getting annoyed
    tolerance_sigma: float = 0.5
    opt_out_base: float = 0.0005  # chance that any push makes a person opt out
    annoyance_per_push: float = 0.005  # + this per push in the last 7 days beyond their tolerance
    dismiss_probability: float = 0.3  # an unopened push is explicitly dismissed with this chance

    @classmethod
    def from_json(cls, source: str | Path | dict, **overrides) -> WorldParams:
        """Defaults overridden by a JSON file (or dict) of parameters, then by `overrides`.

        A world.json written by `generate_events` (`{"seed", "params", …}`) is read through its
        "params". Unknown keys, wrong types and out-of-range values raise ValueError.
        """
        if isinstance(source, dict):
            data = source
        else:
            try:
                data = json.loads(Path(source).read_text())
            except OSError as exc:
                raise ValueError(f"{source}: cannot read ({exc.strerror})") from None
            except json.JSONDecodeError as exc:
                raise ValueError(f"{source}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError("world parameters must be a JSON object")
        if isinstance(data.get("params"), dict):
            data = data["params"]
        data = {**data, **overrides}
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown world parameter(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        defaults = cls()
        values = {}
        for name, value in data.items():
            default = getattr(defaults, name)
            if isinstance(default, dict):
                ok = isinstance(value, dict)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                value = float(value) if ok else value
            if not ok:
                raise ValueError(f"world parameter {name}: expected {type(default).__name__}, got {value!r}")
            values[name] = value
        return replace(defaults, **values).validated()

    def validated(self) -> WorldParams:
        """Itself, after checking every value; ValueError names the first bad one."""
        at_least_one = ("n_users", "n_items", "n_categories", "category_depth", "latent_dim")
        shares = (
            "unavailable_share",
            "repeat_item_share",
            "activity_floor",
            "view_to_cart",
            "cart_to_purchase",
            "repeat_probability",
            "open_max",
            "opt_out_base",
            "dismiss_probability",
        )
        not_negative = (
            "category_size_sigma",
            "category_spread",
            "item_spread",
            "popularity_exponent",
            "category_price_sigma",
            "price_sigma",
            "taste_noise",
            "activity_sigma",
            "peak_jitter_hours",
            "weekend_shift_hours",
            "taste_strength",
            "popularity_weight",
            "view_gap_seconds",
            "relevance_purchase",
            "open_timing_effect",
            "open_relevance",
            "fatigue_per_push",
            "tolerance_sigma",
            "annoyance_per_push",
        )
        positive = ("price_median", "activity_median", "peak_width_hours", "repeat_interval_days")
        positive += ("open_base_concentration", "tolerance_median")
        checks = [(n, getattr(self, n) >= 1, "at least 1") for n in at_least_one]
        checks += [(n, 0 <= getattr(self, n) <= 1, "between 0 and 1") for n in shares]
        checks += [(n, getattr(self, n) >= 0, "0 or more") for n in not_negative]
        checks += [(n, getattr(self, n) > 0, "positive") for n in positive]
        checks += [
            ("category_branching", self.category_branching >= 2, "at least 2"),
            ("favourite_categories_max", self.favourite_categories_max >= 1, "at least 1"),
            ("session_views_mean", self.session_views_mean >= 1, "1 or more"),
            ("quantity_mean", self.quantity_mean >= 1, "1 or more"),
            ("open_base_mean", 0 < self.open_base_mean < 1, "strictly between 0 and 1"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"world parameter {name} must be {expected}, got {getattr(self, name)!r}")
        if not self.timezones or sum(self.timezones.values()) <= 0 or min(self.timezones.values()) < 0:
            raise ValueError("world parameter timezones must map IANA names to shares (≥ 0, not all 0)")
        for name in self.timezones:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"world parameter timezones: unknown time zone {name!r}") from None
        if not self.activity_peaks:
            raise ValueError("world parameter activity_peaks must name at least one peak")
        for name, peak in self.activity_peaks.items():
            if not isinstance(peak, dict) or set(peak) != {"hour", "share", "weekend"}:
                raise ValueError(f"world parameter activity_peaks[{name!r}] must be {{'hour', 'share', 'weekend'}}")
            if not (0 <= peak["hour"] < 24 and 0 <= peak["share"] <= 1 and peak["weekend"] >= 0):
                raise ValueError(f"world parameter activity_peaks[{name!r}]: hour 0–24, share 0–1, weekend ≥ 0")
        return self


@dataclass
class EventLog:
    """What `World.sample_events` draws.

    `events`: the RetailRocket layout (timestamp ms UTC, visitorid, event, itemid, transactionid,
    amount), sorted by time. `sessions`: one row per visit (user position, start ms, views) — an
    app open, for whoever needs those. `withdrawn_ms`: per item, when it became unavailable
    (-1 = never in this log).
    """

    events: pd.DataFrame
    sessions: pd.DataFrame
    withdrawn_ms: np.ndarray
    start_ms: int
    end_ms: int


@dataclass
class World:
    """The ground truth. Users and items are addressed by position (0-based) in every method;
    `user_ids` / `item_ids` are their external ids."""

    params: WorldParams
    seed: int
    # Categories (all levels); parent 0 = a root.
    category_ids: np.ndarray
    category_parent: np.ndarray
    leaf_ids: np.ndarray  # the categories items belong to
    leaf_vectors: np.ndarray  # float32 leaves × dim
    leaf_start: np.ndarray  # items of leaf c are positions leaf_start[c]:leaf_start[c + 1]
    # Items
    item_ids: np.ndarray  # int64
    item_leaf: np.ndarray  # position in leaf_ids
    item_price: np.ndarray
    item_available: np.ndarray  # bool: the catalog as it stands at the end of a log
    item_popularity: np.ndarray  # shares, sum 1
    item_repeatable: np.ndarray  # bool
    item_vectors: np.ndarray  # float32 items × dim
    # Users
    user_ids: np.ndarray  # object: "u1", "u2", …
    zones: tuple[str, ...]
    user_zone: np.ndarray  # position in zones
    user_taste: np.ndarray  # float32 users × dim
    user_favourites: np.ndarray  # leaf positions, users × favourite_categories_max, -1 pads
    activity_rate: np.ndarray  # sessions a week
    activity_profile: np.ndarray  # float32 users × 168, local hour of week (0 = Monday 00:00), rows sum 1
    open_base: np.ndarray
    tolerance: np.ndarray  # pushes a week
    affinity_mean: float
    affinity_std: float

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def user_timezone(self) -> np.ndarray:
        return np.asarray(self.zones, dtype=object)[self.user_zone]

    @property
    def item_category(self) -> np.ndarray:
        return self.leaf_ids[self.item_leaf]

    def user_index(self, ids) -> np.ndarray:
        """Positions of external user ids (any shape); -1 for unknown ones."""
        ids = np.asarray(ids, dtype=object)
        return pd.Index(self.user_ids).get_indexer(ids.ravel()).reshape(ids.shape)

    def item_index(self, ids) -> np.ndarray:
        """Positions of external item ids (ints or their strings, any shape); -1 for unknown ones."""
        ids = np.asarray(ids)
        numbers = pd.to_numeric(pd.Series(ids.ravel()), errors="coerce").fillna(-1).astype(np.int64)
        return pd.Index(self.item_ids).get_indexer(numbers).reshape(ids.shape)

    # Building ------------------------------------------------------------------------------------

    @classmethod
    def generate(cls, params: WorldParams | None = None, seed: int = 0) -> World:
        p = (params or WorldParams()).validated()
        rng = np.random.default_rng(seed)
        d = p.latent_dim

        # Category tree, built from the leaves up; ids 1.. in breadth-first order.
        sizes = [p.n_categories]
        for _ in range(p.category_depth - 1):
            sizes.insert(0, math.ceil(sizes[0] / p.category_branching))
        offsets = np.cumsum([0] + sizes)
        parent = np.zeros(offsets[-1], dtype=np.int64)
        vectors = np.empty((offsets[-1], d))
        vectors[: sizes[0]] = rng.standard_normal((sizes[0], d))
        for level in range(1, len(sizes)):
            child = np.arange(sizes[level])
            up = offsets[level - 1] + child * sizes[level - 1] // sizes[level]
            parent[offsets[level] + child] = up + 1
            noise = rng.standard_normal((sizes[level], d))
            vectors[offsets[level] : offsets[level + 1]] = vectors[up] + p.category_spread * noise
        # Same length for every category, so a favourite is not outscored by a merely longer vector.
        vectors *= math.sqrt(d) / np.linalg.norm(vectors, axis=1, keepdims=True)
        leaves = np.arange(offsets[-2], offsets[-1])
        n_leaves = len(leaves)

        # Items: contiguous per leaf, Zipf popularity over a random order.
        leaf_weight = rng.lognormal(0.0, p.category_size_sigma, n_leaves)
        item_leaf = np.sort(rng.choice(n_leaves, p.n_items, p=leaf_weight / leaf_weight.sum()))
        leaf_start = np.searchsorted(item_leaf, np.arange(n_leaves + 1))
        popularity = (rng.permutation(p.n_items) + 1.0) ** -p.popularity_exponent
        popularity /= popularity.sum()
        item_vectors = vectors[leaves][item_leaf] + p.item_spread * rng.standard_normal((p.n_items, d))
        price_level = p.price_median * rng.lognormal(0.0, p.category_price_sigma, n_leaves)
        price = np.maximum(np.round(price_level[item_leaf] * rng.lognormal(0.0, p.price_sigma, p.n_items), 2), 0.5)
        available = rng.random(p.n_items) >= p.unavailable_share
        repeatable = rng.random(p.n_items) < p.repeat_item_share

        # Users: taste mixes favourite leaves (popular categories have more fans).
        zones = tuple(p.timezones)
        share = np.array([p.timezones[z] for z in zones], dtype=float)
        user_zone = rng.choice(len(zones), p.n_users, p=share / share.sum())
        leaf_pop = np.bincount(item_leaf, weights=popularity, minlength=n_leaves)
        k_max = p.favourite_categories_max
        favourites = np.stack(
            [rng.choice(n_leaves, p.n_users, p=np.sqrt(leaf_pop) / np.sqrt(leaf_pop).sum()) for _ in range(k_max)],
            axis=1,
        )
        n_fav = rng.integers(1, k_max + 1, p.n_users)
        mix = rng.gamma(1.0, 1.0, (p.n_users, k_max))
        mix[np.arange(k_max)[None, :] >= n_fav[:, None]] = 0.0
        mix /= mix.sum(axis=1, keepdims=True)
        favourites[mix == 0] = -1
        leaf_vectors = vectors[leaves]
        taste = np.einsum("uk,ukd->ud", mix, leaf_vectors[np.maximum(favourites, 0)])
        taste += p.taste_noise * rng.standard_normal((p.n_users, d))

        rate = p.activity_median * rng.lognormal(0.0, p.activity_sigma, p.n_users)
        profile = _activity_profiles(p, rng)
        a = p.open_base_mean * p.open_base_concentration
        open_base = rng.beta(a, p.open_base_concentration - a, p.n_users)
        tolerance = p.tolerance_median * rng.lognormal(0.0, p.tolerance_sigma, p.n_users)

        # Standardise affinity over random (user, item) pairs: 0 = a random item, 1 = one sd above.
        pu, pi = rng.integers(0, p.n_users, 100_000), rng.integers(0, p.n_items, 100_000)
        raw = np.einsum("nd,nd->n", taste[pu], item_vectors[pi]) / math.sqrt(d)
        return cls(
            params=p,
            seed=seed,
            category_ids=np.arange(1, offsets[-1] + 1, dtype=np.int64),
            category_parent=parent,
            leaf_ids=leaves + 1,
            leaf_vectors=leaf_vectors.astype(np.float32),
            leaf_start=leaf_start,
            item_ids=np.arange(1, p.n_items + 1, dtype=np.int64),
            item_leaf=item_leaf,
            item_price=price,
            item_available=available,
            item_popularity=popularity,
            item_repeatable=repeatable,
            item_vectors=item_vectors.astype(np.float32),
            user_ids=np.array([f"u{i}" for i in range(1, p.n_users + 1)], dtype=object),
            zones=zones,
            user_zone=user_zone,
            user_taste=taste.astype(np.float32),
            user_favourites=favourites,
            activity_rate=rate,
            activity_profile=profile,
            open_base=open_base,
            tolerance=tolerance,
            affinity_mean=float(raw.mean()),
            affinity_std=float(raw.std()),
        )

    @classmethod
    def load(cls, path: str | Path) -> World:
        """Rebuilds the world a `generate_events` run described in its world.json."""
        data = json.loads(Path(path).read_text())
        return cls.generate(WorldParams.from_json(data), int(data.get("seed", 0)))

    # Ground truth the simulator asks about ------------------------------------------------------------

    def affinity(self, users, items) -> np.ndarray:
        """True relevance of items to users (standardised; broadcasts like numpy: users (n,) with
        items (n,) pairs them, users (n, 1) with items (n, k) scores k items per user)."""
        users, items = np.asarray(users), np.asarray(items)
        raw = np.einsum("...d,...d->...", self.user_taste[users], self.item_vectors[items], dtype=np.float64)
        return (raw / math.sqrt(self.params.latent_dim) - self.affinity_mean) / self.affinity_std

    def affinity_matrix(self, users, items=None) -> np.ndarray:
        """users × items affinity (all items by default), float32."""
        v = self.item_vectors if items is None else self.item_vectors[np.asarray(items)]
        scale = 1.0 / (math.sqrt(self.params.latent_dim) * self.affinity_std)
        out = self.user_taste[np.asarray(users)] @ v.T
        out *= scale
        out -= self.affinity_mean / self.affinity_std
        return out

    def purchase_probability(self, users, items) -> np.ndarray:
        """P(buy | the person looks at the item): view → cart → purchase. Broadcasts like `affinity`."""
        return self.cart_probability(users, items) * self.params.cart_to_purchase

    def cart_probability(self, users, items) -> np.ndarray:
        """P(add to cart | the person looks at the item). Broadcasts like `affinity`."""
        p = self.params
        return np.minimum(p.view_to_cart * np.exp(p.relevance_purchase * self.affinity(users, items)), MAX_CART)

    def open_probability(self, users, local_hour_of_week, items=None, pushes_last_7d=0) -> np.ndarray:
        """P(open) of a push delivered at `local_hour_of_week` (the person's own time, 0 = Monday
        00:00) to people who received `pushes_last_7d` pushes in the 7 days before it.

        `items`: what the push shows — (n,) or (n, k) positions, -1 pads; the best one counts.
        None or a row of -1 (a push without items) counts as affinity 0, a random item.
        """
        p = self.params
        users = np.asarray(users)
        how = np.asarray(local_hour_of_week, dtype=np.int64) % HOURS_PER_WEEK
        timing = (HOURS_PER_WEEK * self.activity_profile[users, how].astype(np.float64)) ** p.open_timing_effect
        relevance = np.zeros(users.shape)
        if items is not None:
            items = np.asarray(items)
            if items.ndim == users.ndim:
                items = items[..., None]
            shown = items >= 0
            aff = np.where(shown, self.affinity(users[..., None], np.maximum(items, 0)), -np.inf).max(axis=-1)
            relevance = np.where(shown.any(axis=-1), aff, 0.0)
        fatigue = np.exp(-p.fatigue_per_push * np.asarray(pushes_last_7d, dtype=np.float64))
        prob = self.open_base[users] * timing * np.exp(p.open_relevance * relevance) * fatigue
        return np.minimum(prob, p.open_max)

    def opt_out_probability(self, users, pushes_last_7d) -> np.ndarray:
        """P(a push makes the person opt out for good), given the pushes they received in the 7 days
        before it: a small base rate, plus `annoyance_per_push` per push beyond their tolerance."""
        p = self.params
        excess = np.maximum(np.asarray(pushes_last_7d, dtype=np.float64) - self.tolerance[np.asarray(users)], 0.0)
        return np.minimum(p.opt_out_base + p.annoyance_per_push * excess, 1.0)

    def activity(self, users, utc_hour_of_week, at_ms: int | None = None) -> np.ndarray:
        """P(the person visits at least once during that UTC hour of the week).

        The hour is converted to each person's local time with the offsets in force at `at_ms`
        (default 2024-01-01, winter in the north): pass the simulated clock to follow daylight
        saving. Zones half an hour off UTC use the local hour holding the UTC hour's middle.
        """
        users = np.asarray(users)
        offsets = self.zone_offsets_minutes(REFERENCE_MS if at_ms is None else at_ms)[self.user_zone[users]]
        minutes = np.asarray(utc_hour_of_week, dtype=np.int64) * 60 + 30 + offsets
        local = (minutes // 60) % HOURS_PER_WEEK
        rate = self.activity_rate[users] * self.activity_profile[users, local]
        return -np.expm1(-rate)

    def zone_offsets_minutes(self, at_ms: int) -> np.ndarray:
        """UTC offset of each of `zones` at that instant, in minutes."""
        at = dt.datetime.fromtimestamp(at_ms / 1000, tz=dt.UTC)
        return np.array([at.astimezone(ZoneInfo(z)).utcoffset() // dt.timedelta(minutes=1) for z in self.zones])

    def local_hour_of_week(self, users, utc_ms) -> np.ndarray:
        """Each person's local hour of the week (0 = Monday 00:00) at the given instants (DST-exact)."""
        users, utc_ms = np.broadcast_arrays(np.asarray(users), np.asarray(utc_ms, dtype=np.int64))
        out = np.empty(users.shape, dtype=np.int64)
        zone = self.user_zone[users]
        for z, name in enumerate(self.zones):
            mask = zone == z
            if mask.any():
                local = pd.DatetimeIndex(pd.to_datetime(utc_ms[mask], unit="ms", utc=True)).tz_convert(ZoneInfo(name))
                out[mask] = local.day_of_week * 24 + local.hour
        return out

    # The behaviour log ------------------------------------------------------------------------------

    def sample_events(self, start_ms: int, days: float, rng=None) -> EventLog:
        """Draws the behaviour log of [start, start + days) — start rounded down to 15 minutes.

        `rng`: a numpy Generator or a seed. Vectorised: a million events take a few seconds.
        """
        p = self.params
        rng = np.random.default_rng(rng)
        start_ms = int(start_ms) // SLOT_MS * SLOT_MS
        n_slots = max(1, round(days * DAY_MS / SLOT_MS))
        end_ms = start_ms + n_slots * SLOT_MS

        # Local hour of week of every 15-minute UTC slot, per zone (exact through DST changes).
        slots = pd.to_datetime(start_ms + np.arange(n_slots, dtype=np.int64) * SLOT_MS, unit="ms", utc=True)
        slot_how = np.empty((len(self.zones), n_slots), dtype=np.int64)
        for z, name in enumerate(self.zones):
            local = pd.DatetimeIndex(slots).tz_convert(ZoneInfo(name))
            slot_how[z] = local.day_of_week * 24 + local.hour
        slot_count = np.stack([np.bincount(h, minlength=HOURS_PER_WEEK) for h in slot_how])  # zones × 168
        slot_order = np.argsort(slot_how, axis=1, kind="stable")
        slot_first = np.concatenate([np.zeros((len(self.zones), 1), int), np.cumsum(slot_count, 1)[:, :-1]], 1)

        # Sessions: Poisson with mean = sessions a week × the profile over the hours in the window.
        # profile @ hours: users × zones, where hours[h, z] = how many times local hour h occurs in z.
        per_zone = self.activity_profile @ (slot_count.T / 4.0).astype(np.float32)
        expected = self.activity_rate * per_zone[np.arange(self.n_users), self.user_zone]
        n_sessions = rng.poisson(expected)
        user = np.repeat(np.arange(self.n_users), n_sessions)
        how = _sample_by_row(
            lambda rows: self.activity_profile[rows] * slot_count[self.user_zone[rows]], user, self.n_users, rng
        )
        zone = self.user_zone[user]
        pick = slot_first[zone, how] + (rng.random(len(user)) * slot_count[zone, how]).astype(np.int64)
        start = start_ms + slot_order[zone, pick] * SLOT_MS + rng.integers(0, SLOT_MS, len(user))
        order = np.lexsort((start, user))
        user, start = user[order], start[order]

        # A category per session, then its views within that category (a nested logit: the
        # category's popularity term is the log of its items' weighted popularity).
        pop = self.item_popularity**p.popularity_weight
        log_leaf_pop = _log(np.bincount(self.item_leaf, weights=pop, minlength=len(self.leaf_ids)))
        leaf_scale = p.taste_strength / (math.sqrt(p.latent_dim) * self.affinity_std)

        def leaf_weights(rows):
            logits = (self.user_taste[rows] @ self.leaf_vectors.T) * leaf_scale + log_leaf_pop
            return np.exp(logits - logits.max(axis=1, keepdims=True))

        leaf = _sample_by_row(leaf_weights, user, self.n_users, rng)
        n_views = rng.geometric(1.0 / p.session_views_mean, len(user))
        session = np.repeat(np.arange(len(user)), n_views)
        first_view = np.cumsum(n_views) - n_views
        gaps = rng.exponential(p.view_gap_seconds * 1000, len(session))
        gaps[first_view] = 0.0
        elapsed = np.cumsum(gaps)
        view_t = start[session] + (elapsed - elapsed[first_view][session]).astype(np.int64)
        item = self._views_within_leaves(user, leaf, session, rng)

        # Funnel: cart likelier for relevant items; no cart or purchase once an item is withdrawn.
        withdrawn = np.full(self.n_items, -1, dtype=np.int64)
        gone = np.flatnonzero(~self.item_available)
        withdrawn[gone] = rng.integers(start_ms, end_ms, len(gone))
        sellable = (withdrawn[item] < 0) | (view_t < withdrawn[item])
        cart = sellable & (rng.random(len(item)) < self.cart_probability(user[session], item))
        buy = cart & (rng.random(len(item)) < p.cart_to_purchase)
        last_view_t = view_t[first_view + n_views - 1]
        cart_t = view_t[cart] + rng.integers(5_000, 60_000, cart.sum())
        buy_t = last_view_t[session[buy]] + rng.integers(60_000, 600_000, buy.sum())

        parts = [
            (session, item, view_t, 0),
            (session[cart], item[cart], cart_t, 1),
            (session[buy], item[buy], buy_t, 2),
        ]
        bought = (session[buy], item[buy], buy_t)
        parts += self._repeat_purchases(user, start, last_view_t, bought, withdrawn, start_ms, end_ms, rng)
        sess = np.concatenate([s for s, _, _, _ in parts])
        items = np.concatenate([i for _, i, _, _ in parts])
        ts = np.concatenate([t for _, _, t, _ in parts]).astype(np.int64)
        kind = np.concatenate([np.full(len(s), k, dtype=np.int8) for s, _, _, k in parts])
        keep = ts < end_ms
        sess, items, ts, kind = sess[keep], items[keep], ts[keep], kind[keep]
        order = np.argsort(ts, kind="stable")
        sess, items, ts, kind = sess[order], items[order], ts[order], kind[order]

        # One transaction id per session with purchases; amount = price × quantity.
        is_buy = kind == 2
        transaction = np.zeros(len(ts), dtype=np.int64)
        transaction[is_buy] = np.unique(sess[is_buy], return_inverse=True)[1] + 1
        amount = np.full(len(ts), np.nan)
        quantity = 1 + rng.poisson(p.quantity_mean - 1.0, is_buy.sum())
        amount[is_buy] = np.round(self.item_price[items[is_buy]] * quantity, 2)
        events = pd.DataFrame(
            {
                "timestamp": ts,
                "visitorid": self.user_ids[user[sess]],
                "event": pd.Categorical.from_codes(kind, ["view", "addtocart", "transaction"]),
                "itemid": self.item_ids[items],
                "transactionid": pd.arrays.IntegerArray(transaction, ~is_buy),
                "amount": amount,
            }
        )
        sessions = pd.DataFrame({"user": user, "start_ms": start, "views": n_views})
        return EventLog(events=events, sessions=sessions, withdrawn_ms=withdrawn, start_ms=start_ms, end_ms=end_ms)

    def _views_within_leaves(self, user, leaf, session, rng) -> np.ndarray:
        """Item positions of the views: each from its session's leaf, by softmax over affinity and
        popularity. One probability row per session, shared by its views."""
        p = self.params
        item = np.empty(len(session), dtype=np.int64)
        u = rng.random(len(session))
        scale = np.float32(p.taste_strength / (math.sqrt(p.latent_dim) * self.affinity_std))
        log_pop = (p.popularity_weight * np.log(self.item_popularity)).astype(np.float32)
        by_leaf = np.argsort(leaf[session], kind="stable")  # views grouped by leaf, sessions in order
        bounds = np.searchsorted(leaf[session][by_leaf], np.arange(len(self.leaf_ids) + 1))
        for c in np.flatnonzero(np.diff(bounds)):
            views = by_leaf[bounds[c] : bounds[c + 1]]
            lo, hi = self.leaf_start[c], self.leaf_start[c + 1]
            sessions, row = np.unique(session[views], return_inverse=True)  # row: non-decreasing
            # Rows in blocks so that a popular leaf of a big catalog stays within a few MB.
            step = max(1, 2_000_000 // (hi - lo))
            cuts = np.searchsorted(row, np.arange(0, len(sessions) + step, step))
            for b, first in enumerate(range(0, len(sessions), step)):
                block = sessions[first : first + step]
                logits = (self.user_taste[user[block]] @ self.item_vectors[lo:hi].T) * scale + log_pop[lo:hi]
                weights = np.exp(logits - logits.max(axis=1, keepdims=True))
                sel = views[cuts[b] : cuts[b + 1]]
                item[sel] = lo + _sample_rows(weights, row[cuts[b] : cuts[b + 1]] - first, u[sel])
        return item

    def _repeat_purchases(self, user, start, last_view_t, bought, withdrawn, start_ms, end_ms, rng) -> list:
        """Repeatable items bought again — view, cart, purchase — in the person's first session
        after a gamma-distributed delay (shape 4: restocking is fairly regular)."""
        p = self.params
        span = end_ms - start_ms
        key = user * span + (start - start_ms)  # sessions are sorted by (user, start)
        buy_session, buy_item, buy_t = bought
        parts = []
        for _ in range(50):  # each round repeats the previous round's purchases once more
            again = self.item_repeatable[buy_item] & (rng.random(len(buy_item)) < p.repeat_probability)
            s, i = buy_session[again], buy_item[again]
            due = buy_t[again] + (rng.gamma(4.0, p.repeat_interval_days / 4.0, len(s)) * DAY_MS).astype(np.int64)
            nxt = np.searchsorted(key, user[s] * span + np.minimum(due, end_ms) - start_ms)
            ok = (due < end_ms) & (nxt < len(key))
            ok[ok] &= user[nxt[ok]] == user[s[ok]]
            s, i, nxt = s[ok], i[ok], nxt[ok]
            view_t = last_view_t[nxt] + rng.integers(20_000, 300_000, len(s))
            sellable = (withdrawn[i] < 0) | (view_t < withdrawn[i])
            i, nxt, view_t = i[sellable], nxt[sellable], view_t[sellable]
            if not len(i):
                break
            cart_t = view_t + rng.integers(5_000, 60_000, len(i))
            buy_t = cart_t + rng.integers(30_000, 300_000, len(i))
            parts += [(nxt, i, view_t, 0), (nxt, i, cart_t, 1), (nxt, i, buy_t, 2)]
            buy_session, buy_item = nxt, i
        return parts


def _activity_profiles(p: WorldParams, rng: np.random.Generator) -> np.ndarray:
    """users × 168 shares of a person's weekly visits per local hour: a few daily peaks each
    person has or not, at their own hour and width, later and differently weighted on weekends."""
    n = p.n_users
    hod = np.arange(24) + 0.5
    peaks = list(p.activity_peaks.values())
    has = np.stack([rng.random(n) < peak["share"] for peak in peaks], axis=1)
    most_common = int(np.argmax([peak["share"] for peak in peaks]))
    has[~has.any(axis=1), most_common] = True  # everyone has at least one peak
    weekend_level = rng.lognormal(0.0, 0.3, n)
    shift = p.weekend_shift_hours * rng.uniform(0.5, 1.5, n)
    weekday, weekend = np.zeros((n, 24)), np.zeros((n, 24))
    for k, peak in enumerate(peaks):
        centre = peak["hour"] + p.peak_jitter_hours * rng.standard_normal(n)
        width = p.peak_width_hours * rng.lognormal(0.0, 0.3, n)
        weight = has[:, k] * rng.gamma(2.0, 1.0, n)
        for day, c, level in ((weekday, centre, 1.0), (weekend, centre + shift, peak["weekend"] * weekend_level)):
            distance = (hod[None, :] - c[:, None] + 12.0) % 24.0 - 12.0  # on the 24-hour circle
            day += (weight * level)[:, None] * np.exp(-0.5 * (distance / width[:, None]) ** 2)
    shape = np.concatenate([weekday] * 5 + [weekend] * 2, axis=1)
    shape /= np.maximum(shape.sum(axis=1, keepdims=True), 1e-12)
    return ((1.0 - p.activity_floor) * shape + p.activity_floor / HOURS_PER_WEEK).astype(np.float32)


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(x)


def _sample_rows(weights: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """For each draw j, a column of row `rows[j]` of `weights` with probability ∝ the row, by inverse
    CDF on one flat array (row r's normalised CDF shifted by r, so one searchsorted does all).
    `u` uniform in [0, 1); every row drawn from must have a positive sum."""
    cum = np.cumsum(weights, axis=1, dtype=np.float64)
    cum /= np.maximum(cum[:, -1:], 1e-300)
    cum[:, -1] = 1.0
    cum += np.arange(len(cum))[:, None]
    k = weights.shape[1]
    col = np.searchsorted(cum.ravel(), rows + u, side="right") - rows * k
    return np.minimum(col, k - 1)


def _sample_by_row(weights_of, rows: np.ndarray, n_rows: int, rng: np.random.Generator, block: int = 4096):
    """`_sample_rows` for draws sorted by row, with the weight matrix built `block` rows at a time
    (`weights_of(row positions)`), so users × categories never sits in memory at once."""
    u = rng.random(len(rows))
    out = np.empty(len(rows), dtype=np.int64)
    bounds = np.searchsorted(rows, np.arange(0, n_rows + block, block))
    for b, first in enumerate(range(0, n_rows, block)):
        lo, hi = bounds[b], bounds[b + 1]
        if lo < hi:
            weights = weights_of(np.arange(first, min(first + block, n_rows)))
            out[lo:hi] = _sample_rows(weights, rows[lo:hi] - first, u[lo:hi])
    return out


# Files ------------------------------------------------------------------------------------------


def write_dataset(out_dir: str | Path, world: World, log: EventLog, *, extra: dict | None = None) -> dict[str, Path]:
    """Writes the log and the world in the import layout (DESIGN.md, "Data import format"):
    events.csv.gz, item_properties.csv.gz, category_tree.csv, items.csv, customers.csv, world.json.
    Byte-identical for the same world and log (gzip without a timestamp)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        name: out / name
        for name in (
            "events.csv.gz",
            "item_properties.csv.gz",
            "category_tree.csv",
            "items.csv",
            "customers.csv",
            "world.json",
        )
    }
    gz = {"method": "gzip", "compresslevel": 6, "mtime": 0}
    log.events.to_csv(paths["events.csv.gz"], index=False, float_format="%.2f", compression=gz)

    gone = np.flatnonzero(log.withdrawn_ms >= 0)
    n = world.n_items
    props = pd.DataFrame(
        {
            "timestamp": np.r_[np.full(2 * n, log.start_ms), log.withdrawn_ms[gone]],
            "itemid": np.r_[world.item_ids, world.item_ids, world.item_ids[gone]],
            "property": ["categoryid"] * n + ["available"] * (n + len(gone)),
            "value": np.r_[world.item_category, np.ones(n, dtype=np.int64), np.zeros(len(gone), dtype=np.int64)],
        }
    )
    props.to_csv(paths["item_properties.csv.gz"], index=False, compression=gz)
    parent = pd.arrays.IntegerArray(world.category_parent, world.category_parent == 0)
    pd.DataFrame({"categoryid": world.category_ids, "parentid": parent}).to_csv(paths["category_tree.csv"], index=False)
    pd.DataFrame(
        {"itemid": world.item_ids, "title": [f"Item {i}" for i in world.item_ids], "price": world.item_price}
    ).to_csv(paths["items.csv"], index=False, float_format="%.2f")
    pd.DataFrame({"visitorid": world.user_ids, "timezone": world.user_timezone}).to_csv(
        paths["customers.csv"], index=False
    )
    description = {"seed": world.seed, **(extra or {}), "params": asdict(world.params)}
    paths["world.json"].write_text(json.dumps(description, indent=2) + "\n")
    return paths


# For the recommender's tests and benchmarks ----------------------------------------------------------


def sample_interactions(
    n_events: int,
    n_users: int,
    n_items: int,
    *,
    days: float = 120.0,
    n_categories: int = 40,
    unavailable: float = 0.1,
    seed: int = 0,
) -> tuple[pd.DataFrame, ItemCatalog]:
    """About `n_events` interactions of `n_users` people with `n_items` items over `days`, in the frame
    layout of recommender.ml.data, and the catalog they were drawn from (categories, prices, the
    items withdrawn by the end).

    The world's own behaviour log, so the recommender is tested and measured on the same
    population the simulator runs: sessions a week are scaled so that the log's expected size is
    `n_events` (the realised size varies by a few per cent with the seed).
    """
    params = WorldParams(n_users=n_users, n_items=n_items, n_categories=n_categories, unavailable_share=unavailable)
    # Mean of the log-normal sessions a week × views per session (carts and purchases are few).
    views_a_week = params.activity_median * math.exp(params.activity_sigma**2 / 2) * params.session_views_mean
    scale = n_events / (n_users * views_a_week * days / 7)
    world = World.generate(replace(params, activity_median=params.activity_median * scale), seed)
    events = world.sample_events(REFERENCE_MS, days, rng=[seed, 1]).events
    frame = events_frame(
        customer=events["visitorid"],
        item=events["itemid"],
        event_type=events["event"].astype(str),
        timestamp=events["timestamp"],
        amount=events["amount"],
    )
    catalog = pd.DataFrame(
        {"item": world.item_ids, "category": world.item_category, "price": world.item_price,
         "available": world.item_available}
    )  # fmt: skip
    has_parent = world.category_parent > 0
    parents = dict(zip(world.category_ids[has_parent], world.category_parent[has_parent], strict=True))
    return frame, ItemCatalog.from_frame(catalog, parents)
