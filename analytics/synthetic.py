"""A synthetic but documented platform: the bus's events of `tenants` tenants over `days` days, for the
tests, the dashboards' screenshots and the benchmarks (the same generator for all three). Seeded: one
plan gives the same events, byte for byte, on any machine.

The model, per tenant:
- Its catalog: 8 products listed on the first day (ProductListed; prices 5 to 50 FIT).
- Members join on a day drawn uniformly over the period (MemberSignedIn, `joined`), each with an
  engagement p (Beta(2, 3): the chance of being active on a day) that decays by 8% a week (churn), and
  1 or 2 favourite activities.
- An active day: a sign-in (80%), one workout (25%: two), of a favourite activity, its distance and
  duration drawn per activity (a run: ~5 km at ~6 min/km). 7% are refused by an anti-cheat rule (the
  rules' real codes, weighted: too_fast, gps_distance_mismatch, overlap, daily_workouts_cap, ...), and 2%
  of the accepted ones are flagged for coach review (WorkoutRecorded).
- An accepted distance workout earns a voucher (FitnessRewardIssued: 10 FIT a km); 75% are claimed,
  after an exponential delay (mean 8 hours), as a claim and its mint (FitnessReward, TokenMinted, one
  transaction). Every claim is also a notification (NotificationQueued: a type no projection reads).
- A member who has claimed buys an item of their tenant on 6% of their active days (OrderCreated: 1 or
  2 units; 5% fee to the treasury, 2% burned).
- 1 in 300 chain events is undone by a reorganisation: its `...reverted.v1` follows within minutes,
  and the same log is included again in another block (a new event id).
The generator stops at `events` events, or at the end of the period, whichever comes first.
"""

import heapq
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from analytics import store
from analytics.incoming import incoming_of
from fitmint import events as ev

FIT = 10**18
CHAIN_ID = 31337
ACTIVITIES = {  # activity: (mean km, sd km, mean minutes per km; 0 km: a session without distance)
    "run": (5.5, 2.0, 6.0), "walk": (3.5, 1.5, 12.0), "cycle": (18.0, 7.0, 2.6), "hike": (9.0, 3.0, 14.0),
    "swim": (1.2, 0.4, 25.0), "row": (5.0, 1.5, 5.0), "yoga": (0.0, 0.0, 45.0), "strength": (0.0, 0.0, 50.0),
}
REFUSALS = {"too_fast": 30, "gps_distance_mismatch": 20, "overlap": 15, "daily_workouts_cap": 10,
            "steps_distance_mismatch": 10, "cadence_too_high": 8, "heart_rate_out_of_range": 7}
REFUSED, FLAGGED, CLAIMED, BUYING, REORGED = 0.07, 0.02, 0.75, 0.06, 1 / 300


@dataclass(frozen=True)
class Plan:
    events: int = 100_000
    days: int = 90
    tenants: int = 3
    seed: int = 17
    last_day: date = date(2026, 11, 30)
    reorg_rate: float = REORGED  # chain events undone by a reorganisation (tests raise it)

    @property
    def first_day(self) -> date:
        return self.last_day - timedelta(days=self.days - 1)

    @property
    def members_per_tenant(self) -> int:
        # ~5 events per active member-day; a member is active on ~0.3 of their days, present on half
        # the period on average.
        return max(3, round(self.events / (5.0 * 0.3 * self.days / 2) / self.tenants))

    def describe(self) -> str:
        return (f"{self.tenants} tenants x {self.members_per_tenant} members, {self.days} days to "
                f"{self.last_day}, seed {self.seed}")


@dataclass(frozen=True, slots=True)
class Published:
    """One event as it travels: its topic (unprefixed), message key, CloudEvent JSON and time."""
    topic: str
    key: str
    value: bytes
    time: datetime


@dataclass
class _Member:
    user_id: str
    tenant_id: str
    address: str
    joins: date
    engagement: float
    favourites: list[str]
    claimed: bool = False


@dataclass
class _Tenant:
    tenant_id: str
    listings: list[tuple[int, str, int]] = field(default_factory=list)  # (listing id, item id, price wei)
    members: list[_Member] = field(default_factory=list)


