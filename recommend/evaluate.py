"""Offline evaluation of the product model on the simulator: a time-based split, the model beside random and
most-popular baselines under the same hard filters.

The split at time T (`split_day` of the simulation): the model trains on every purchase and view before T, with
each member's activity mix from their workouts before T (MemberHistory.activity_mix, as the feature store would
serve it at T). The test: each member who joined by T and bought, in [T, T + `test_days`), at least one item
listed by T and not bought before T; their relevant set is those items. Every method ranks, as of T, the
member's tenant's items listed by T minus what the member bought before T; the top `k` count.

- recall@k: relevant items in the top k / relevant items, averaged over members;
- NDCG@k: binary relevance, DCG of the top k / the ideal DCG (min(k, relevant) hits on top), averaged;
- coverage: distinct items recommended to the segment's members / items listed by T (all tenants).

Segments: all test members; cold-start members (no interaction at all before T: they are recommended from
their activity mix, or popularity without one); established members (the rest); new items: test purchases of
items listed in the `new_days` before T (each member's relevant set restricted to them; coverage there is the
share of those new items recommended to anyone).

Baselines: `popular`: the tenant's items by purchases before T; `popular (28 days)`: by purchases in the 28
days before T; `random`: a seeded shuffle. Hyperparameters are tuned (`tune`) on a validation split inside the
training period (train before T - test_days, validate on [T - test_days, T)); the test split is never looked at.
"""

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from fitmint.memberhistory import DAY, MemberHistory
from recommend.products import Interaction, Item, Params, ProductModel
from recommend.simulator import Simulation

MODEL, POPULAR, POPULAR_RECENT, RANDOM = "model", "popular", "popular (28 days)", "random"
METHODS = (MODEL, POPULAR, POPULAR_RECENT, RANDOM)
ALL, COLD, ESTABLISHED, NEW_ITEMS = "all members", "cold-start members", "established members", "new items"
SEGMENTS = (ALL, COLD, ESTABLISHED, NEW_ITEMS)


@dataclass(frozen=True)
class Split:
    at: float
    until: float
    train: list[Interaction]
    items: list[Item]  # listed by `at`
    test: dict[str, set[str]]  # member -> relevant items
    owned: dict[str, set[str]]  # member -> bought before `at`
    tenant: dict[str, str]
    mix: dict[str, dict[str, float]]  # member -> activity mix at `at` (members joined by `at` with workouts)
    cold: frozenset[str]  # test members without any interaction before `at`
    new_items: frozenset[str]


def time_split(sim: Simulation, *, at: float, until: float, new_days: float = 14.0) -> Split:
    items = [item for item in sim.items if item.listed_at <= at]
    listed = {item.item_id for item in items}
    train = sim.interactions(until=at)
    owned: dict[str, set[str]] = {}
    for x in sim.purchases:
        if x.at < at:
            owned.setdefault(x.member_id, set()).add(x.item_id)
    tenant = {m.member_id: m.tenant_id for m in sim.members}
    joined = {m.member_id: m.joined_at for m in sim.members}
    test: dict[str, set[str]] = {}
    for x in sim.purchases:
        if at <= x.at < until and joined[x.member_id] <= at and x.item_id in listed \
                and x.item_id not in owned.get(x.member_id, ()):
            test.setdefault(x.member_id, set()).add(x.item_id)
    mix = {}
    for member_id, sessions in sim.workouts.items():
        if joined[member_id] <= at:
            history = MemberHistory.from_sessions(member_id, sessions, tenant_id=tenant[member_id], now=at)
            if history.sessions:
                mix[member_id] = history.activity_mix()
    seen = {x.member_id for x in train}
    return Split(at=at, until=until, train=train, items=items, test=test, owned=owned, tenant=tenant, mix=mix,
                 cold=frozenset(m for m in test if m not in seen),
                 new_items=frozenset(i.item_id for i in items if i.listed_at > at - new_days * DAY))


@dataclass(frozen=True)
class Row:
    method: str
    segment: str
    members: int
    relevant: int
    recall: float
    ndcg: float
    coverage: float


