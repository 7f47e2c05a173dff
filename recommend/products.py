"""Product recommendations: implicit-feedback matrix factorisation (`implicit`'s ALS on BM25-weighted purchases
and views) blended with a content score (the member's activities and past purchases x the item's tags), a
tenant popularity prior and, for new items, recency.

The score of an item for a member is the sum of five parts:

    trust x cf + (1 - trust) x borrowed + content_weight x content + popularity_weight x popularity
        + new_weight x recency x content

- cf: the ALS prediction (user factors . item factors). Known members have their trained factors; an unknown
  member with `recent_items` (e.g. what they viewed this session) is folded in (implicit's `recalculate_user`);
  otherwise cf is 0 (and content uses `cold_content_weight`). trust = n / (n + cf_shrink), n the members who
  interacted with the item in training: the model cannot vouch for the factors of an item few have touched, and
  an item listed after training has none (trust 0).
- borrowed: for such items, the member's trust-weighted mean prediction over the tenant's items with the same
  tags (a new running shoe scores like the running items and shoes they like).
- content: the member's tag profile (half their activity mix from their workouts, mapped onto activity tags;
  half the tags of what they interacted with) . the item's tags (each item's tags weigh 1 in all).
- popularity: the tenant's purchases (and views at their weight) decayed with `popularity_days`, as
  log(1 + p) / log(1 + the tenant's largest p), as of the training's end; 0 for items listed after training.
- recency: exp(-days since listed / new_days).
Then `new_slots` (1) of the k places go to the best new items (listed within new_days, trust < 1/2) that fit
the member (content at least half the pool's best) if the scores left them out: a new item reaches the members
it is for before anyone bought it. Each result's reason names the part that lifts it most above the average
candidate. The weights are tuned on a validation split (bench/recommend_eval_bench.py).

Hard filters, whatever the scores: only the requested tenant's items, listed by `now`, never an item in
`exclude` (what the member owns), and only items in `candidates` when given (what is listed for sale now).

A model is saved as `model.npz` (numpy arrays only, loaded with allow_pickle=False) and `model.json` (the
parameters and the tag vocabulary) in a directory: nothing is unpickled.
"""

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit warns (and is slower) on a threaded BLAS

from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import bm25_weight

from fitmint.memberhistory import ACTIVITIES, DAY
from recommend.wording import DOING, PEOPLE

FORMAT = 1


@dataclass(frozen=True)
class Interaction:
    member_id: str
    item_id: str
    at: float  # unix s
    weight: float = 1.0  # a purchase 1; a view less (simulator.VIEW_WEIGHT)


@dataclass(frozen=True)
class Item:
    item_id: str
    tenant_id: str
    tags: tuple[str, ...]
    unit_price: float
    listed_at: float  # unix s


@dataclass(frozen=True)
class Scored:
    item_id: str
    score: float
    reason: str


@dataclass(frozen=True)
class Params:
    """The defaults are those bench/recommend_eval_bench.py chose on its validation split (reports/)."""
    factors: int = 64
    regularization: float = 0.01
    alpha: float = 3.0  # confidence = alpha x (BM25-weighted) interaction
    iterations: int = 15
    bm25: bool = True
    bm25_k1: float = 100.0
    bm25_b: float = 0.8
    cf_shrink: float = 10.0
    content_weight: float = 0.6
    cold_content_weight: float = 0.6  # content's weight for a member without factors (popularity's stays)
    popularity_weight: float = 1.6
    new_weight: float = 2.0
    new_days: float = 14.0
    # Of the k, kept for the best new items that fit the member: a policy (exposure before any sale), not tuned;
    # it costs about 0.6% of validation NDCG@10 at bench size (reports/recommend_eval.md).
    new_slots: int = 1
    popularity_days: float = 7.0


