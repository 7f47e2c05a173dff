"""A seeded simulator of members' habits and purchases: the product model's training and offline evaluation data
(no real member's purchases exist to learn from yet), and the workout suggestions' test members.

`simulate(World(...), seed)` returns the catalogue, the members, their workouts and their interactions (purchases
and views) in time order; the same arguments always give the same result (one numpy Generator from the seed).
Time starts on `START` (Monday 2026-01-05 00:00 UTC: nothing depends on the wall clock) and runs `days` days.

The world:
- Tenants (`tenants`, default 3) of unequal size (shares 1 : 0.7 : 0.5 ...). Each member and each item belongs
  to one tenant; members only see and buy their own tenant's items.
- Items (`items` in all): each is for one activity (run 28%, cycle 16%, walk 14%, strength 12%, hike 8%,
  yoga 8%, swim 8%, row 6%; 10% of items are for any activity, e.g. nutrition) and of one kind (shoes, apparel,
  nutrition, equipment, accessories), which are its tags (`("run", "shoes")`, or `("nutrition",)` for an item for
  any activity); a brand (6 per tenant, not a tag: the model can only learn it from who buys what), a price
  (the kind's base price x lognormal(0, 0.35)), an appeal (lognormal(0, 0.5): some items are simply better
  liked), and a listing time: 45% were listed before the period (the existing catalogue), the rest are listed
  uniformly over it, so new items exist at any split.
- Members (`members`): 55% joined before the period, the rest join uniformly over it (so some are new at any
  split). Each has latent tastes that drive both their workouts and their purchases: an activity mix
  (Dirichlet(3.2 x the activities' shares): most members have one or two main activities), a preference over
  kinds (Dirichlet 1.0), an affinity to brands (Dirichlet 0.6: a taste no tag shows, which only who-bought-what
  reveals), a price sensitivity (0-1.5) and an engagement level (lognormal(0, 0.6)) that scales how often they
  train and shop.
- Workouts: from the member's first day, each day is active with probability (weekly frequency / 7), the
  frequency 1.5-6 per week growing with engagement; after their longest streak (3-6 days in a row) they rest a
  day. Each session's activity is drawn from their activity mix; its distance is the activity's typical
  distance (analytics.synthetic's means) x the member's level (lognormal(0, 0.25)) x a progression that grows
  1% a week (capped at +40%) x day-to-day noise (+/-10%); strength and yoga have no distance; durations follow
  the activity's pace. Sessions start between 06:00 and 21:00 UTC.
- Shopping: shopping visits arrive as a Poisson process (0.09 a day x engagement, from the member's join). At a
  visit the member views 1 + Poisson(2) distinct items of their tenant's listed catalogue they do not own,
  drawn proportionally to their utility, and with probability 0.45 buys the first one viewed. The utility of an
  item is (the member's share of the item's activity + 0.03)^1.5 (0.25 for an item for any activity) x their
  preference for its kind x (0.3 + their affinity to its brand)^1.5 x appeal x (price / kind's base price)^(-price
  sensitivity) x word of mouth (1 + purchases of the item in the tenant, decayed with a 21-day time constant)^0.5
  x recency (1 + 2 exp(-days since listed / 10)). Word of mouth is computed as the purchases happen, so popular
  items get more popular.

A view is a weaker signal than a purchase (`VIEW_WEIGHT` in `Interaction.weight`). Members never buy an item
twice.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from fitmint.memberhistory import ACTIVITIES, DAY, Session
from recommend.products import Interaction, Item

START = datetime(2026, 1, 5, tzinfo=UTC).timestamp()  # a Monday
VIEW_WEIGHT = 0.25
KINDS = ("shoes", "apparel", "nutrition", "equipment", "accessories")
KIND_PRICE = {"shoes": 120.0, "apparel": 45.0, "nutrition": 15.0, "equipment": 80.0, "accessories": 25.0}
ACTIVITY_SHARE = {"run": 0.28, "cycle": 0.16, "walk": 0.14, "strength": 0.12, "hike": 0.08, "yoga": 0.08,
                  "swim": 0.08, "row": 0.06}
# Typical distance (km) and pace (minutes per km; minutes for sessions without distance), as analytics.synthetic.
SESSION = {"run": (5.5, 6.0), "walk": (3.5, 12.0), "cycle": (18.0, 2.6), "hike": (9.0, 14.0), "swim": (1.2, 25.0),
           "row": (5.0, 5.0), "yoga": (0.0, 45.0), "strength": (0.0, 50.0)}
BRANDS = 6


@dataclass(frozen=True)
class World:
    tenants: int = 3
    members: int = 5_000
    items: int = 300
    days: int = 120
    shop_rate: float = 0.09  # shopping visits a day for an average member
    buy_share: float = 0.45  # visits that end in a purchase
    word_of_mouth: float = 0.5  # exponent of (1 + decayed purchases)
    popularity_days: float = 21.0  # time constant of word of mouth's decay
    new_boost: float = 2.0  # recency: 1 + new_boost x exp(-days since listed / new_days)
    new_days: float = 10.0


@dataclass(frozen=True)
class Member:
    member_id: str
    tenant_id: str
    joined_at: float
    taste: dict[str, float]  # latent activity mix (sums to 1)
    engagement: float


@dataclass(frozen=True)
class Simulation:
    world: World
    seed: int
    start: float
    end: float
    items: list[Item]
    members: list[Member]
    workouts: dict[str, list[Session]]  # member -> sessions in time order
    purchases: list[Interaction]  # time order, weight 1
    views: list[Interaction]  # time order, weight VIEW_WEIGHT
    brand: dict[str, int] = field(repr=False, default_factory=dict)  # item -> brand (hidden: for tests)

    def interactions(self, until: float | None = None, since: float | None = None) -> list[Interaction]:
        """Purchases and views in [since, until) (all if None), in time order."""
        both = sorted(self.purchases + self.views, key=lambda i: (i.at, i.member_id, i.item_id))
        return [i for i in both if (since is None or i.at >= since) and (until is None or i.at < until)]

    def day(self, n: float) -> float:
        """The unix time of day `n` of the period (0 = START)."""
        return self.start + n * DAY


def simulate(world: World = World(), seed: int = 0) -> Simulation:
    rng = np.random.default_rng(seed)
    end = START + world.days * DAY
    tenant_ids = [f"t{n + 1}" for n in range(world.tenants)]
    tenant_share = np.array([1.0 / (1 + 0.45 * n) for n in range(world.tenants)])
    tenant_share /= tenant_share.sum()
    activity_p = np.array([ACTIVITY_SHARE[a] for a in ACTIVITIES])
    n_act = len(ACTIVITIES)

    # Items.
    n_items = world.items
    item_tenant = rng.choice(world.tenants, size=n_items, p=tenant_share)
    item_activity = np.where(rng.random(n_items) < 0.10, -1, rng.choice(n_act, size=n_items, p=activity_p))
    item_kind = rng.choice(len(KINDS), size=n_items, p=[0.22, 0.28, 0.15, 0.2, 0.15])
    item_kind[item_activity < 0] = KINDS.index("nutrition")
    item_brand = rng.integers(0, BRANDS, size=n_items)
    base_price = np.array([KIND_PRICE[KINDS[k]] for k in item_kind])
    relative_price = rng.lognormal(0.0, 0.35, size=n_items)
    item_price = np.round(base_price * relative_price, 2)
    appeal = rng.lognormal(0.0, 0.5, size=n_items)
    existing = rng.random(n_items) < 0.45
    listed_at = np.where(existing, START - rng.uniform(0, 60, size=n_items) * DAY,
                         START + rng.uniform(0, world.days, size=n_items) * DAY)
    items = []
    for i in range(n_items):
        tags = (KINDS[item_kind[i]],) if item_activity[i] < 0 else (ACTIVITIES[item_activity[i]], KINDS[item_kind[i]])
        items.append(Item(item_id=str(1000 + i), tenant_id=tenant_ids[item_tenant[i]], tags=tags,
                          unit_price=float(item_price[i]), listed_at=float(listed_at[i])))

    # Members.
    n_members = world.members
    member_tenant = rng.choice(world.tenants, size=n_members, p=tenant_share)
    joined = np.where(rng.random(n_members) < 0.55, START - rng.uniform(0, 180, size=n_members) * DAY,
                      START + rng.uniform(0, world.days, size=n_members) * DAY)
    taste = rng.dirichlet(0.4 * n_act * activity_p, size=n_members)
    kind_pref = rng.dirichlet(np.ones(len(KINDS)), size=n_members)
    brand_aff = rng.dirichlet(np.full(BRANDS, 0.6), size=n_members)
    sensitivity = rng.uniform(0.0, 1.5, size=n_members)
    engagement = rng.lognormal(0.0, 0.6, size=n_members)
    members = [Member(member_id=f"m{m:06d}", tenant_id=tenant_ids[member_tenant[m]], joined_at=float(joined[m]),
                      taste={ACTIVITIES[a]: float(taste[m, a]) for a in range(n_act) if taste[m, a] > 1e-6},
                      engagement=float(engagement[m])) for m in range(n_members)]

    workouts = {member.member_id: _workouts(rng, member, taste[m], end) for m, member in enumerate(members)}

    # Utility of each tenant item for each of the tenant's members, before word of mouth and recency.
    tenant_items = [np.flatnonzero(item_tenant == t) for t in range(world.tenants)]
    member_tenant_list = member_tenant.tolist()
    local = np.zeros(n_items, dtype=np.int64)
    utility = {}
    for t, its in enumerate(tenant_items):
        local[its] = np.arange(len(its))
        ms = np.flatnonzero(member_tenant == t)
        act = item_activity[its]
        fit = np.where(act >= 0, (taste[np.ix_(ms, np.maximum(act, 0))] + 0.03) ** 1.5, 0.25)
        u = (fit * kind_pref[np.ix_(ms, item_kind[its])] * (0.3 + brand_aff[np.ix_(ms, item_brand[its])]) ** 1.5
             * appeal[its] * relative_price[its][None, :] ** (-sensitivity[ms][:, None]))
        for row, m in enumerate(ms):
            utility[m] = u[row]

    # Shopping visits, all members, in time order.
    visit_member, visit_at = [], []
    for m in range(n_members):
        since = max(joined[m], START)
        span = (end - since) / DAY
        count = rng.poisson(world.shop_rate * engagement[m] * span)
        visit_member.append(np.full(count, m))
        visit_at.append(since + rng.uniform(0, span, size=count) * DAY)
    visit_member = np.concatenate(visit_member)
    visit_at = np.concatenate(visit_at)
    order = np.lexsort((visit_member, visit_at))
    pop = [np.zeros(len(its)) for its in tenant_items]
    pop_at = [np.full(len(its), START) for its in tenant_items]
    tenant_listed = [listed_at[its] for its in tenant_items]
    tenant_item_ids = [[items[i].item_id for i in its] for its in tenant_items]
    decay = world.popularity_days * DAY
    owned: dict[int, list[int]] = {}
    purchases, views = [], []
    buys = (rng.random(len(order)) < world.buy_share).tolist()
    sizes = (1 + rng.poisson(2.0, size=len(order))).tolist()
    for v, m, at in zip(order.tolist(), visit_member[order].tolist(), visit_at[order].tolist(), strict=True):
        t = member_tenant_list[m]
        age = np.maximum((at - tenant_listed[t]) / DAY, -1.0)
        popular = pop[t] * np.exp((pop_at[t] - at) / decay)
        w = (utility[m] * (1.0 + popular) ** world.word_of_mouth
             * (1.0 + world.new_boost * np.exp(-np.maximum(age, 0.0) / world.new_days)))
        w[age < 0] = 0.0
        mine = owned.setdefault(m, [])
        if mine:
            w[mine] = 0.0
        available = int(np.count_nonzero(w))
        if available == 0:
            continue
        # Weighted sampling without replacement (Efraimidis-Spirakis): the smallest exponential(1) / weight keys.
        keys = np.divide(rng.exponential(size=len(w)), w, out=np.full(len(w), np.inf), where=w > 0)
        size = min(available, sizes[v])
        seen = np.argsort(keys)[:size].tolist()
        member_id = members[m].member_id
        ids = tenant_item_ids[t]
        for n, j in enumerate(seen):
            views.append(Interaction(member_id, ids[j], at + n * 30.0, VIEW_WEIGHT))
        if buys[v]:
            j = seen[0]
            mine.append(j)
            pop[t][j] = popular[j] + 1.0
            pop_at[t][j] = at
            purchases.append(Interaction(member_id, ids[j], at + 60.0 * size, 1.0))
    purchases.sort(key=lambda i: (i.at, i.member_id))
    views.sort(key=lambda i: (i.at, i.member_id))
    return Simulation(world=world, seed=seed, start=START, end=end, items=items, members=members,
                      workouts=workouts, purchases=purchases, views=views,
                      brand={items[i].item_id: int(item_brand[i]) for i in range(n_items)})


def _workouts(rng: np.random.Generator, member: Member, taste: np.ndarray, end: float) -> list[Session]:
    first = max(np.ceil(member.joined_at / DAY) * DAY, START)  # the first midnight (UTC) of their membership
    days = int((end - first) // DAY)
    if days <= 0:
        return []
    per_week = float(np.clip(1.5 + 1.6 * member.engagement, 1.5, 6.0))
    longest = int(rng.integers(3, 7))
    level = rng.lognormal(0.0, 0.25)
    active = (rng.random(days) < per_week / 7.0).tolist()
    streak = 0
    for d in range(days):
        if active[d] and streak >= longest:
            active[d] = False
        streak = streak + 1 if active[d] else 0
    day_numbers = np.flatnonzero(active)
    n = len(day_numbers)
    activities = rng.choice(len(ACTIVITIES), size=n, p=taste)
    at = first + day_numbers * DAY + rng.uniform(6.0, 21.0, size=n) * 3600.0
    km = np.array([SESSION[ACTIVITIES[a]][0] for a in range(len(ACTIVITIES))])[activities]
    pace = np.array([SESSION[ACTIVITIES[a]][1] for a in range(len(ACTIVITIES))])[activities]
    jitter = rng.uniform(0.9, 1.1, size=n)
    distance_km = km * level * np.minimum(1.4, 1.0 + 0.01 * day_numbers / 7.0) * jitter
    minutes = np.where(km > 0, distance_km * pace, pace * level * jitter)
    return [Session(a_t, ACTIVITIES[a], d, s) for a_t, a, d, s in
            zip(at.tolist(), activities.tolist(), np.round(distance_km * 1000.0, 1).tolist(),
                np.round(minutes * 60.0, 1).tolist(), strict=True)]