@dataclass(frozen=True)
class Evaluation:
    seed: int
    members: int
    items: int
    split_day: float
    test_days: float
    k: int
    params: dict
    train_interactions: int
    test_members: int
    cold_members: int
    new_items: int
    fit_seconds: float
    recommend_ms: float  # mean per member
    rows: list[Row] = field(default_factory=list)

    def row(self, method: str, segment: str = ALL) -> Row:
        return next(r for r in self.rows if r.method == method and r.segment == segment)

    def lift(self, segment: str = ALL) -> float:
        """The model's NDCG@k over most-popular's."""
        base = self.row(POPULAR, segment).ndcg
        return self.row(MODEL, segment).ndcg / base if base else math.inf


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(n + 2) for n, i in enumerate(ranked[:k]) if i in relevant)
    ideal = sum(1.0 / math.log2(n + 2) for n in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return len(set(ranked[:k]) & relevant) / len(relevant) if relevant else 0.0


def fit_model(split: Split, params: Params, seed: int = 0) -> ProductModel:
    return ProductModel.fit(split.train, split.items, split.mix, seed=seed, params=params, now=split.at)


def rankings(split: Split, model: ProductModel, *, k: int, seed: int = 0,
             methods: Iterable[str] = METHODS) -> dict[str, dict[str, list[str]]]:
    """method -> member -> top-k item ids, as of the split, for every test member."""
    methods = tuple(methods)
    by_tenant: dict[str, list[str]] = {}
    for item in split.items:
        by_tenant.setdefault(item.tenant_id, []).append(item.item_id)
    bought = Counter(x.item_id for x in split.train if x.weight >= 1.0)
    recent = Counter(x.item_id for x in split.train if x.weight >= 1.0 and x.at >= split.at - 28 * DAY)
    popular = {t: sorted(ids, key=lambda i: (-bought[i], i)) for t, ids in by_tenant.items()}
    popular_recent = {t: sorted(ids, key=lambda i: (-recent[i], -bought[i], i)) for t, ids in by_tenant.items()}
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, list[str]]] = {m: {} for m in methods}
    for member_id in sorted(split.test):
        tenant = split.tenant[member_id]
        owned = split.owned.get(member_id, set())

        def top(ordered: list[str], owned=owned) -> list[str]:
            return [i for i in ordered if i not in owned][:k]

        if MODEL in methods:
            scored = model.recommend(member_id, tenant_id=tenant, k=k, exclude=owned, now=split.at,
                                     activity_mix=split.mix.get(member_id))
            out[MODEL][member_id] = [s.item_id for s in scored]
        if POPULAR in methods:
            out[POPULAR][member_id] = top(popular[tenant])
        if POPULAR_RECENT in methods:
            out[POPULAR_RECENT][member_id] = top(popular_recent[tenant])
        if RANDOM in methods:
            pool = [i for i in by_tenant[tenant] if i not in owned]
            out[RANDOM][member_id] = [pool[n] for n in rng.permutation(len(pool))[:k]]
    return out


def score(split: Split, ranked: dict[str, dict[str, list[str]]], k: int) -> list[Row]:
    segments: dict[str, Callable[[str], set[str]]] = {
        ALL: lambda m: split.test[m],
        COLD: lambda m: split.test[m] if m in split.cold else set(),
        ESTABLISHED: lambda m: split.test[m] if m not in split.cold else set(),
        NEW_ITEMS: lambda m: split.test[m] & split.new_items,
    }
    rows = []
    for method, lists in ranked.items():
        for segment, relevant_of in segments.items():
            recalls, ndcgs, shown, relevant_total = [], [], set(), 0
            for member_id, ranked_items in lists.items():
                relevant = relevant_of(member_id)
                if not relevant:
                    continue
                relevant_total += len(relevant)
                recalls.append(recall_at(ranked_items, relevant, k))
                ndcgs.append(ndcg_at(ranked_items, relevant, k))
                shown.update(ranked_items[:k])
            if segment == NEW_ITEMS:
                shown_all = {i for ranked_items in lists.values() for i in ranked_items[:k]}
                coverage = len(shown_all & split.new_items) / max(1, len(split.new_items))
            else:
                coverage = len(shown) / max(1, len(split.items))
            rows.append(Row(method=method, segment=segment, members=len(recalls), relevant=relevant_total,
                            recall=float(np.mean(recalls)) if recalls else 0.0,
                            ndcg=float(np.mean(ndcgs)) if ndcgs else 0.0, coverage=coverage))
    return rows