@dataclass
class ProductModel:
    params: Params
    trained_at: float  # the newest interaction trained on (unix s)
    member_ids: np.ndarray  # (members,) str
    item_ids: np.ndarray  # (items,) str
    item_tenant: np.ndarray  # (items,) str
    item_listed: np.ndarray  # (items,) float
    item_price: np.ndarray  # (items,) float
    item_tags: np.ndarray  # (items, tags) float32: each row sums to 1 (0 without tags)
    tags: list[str]
    item_count: np.ndarray  # (items,) members who interacted with it in training
    popularity: np.ndarray  # (items,) in [0, 1] within its tenant
    user_factors: np.ndarray  # (members, factors) float32
    item_factors: np.ndarray  # (items, factors) float32
    user_items: sparse.csr_matrix  # (members, items) summed interaction weights (unweighted by BM25)
    member_mix: np.ndarray  # (members, activities) float32: activity mix at training
    fit_seconds: float = 0.0
    _member_index: dict[str, int] = field(default_factory=dict, repr=False)
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)
    _tag_index: dict[str, int] = field(default_factory=dict, repr=False)
    _by_tenant: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _als: AlternatingLeastSquares | None = field(default=None, repr=False)

    def __post_init__(self):
        self._member_index = {m: n for n, m in enumerate(self.member_ids.tolist())}
        self._item_index = {i: n for n, i in enumerate(self.item_ids.tolist())}
        self._tag_index = {t: n for n, t in enumerate(self.tags)}
        tenants = self.item_tenant.tolist()
        by_tenant: dict[str, list[int]] = {}
        for n, tenant in enumerate(tenants):
            by_tenant.setdefault(tenant, []).append(n)
        self._by_tenant = {t: np.array(ns, dtype=np.int64) for t, ns in by_tenant.items()}

    # Training.

    @classmethod
    def fit(cls, interactions: Iterable[Interaction], items: Iterable[Item] | Mapping[str, Item],
            activity_mix: Mapping[str, Mapping[str, float]] | None = None, *, seed: int = 0,
            params: Params = Params(), now: float | None = None) -> "ProductModel":
        """Train on `interactions` (purchases and views; interactions with items not in `items` are ignored).
        `activity_mix`: each member's activity shares (MemberHistory.activity_mix) at training time.
        `now`: the time popularity is computed at (default: the newest interaction)."""
        started = time.perf_counter()
        catalogue = list(items.values()) if isinstance(items, Mapping) else list(items)
        catalogue.sort(key=lambda i: i.item_id)
        item_index = {item.item_id: n for n, item in enumerate(catalogue)}
        rows, cols, weights, ats = [], [], [], []
        member_index: dict[str, int] = {}
        for x in interactions:
            i = item_index.get(x.item_id)
            if i is None:
                continue
            rows.append(member_index.setdefault(x.member_id, len(member_index)))
            cols.append(i)
            weights.append(x.weight)
            ats.append(x.at)
        n_members, n_items = len(member_index), len(catalogue)
        rows_a, cols_a = np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)
        weights_a, ats_a = np.array(weights, dtype=np.float64), np.array(ats, dtype=np.float64)
        trained_at = float(ats_a.max()) if len(ats_a) else 0.0
        now = trained_at if now is None else now
        user_items = sparse.csr_matrix((weights_a, (rows_a, cols_a)), shape=(n_members, n_items), dtype=np.float32)
        user_items.sum_duplicates()

        tags = sorted({t for item in catalogue for t in item.tags} | set(ACTIVITIES))
        tag_index = {t: n for n, t in enumerate(tags)}
        item_tags = np.zeros((n_items, len(tags)), dtype=np.float32)
        for n, item in enumerate(catalogue):
            for t in item.tags:
                item_tags[n, tag_index[t]] = 1.0 / len(item.tags)

        item_tenant = np.array([item.tenant_id for item in catalogue], dtype=str)
        decayed = np.bincount(cols_a, weights=weights_a * np.exp(-np.maximum(now - ats_a, 0.0)
                                                                 / (params.popularity_days * DAY)),
                              minlength=n_items)
        popularity = np.zeros(n_items)
        for tenant in set(item_tenant.tolist()):
            mask = item_tenant == tenant
            top = np.log1p(decayed[mask].max()) if mask.any() else 0.0
            if top > 0:
                popularity[mask] = np.log1p(decayed[mask]) / top
        item_count = np.diff(user_items.tocsc().indptr).astype(np.int64)

        factors = max(1, params.factors)
        als = AlternatingLeastSquares(factors=factors, regularization=params.regularization, alpha=params.alpha,
                                      iterations=params.iterations, num_threads=1, random_state=seed,
                                      calculate_training_loss=False)
        if n_members and n_items and user_items.nnz:
            als.fit(_weighted(user_items, params), show_progress=False)
            user_factors = np.asarray(als.user_factors, dtype=np.float32)
            item_factors = np.asarray(als.item_factors, dtype=np.float32)
        else:
            user_factors = np.zeros((n_members, factors), dtype=np.float32)
            item_factors = np.zeros((n_items, factors), dtype=np.float32)

        member_ids = np.array(list(member_index), dtype=str)
        member_mix = np.zeros((n_members, len(ACTIVITIES)), dtype=np.float32)
        if activity_mix:
            for m, member_id in enumerate(member_ids.tolist()):
                member_mix[m] = _mix_vector(activity_mix.get(member_id))
        return cls(params=params, trained_at=now, member_ids=member_ids,
                   item_ids=np.array([item.item_id for item in catalogue], dtype=str), item_tenant=item_tenant,
                   item_listed=np.array([item.listed_at for item in catalogue], dtype=np.float64),
                   item_price=np.array([item.unit_price for item in catalogue], dtype=np.float64),
                   item_tags=item_tags, tags=tags, item_count=item_count, popularity=popularity,
                   user_factors=user_factors, item_factors=item_factors, user_items=user_items,
                   member_mix=member_mix, fit_seconds=time.perf_counter() - started)

    # Serving.

    def knows(self, member_id: str) -> bool:
        return member_id in self._member_index

    def recommend(self, member_id: str, *, tenant_id: str, k: int, exclude: Iterable[str] = frozenset(),
                  candidates: set[str] | None = None, recent_items: Sequence[str] = (),
                  activity_mix: Mapping[str, float] | None = None, items: Mapping[str, Item] | None = None,
                  now: float) -> list[Scored]:
        """The member's top `k` items of `tenant_id` listed by `now`, never one in `exclude`, and only ones in
        `candidates` when given. `items`: catalogue items the model may not know (listed after training: scored
        by content and recency); `activity_mix`: the member's current mix (else the one at training);
        `recent_items`: items an unknown member interacted with, folded into the factors."""
        p = self.params
        exclude = set(exclude)
        known_pool = self._by_tenant.get(tenant_id, np.zeros(0, dtype=np.int64))
        known_pool = known_pool[self.item_listed[known_pool] <= now]
        ids = self.item_ids[known_pool].tolist()
        keep = [n for n, i in enumerate(ids) if i not in exclude and (candidates is None or i in candidates)]
        known_pool = known_pool[keep]
        extra = []
        if items:
            extra = sorted((item for item_id, item in items.items()
                            if item_id not in self._item_index and item.tenant_id == tenant_id
                            and item.listed_at <= now and item_id not in exclude
                            and (candidates is None or item_id in candidates)), key=lambda item: item.item_id)
        if k <= 0 or (len(known_pool) == 0 and not extra):
            return []

        member = self._member_index.get(member_id)
        user_vector, history = None, None  # history: (items,) the member's interaction weights
        if member is not None:
            user_vector = self.user_factors[member]
            history = self.user_items[member]
        else:
            recent = [self._item_index[i] for i in dict.fromkeys(recent_items) if i in self._item_index]
            if recent:
                history = sparse.csr_matrix((np.ones(len(recent), dtype=np.float32),
                                             (np.zeros(len(recent), dtype=np.int64), np.array(recent))),
                                            shape=(1, len(self.item_ids)))
                user_vector = self._fold_in(history)
        mix = _mix_vector(activity_mix) if activity_mix is not None else (
            self.member_mix[member] if member is not None else np.zeros(len(ACTIVITIES), dtype=np.float32))
        profile = self._profile(mix, history)

        # The pool: the model's items, then items it does not know (listed after training: no factors, trust 0).
        extra_tags = np.zeros((len(extra), len(self.tags)), dtype=np.float32)
        for n, item in enumerate(extra):
            for t in item.tags:
                if t in self._tag_index:
                    extra_tags[n, self._tag_index[t]] = 1.0 / len(item.tags)
        tags = np.vstack([self.item_tags[known_pool], extra_tags])
        listed = np.concatenate([self.item_listed[known_pool], [item.listed_at for item in extra]])
        popularity = np.concatenate([self.popularity[known_pool], np.zeros(len(extra))])
        count = np.concatenate([self.item_count[known_pool], np.zeros(len(extra))])
        trust = count / (count + p.cf_shrink) if p.cf_shrink > 0 else (count > 0).astype(np.float64)
        content = tags @ profile
        recency = np.exp(-np.maximum(now - listed, 0.0) / (p.new_days * DAY))
        cf = np.zeros(len(trust))
        proxy = np.zeros(len(trust))
        if user_vector is not None:
            cf[: len(known_pool)] = self.item_factors[known_pool] @ user_vector
            # An item the model cannot vouch for borrows the member's mean prediction for items with its tags
            # (over the tenant's items, weighted by trust): a new running shoe scores like their running items.
            tenant_items = self._by_tenant[tenant_id]
            tenant_count = self.item_count[tenant_items]
            weight = (tenant_count / (tenant_count + max(p.cf_shrink, 1e-9)))[:, None] * self.item_tags[tenant_items]
            support = weight.sum(axis=0)
            by_tag = np.divide(weight.T @ (self.item_factors[tenant_items] @ user_vector), support,
                               out=np.zeros(len(self.tags)), where=support > 0)
            proxy = tags @ by_tag
        content_weight = p.content_weight if user_vector is not None else p.cold_content_weight
        contributions = np.column_stack([trust * cf, (1.0 - trust) * proxy, content_weight * content,
                                         p.popularity_weight * popularity, p.new_weight * recency * content])
        scores = contributions.sum(axis=1)
        pool_ids = self.item_ids[known_pool].tolist() + [item.item_id for item in extra]
        pool_tags = [self._item_tags_of(i) for i in known_pool.tolist()] + [item.tags for item in extra]

        ranked = sorted(range(len(pool_ids)), key=lambda n: (-scores[n], pool_ids[n]))
        order = ranked[:k]
        if p.new_slots > 0 and k > 1 and len(ranked) > k:
            # New items few have touched yet (trust < 1/2, listed within new_days) that fit the member (content at
            # least half the best content in the pool): the best `new_slots` of them take the last places if the
            # scores left them out, so a new item reaches the members it is for before anyone bought it.
            fits = content >= 0.5 * content.max() if content.max() > 0 else np.zeros(len(content), dtype=bool)
            fresh = (trust < 0.5) & (now - listed <= p.new_days * DAY) & fits
            chosen = [n for n in order if fresh[n]]
            missing = [n for n in ranked[k:] if fresh[n]][: max(0, min(p.new_slots, k - 1) - len(chosen))]
            if missing:
                order = order[: k - len(missing)] + missing
        parts = np.column_stack([contributions[:, 0] + contributions[:, 1], contributions[:, 2:]])
        lift = parts - parts.mean(axis=0)
        results = []
        for n in order:
            fresh = bool(trust[n] < 0.5 and now - listed[n] <= p.new_days * DAY and contributions[n, 4] > 0)
            reason = self._reason(lift[n], fresh, pool_tags[n], known_pool[n] if n < len(known_pool) else None,
                                  history, mix)
            results.append(Scored(item_id=pool_ids[n], score=float(scores[n]), reason=reason))
        return results

    def _item_tags_of(self, index: int) -> tuple[str, ...]:
        return tuple(self.tags[t] for t in np.flatnonzero(self.item_tags[index]))

    def _profile(self, mix: np.ndarray, history: sparse.csr_matrix | None) -> np.ndarray:
        """The member's tag profile: half the activity mix (on activity tags), half the tags of their history."""
        profile = np.zeros(len(self.tags), dtype=np.float32)
        activity_part = mix.sum()
        history_part = 0.0
        history_tags = None
        if history is not None and history.nnz:
            history_tags = np.asarray(history @ self.item_tags).ravel()
            history_part = history_tags.sum()
        shares = (0.5 if history_part else 1.0) if activity_part else 0.0
        if activity_part:
            for a, activity in enumerate(ACTIVITIES):
                profile[self._tag_index[activity]] += shares * mix[a] / activity_part
        if history_part:
            profile += (1.0 - shares) * history_tags / history_part
        return profile

    def _fold_in(self, history: sparse.csr_matrix) -> np.ndarray:
        if self._als is None:
            als = AlternatingLeastSquares(factors=self.item_factors.shape[1], regularization=self.params.regularization,
                                          alpha=self.params.alpha, num_threads=1)
            als.user_factors = self.user_factors
            als.item_factors = self.item_factors
            self._als = als
        return np.asarray(self._als.recalculate_user(0, history), dtype=np.float32).ravel()

    def _reason(self, lift: np.ndarray, fresh: bool, tags: tuple[str, ...], index: int | None,
                history: sparse.csr_matrix | None, mix: np.ndarray) -> str:
        """Names what lifts the item above the average candidate (`lift`: each part of its score minus the part's
        mean over the pool: collaborative, content, popularity, new); an item for one of the member's activities
        (20%+ of their sessions) says so rather than that it is popular."""
        collaborative, content, popular, new = lift
        activity = next((t for t in tags if t in PEOPLE), None)
        if fresh or new >= max(collaborative, content, popular) and new > 0:
            return f"new for {PEOPLE[activity]}" if activity else "new in the shop"
        share = 0.0
        if activity in ACTIVITIES and mix.sum():
            share = float(mix[ACTIVITIES.index(activity)] / mix.sum())
        if collaborative >= max(content, popular) and index is not None and history is not None and history.nnz:
            owned = history.indices[history.indices != index]
            if len(owned):
                similarity = self.item_factors[owned] @ self.item_factors[index]
                anchor = self.item_ids[owned[int(np.argmax(similarity))]]
                return f"popular with members who bought item {anchor}"
        if share >= 0.2:  # for one of the member's activities: say so, however popular it also is
            return f"for your {DOING[activity]} ({share:.0%} of your recent workouts)"
        if content >= popular and content > 0 and activity:
            return f"like items you looked at for {DOING[activity]}"
        return "popular in your community lately"

    # Persistence.

    def save(self, path: Path) -> None:
        """`path` is a directory (created): model.npz (arrays, no objects) and model.json."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        ui = self.user_items
        np.savez(path / "model.npz", member_ids=self.member_ids, item_ids=self.item_ids, item_tenant=self.item_tenant,
                 item_listed=self.item_listed, item_price=self.item_price, item_tags=self.item_tags,
                 item_count=self.item_count, popularity=self.popularity, user_factors=self.user_factors,
                 item_factors=self.item_factors, ui_data=ui.data, ui_indices=ui.indices, ui_indptr=ui.indptr,
                 member_mix=self.member_mix)
        meta = {"format": FORMAT, "params": asdict(self.params), "trained_at": self.trained_at, "tags": self.tags,
                "shape": list(ui.shape), "fit_seconds": self.fit_seconds}
        (path / "model.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, path: Path) -> "ProductModel":
        path = Path(path)
        meta = json.loads((path / "model.json").read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"model format {meta.get('format')} in {path}, this code reads {FORMAT}")
        with np.load(path / "model.npz", allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        user_items = sparse.csr_matrix((arrays.pop("ui_data"), arrays.pop("ui_indices"), arrays.pop("ui_indptr")),
                                       shape=tuple(meta["shape"]))
        return cls(params=Params(**meta["params"]), trained_at=meta["trained_at"], tags=meta["tags"],
                   user_items=user_items, fit_seconds=meta.get("fit_seconds", 0.0), **arrays)


def _weighted(user_items: sparse.csr_matrix, params: Params) -> sparse.csr_matrix:
    if not params.bm25:
        return user_items.astype(np.float32)
    # BM25 over items x members (as implicit's examples do): members who interact with everything count less,
    # and an item's many interactions are damped.
    return bm25_weight(user_items.T.tocsr(), K1=params.bm25_k1, B=params.bm25_b).T.tocsr().astype(np.float32)


def _mix_vector(mix: Mapping[str, float] | None) -> np.ndarray:
    vector = np.zeros(len(ACTIVITIES), dtype=np.float32)
    for activity, share in (mix or {}).items():
        if activity in ACTIVITIES:
            vector[ACTIVITIES.index(activity)] = share
    return vector