class _Generator:
    def __init__(self, plan: Plan):
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.serial = 0
        self.block = 1_000
        self.pending: list[tuple[datetime, int, Published]] = []  # delayed events (claims, reverts)
        self.treasury_seller = self._address("seller")
        self.tenants = [self._tenant(t) for t in range(plan.tenants)]

    def _uuid(self, label: str) -> str:
        return str(uuid.uuid5(ev.ID_NAMESPACE, f"synthetic:{self.plan.seed}:{label}"))

    def _address(self, label: str) -> str:
        return "0x" + uuid.uuid5(ev.ID_NAMESPACE, f"addr:{self.plan.seed}:{label}").hex[:32] + "00000000"

    def _hash(self, label: str) -> str:
        return "0x" + (uuid.uuid5(ev.ID_NAMESPACE, f"hash:{self.plan.seed}:{label}").hex * 2)

    def _tenant(self, index: int) -> _Tenant:
        tenant = _Tenant(self._uuid(f"tenant:{index}"))
        for m in range(self.plan.members_per_tenant):
            tenant.members.append(_Member(
                self._uuid(f"member:{index}:{m}"), tenant.tenant_id, self._address(f"{index}:{m}"),
                self.plan.first_day + timedelta(days=self.rng.randrange(self.plan.days)),
                self.rng.betavariate(2, 3), self.rng.sample(list(ACTIVITIES), self.rng.choice((1, 2)))))
        return tenant

    def _event(self, event_type: ev.EventType, payload, at: datetime, event_id: str | None = None) -> Published:
        self.serial += 1
        event_id = event_id or self._uuid(f"event:{self.serial}")
        subject = event_type.subject(payload)
        value = ev.envelope(id=event_id, ce_type=event_type.ce_type, chain_id=CHAIN_ID, subject=subject, time=at,
                            data=payload, producer="synthetic")
        return Published(event_type.topic, subject, value, at)

    def _chain(self, label: str) -> dict:
        self.block += 1
        return {"block_number": self.block, "block_hash": self._hash(f"block:{self.block}"),
                "tx_hash": self._hash(f"tx:{label}"), "log_index": 0}

    def _later(self, event: Published) -> None:
        heapq.heappush(self.pending, (event.time, self.serial, event))

    def _chain_event(self, event_type: ev.EventType, label: str, at: datetime, **fields) -> Published:
        """A chain event; 1 in 300 is reverted minutes later and included again in another block."""
        payload = event_type.payload(**self._chain(label), **fields)
        original_id = self._uuid(f"event:{self.serial + 1}")
        original = self._event(event_type, payload, at, original_id)
        if self.rng.random() < self.plan.reorg_rate:
            undone_at = at + timedelta(minutes=self.rng.uniform(1, 10))
            compensation = ev.Reverted[event_type.payload](reverts=original_id, original=payload)
            self._later(self._event(event_type.reverted, compensation, undone_at))
            again = event_type.payload(**self._chain(label + ":again"), **fields)
            self._later(self._event(event_type, again, undone_at + timedelta(seconds=30)))
        return original

    def run(self) -> Iterator[Published]:
        for tenant in self.tenants:
            for n in range(8):
                # Listing ids as a chain gives them: unique (per seed here, so two data sets can share a store).
                listing_id = self.plan.seed * 10_000 + len(self.tenants) * n + self.tenants.index(tenant) + 1
                item_id = str(uuid.UUID(self._uuid(f"item:{tenant.tenant_id}:{n}")).int)
                price = self.rng.randint(5, 50) * FIT
                tenant.listings.append((listing_id, item_id, price))
                at = datetime.combine(self.plan.first_day, time(0, 30 + n), UTC)
                yield self._event(ev.PRODUCT_LISTED, ev.ProductListed(
                    product_id=self._uuid(f"product:{tenant.tenant_id}:{n}"), tenant_id=tenant.tenant_id,
                    listing_id=listing_id, item_id=item_id, name=f"Item {n + 1} of tenant {tenant.tenant_id[:4]}",
                    unit_price=str(price)), at)
        for offset in range(self.plan.days):
            day = self.plan.first_day + timedelta(days=offset)
            today = sorted((e for t in self.tenants for m in t.members for e in self._day(t, m, day)),
                           key=lambda e: e.time)
            end = datetime.combine(day + timedelta(days=1), time(), UTC)
            while self.pending and self.pending[0][0] < end:
                today.append(heapq.heappop(self.pending)[2])
            yield from sorted(today, key=lambda e: e.time)
        while self.pending:
            yield heapq.heappop(self.pending)[2]

    def _day(self, tenant: _Tenant, member: _Member, day: date) -> list[Published]:
        if day < member.joins:
            return []
        start = datetime.combine(day, time(), UTC)
        out = []
        if day == member.joins:
            out.append(self._event(ev.MEMBER_SIGNED_IN, ev.MemberSignedIn(
                user_id=member.user_id, tenant_id=tenant.tenant_id, address=member.address, joined=True),
                start + timedelta(hours=self.rng.uniform(6, 9))))
        weeks = (day - member.joins).days / 7
        if self.rng.random() >= member.engagement * 0.92 ** weeks and day != member.joins:
            return out
        if day != member.joins and self.rng.random() < 0.8:
            out.append(self._event(ev.MEMBER_SIGNED_IN, ev.MemberSignedIn(
                user_id=member.user_id, tenant_id=tenant.tenant_id, address=member.address, joined=False),
                start + timedelta(hours=self.rng.uniform(6, 9))))
        for _ in range(2 if self.rng.random() < 0.25 else 1):
            out += self._workout(tenant, member, start + timedelta(hours=self.rng.uniform(9, 21)))
        if member.claimed and tenant.listings and self.rng.random() < BUYING:
            out += self._order(tenant, member, start + timedelta(hours=self.rng.uniform(12, 23)))
        return out

    def _workout(self, tenant: _Tenant, member: _Member, at: datetime) -> list[Published]:
        activity = self.rng.choice(member.favourites)
        km_mean, km_sd, pace = ACTIVITIES[activity]
        km = max(0.3, self.rng.gauss(km_mean, km_sd)) if km_mean else 0.0
        minutes = (km * pace if km else pace) * self.rng.uniform(0.8, 1.2)
        refused = self.rng.random() < REFUSED
        reasons = [self.rng.choices(list(REFUSALS), weights=list(REFUSALS.values()))[0]] if refused else []
        workout_id = self._uuid(f"workout:{self.serial}")
        out = [self._event(ev.WORKOUT_RECORDED, ev.WorkoutRecorded(
            workout_id=workout_id, user_id=member.user_id, tenant_id=tenant.tenant_id, activity=activity,
            started_at=at, ended_at=at + timedelta(minutes=minutes), status="rejected" if refused else "accepted",
            rejections=reasons, distance_m=round(km * 1000, 1) if km else None,
            steps=round(km * 1300) if activity in ("run", "walk", "hike") else None,
            avg_heart_rate=self.rng.randint(95, 165), flagged=not refused and self.rng.random() < FLAGGED),
            at + timedelta(minutes=minutes + 1))]
        if refused or not km:
            return out
        issued_at = at + timedelta(minutes=minutes + 1)
        claim_id = self._hash(f"claim:{workout_id}")
        amount = str(int(km * 10 * FIT))
        out.append(self._event(ev.REWARD_ISSUED, ev.RewardIssued(
            claim_id=claim_id, account=member.address, amount=amount, day=(issued_at.date() - date(1970, 1, 1)).days,
            deadline=int(issued_at.timestamp()) + 7 * 86_400, workout_id=workout_id, user_id=member.user_id,
            tenant_id=tenant.tenant_id, contract=self._address("rewards"), chain_id=CHAIN_ID), issued_at))
        if self.rng.random() < CLAIMED:
            claimed_at = issued_at + timedelta(hours=self.rng.expovariate(1 / 8))
            self._later(self._chain_event(ev.FITNESS_REWARD, f"claim:{claim_id}", claimed_at, kind="voucher",
                                          claim_id=claim_id, account=member.address, amount=amount, epoch=0,
                                          attestor=self._address("attestor")))
            self._later(self._chain_event(ev.TOKEN_MINTED, f"mint:{claim_id}", claimed_at, account=member.address,
                                          amount=amount))
            self._later(self._event(ev.NOTIFICATION_QUEUED, ev.NotificationQueued(
                notification_id=self._uuid(f"note:{claim_id}"), user_id=member.user_id, tenant_id=tenant.tenant_id,
                kind="reward_claimed", source_event=claim_id, corrects=None, channels=["inbox"]),
                claimed_at + timedelta(seconds=2)))
            member.claimed = True
        return out

    def _order(self, tenant: _Tenant, member: _Member, at: datetime) -> list[Published]:
        listing_id, item_id, price = self.rng.choice(tenant.listings)
        quantity = self.rng.choice((1, 1, 1, 2))
        total = price * quantity
        return [self._chain_event(
            ev.ORDER_CREATED, f"order:{self.serial}", at, order_id=self.serial, listing_id=listing_id,
            buyer=member.address, seller=self.treasury_seller, item_id=item_id, quantity=str(quantity),
            unit_price=str(price), fee=str(total * 5 // 100), burned=str(total * 2 // 100))]


def generate(plan: Plan) -> Iterator[Published]:
    """The plan's events in time order (at most `plan.events`)."""
    for count, event in enumerate(_Generator(plan).run()):
        if count >= plan.events:
            return
        yield event


async def load(pool, plan: Plan, *, prefix: str = "", batch: int = 20_000, progress=None) -> int:
    """Appends the plan's events to the store (no projection recomputed: rebuild after). Returns how many
    were new."""
    stored, chunk = 0, []
    for event in generate(plan):
        chunk.append(incoming_of(event.value, topic=prefix + event.topic, fallback_time=event.time))
        if len(chunk) >= batch:
            stored += await _append(pool, chunk)
            if progress:
                progress(f"generate: {stored:,} events stored")
    return stored + await _append(pool, chunk)


async def _append(pool, chunk: list) -> int:
    async with pool.acquire() as connection, connection.transaction():
        count = await store.import_events(connection, chunk)
    chunk.clear()
    return count