def evaluate(sim: Simulation, *, split_day: float, test_days: float, params: Params | None = None, k: int = 10,
             seed: int = 0) -> Evaluation:
    params = params or Params()
    at = sim.day(split_day)
    split = time_split(sim, at=at, until=at + test_days * DAY)
    model = fit_model(split, params, seed)
    started = time.perf_counter()
    ranked = rankings(split, model, k=k, seed=seed, methods=(MODEL,))
    recommend_ms = 1000 * (time.perf_counter() - started) / max(1, len(split.test))
    ranked.update(rankings(split, model, k=k, seed=seed, methods=(POPULAR, POPULAR_RECENT, RANDOM)))
    return Evaluation(seed=sim.seed, members=len(sim.members), items=len(sim.items), split_day=split_day,
                      test_days=test_days, k=k, params=asdict(params), train_interactions=len(split.train),
                      test_members=len(split.test), cold_members=len(split.cold), new_items=len(split.new_items),
                      fit_seconds=model.fit_seconds, recommend_ms=recommend_ms, rows=score(split, ranked, k))


def validation_split(sim: Simulation, *, split_day: float, test_days: float, segment: str = ALL) -> Split:
    """The split tuning uses: train before (split_day - test_days), test on [split_day - test_days, split_day):
    only the training period of the real split. For COLD, only the cold-start members are tested."""
    at = sim.day(split_day - test_days)
    split = time_split(sim, at=at, until=sim.day(split_day))
    if segment == COLD:
        split = replace(split, test={m: r for m, r in split.test.items() if m in split.cold})
    return split


def validation_ndcg(sim: Simulation, params: Params, *, split_day: float, test_days: float, k: int = 10,
                    seed: int = 0, segment: str = ALL, split: Split | None = None) -> float:
    """The model's NDCG@k (of `segment`'s members) on the validation split (`validation_split`; pass it as
    `split` to reuse one)."""
    split = split or validation_split(sim, split_day=split_day, test_days=test_days, segment=segment)
    model = fit_model(split, params, seed)
    rows = score(split, rankings(split, model, k=k, seed=seed, methods=(MODEL,)), k)
    return next(r.ndcg for r in rows if r.segment == segment)


def tune(sim: Simulation, base: Params, space: Mapping[str, Sequence], *, split_day: float, test_days: float,
         rounds: int = 2, k: int = 10, seed: int = 0, segment: str = ALL,
         log: Callable[[str], None] | None = None) -> tuple[Params, float, list[tuple[dict, float]]]:
    """Coordinate search on the validation split (`validation_ndcg`): for each parameter in `space` in turn,
    each of its values with the others at the best so far; a value is kept when it beats the best by 1e-4.
    `segment`: whose NDCG counts (COLD for the parameters only cold-start members' rankings use).
    Returns the best parameters, their validation NDCG@k and every trial (changes from `base`, NDCG)."""
    def changed(p: Params) -> dict:
        return {name: value for name, value in asdict(p).items() if asdict(base)[name] != value}

    split = validation_split(sim, split_day=split_day, test_days=test_days, segment=segment)
    best = base
    best_score = validation_ndcg(sim, best, split_day=split_day, test_days=test_days, k=k, seed=seed,
                                 segment=segment, split=split)
    trials = [(changed(best), best_score)]
    for _ in range(rounds):
        improved = False
        for name, values in space.items():
            for value in values:
                candidate = replace(best, **{name: value})
                if candidate == best or any(changed(candidate) == t for t, _ in trials):
                    continue
                ndcg = validation_ndcg(sim, candidate, split_day=split_day, test_days=test_days, k=k, seed=seed,
                                       segment=segment, split=split)
                trials.append((changed(candidate), ndcg))
                if log:
                    log(f"{name}={value}: validation NDCG@{k} {ndcg:.4f} (best {best_score:.4f})")
                if ndcg > best_score + 1e-4:
                    best, best_score, improved = candidate, ndcg, True
        if not improved:
            break
    return best, best_score, trials


def render(evaluation: Evaluation) -> str:
    """The results as a markdown table (one row per segment and method)."""
    k = evaluation.k
    lines = [f"| segment | method | members | relevant | recall@{k} | NDCG@{k} | coverage |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for segment in SEGMENTS:
        for method in METHODS:
            try:
                r = evaluation.row(method, segment)
            except StopIteration:
                continue
            name = f"**{method}**" if method == MODEL else method
            lines.append(f"| {segment} | {name} | {r.members:,} | {r.relevant:,} | {r.recall:.4f} | {r.ndcg:.4f} "
                         f"| {r.coverage:.1%} |")
    return "\n".join(lines)
