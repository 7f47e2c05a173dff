"""Offline evaluation (recommend.evaluate) on the simulator (recommend.simulator): the metrics, the time split,
and a small evaluation that fails if the model stops beating most-popular (the full one is
bench/recommend_eval_bench.py)."""

import time

import pytest

from fitmint.memberhistory import DAY
from recommend.evaluate import (
    ALL,
    COLD,
    MODEL,
    NEW_ITEMS,
    POPULAR,
    RANDOM,
    evaluate,
    ndcg_at,
    recall_at,
    render,
    time_split,
    tune,
    validation_ndcg,
    validation_split,
)
from recommend.products import Params
from recommend.simulator import VIEW_WEIGHT, World, simulate


def test_ranking_metrics():
    assert recall_at(["a", "b", "c"], {"b", "z"}, 10) == 0.5
    assert recall_at(["a", "b", "c"], {"c"}, 2) == 0.0
    assert ndcg_at(["a", "b"], {"a"}, 10) == 1.0
    assert ndcg_at(["x", "a"], {"a"}, 10) == pytest.approx(1 / 1.58496, rel=1e-4)
    assert ndcg_at(["a", "x", "b"], {"a", "b"}, 10) == pytest.approx((1 + 0.5) / (1 + 1 / 1.58496), rel=1e-4)
    assert ndcg_at(["x"], set(), 10) == 0.0


def test_the_simulator_is_seeded_and_consistent():
    world = World(members=400, items=60, days=60)
    a, b = simulate(world, seed=2), simulate(world, seed=2)
    assert a.purchases == b.purchases and a.views == b.views and a.workouts == b.workouts
    assert simulate(world, seed=3).purchases != a.purchases
    items = {i.item_id: i for i in a.items}
    tenant = {m.member_id: m.tenant_id for m in a.members}
    bought = set()
    for x in a.purchases:
        assert items[x.item_id].tenant_id == tenant[x.member_id] and items[x.item_id].listed_at <= x.at
        assert (x.member_id, x.item_id) not in bought and x.weight == 1.0
        bought.add((x.member_id, x.item_id))
    assert all(v.weight == VIEW_WEIGHT < 1.0 for v in a.views)
    assert len(a.views) > len(a.purchases) > 500
    # Tastes drive both: a member's purchases lean towards the activities they train.
    def agreement(pairs) -> float:
        """The share of purchases (of an item for one activity) whose activity is 20%+ of the buyer's sessions."""
        agree = total = 0
        for member_id, item_id in pairs:
            sessions = a.workouts[member_id]
            if sessions and len(items[item_id].tags) == 2:
                total += 1
                agree += sum(s.activity == items[item_id].tags[0] for s in sessions) / len(sessions) >= 0.2
        return agree / total

    pairs = [(x.member_id, x.item_id) for x in a.purchases]
    shuffled = [(m, pairs[(n + 7) % len(pairs)][1]) for n, (m, _) in enumerate(pairs)]
    assert agreement(pairs) > 1.5 * agreement(shuffled)


def test_the_time_split_never_leaks_the_future():
    sim = simulate(World(members=600, items=80, days=60), seed=4)
    split = time_split(sim, at=sim.day(45), until=sim.day(60))
    assert all(x.at < split.at for x in split.train)
    listed = {i.item_id for i in split.items}
    assert all(i.listed_at <= split.at for i in split.items)
    for member, relevant in split.test.items():
        assert relevant <= listed and not relevant & split.owned.get(member, set())
    assert split.cold and all(member not in {x.member_id for x in split.train} for member in split.cold)
    assert split.new_items and all(split.at - 14 * DAY < next(i for i in split.items if i.item_id == n).listed_at
                                   for n in split.new_items)


def test_the_model_beats_most_popular_on_a_small_simulation():
    started = time.perf_counter()
    sim = simulate(World(members=2500, items=200, days=100), seed=7)
    result = evaluate(sim, split_day=82, test_days=18)
    elapsed = time.perf_counter() - started
    model, popular, random = (result.row(m, ALL) for m in (MODEL, POPULAR, RANDOM))
    assert result.test_members > 800 and result.cold_members > 20
    assert model.ndcg > popular.ndcg > random.ndcg, render(result)
    assert model.recall > popular.recall
    assert model.coverage > popular.coverage
    assert result.row(MODEL, NEW_ITEMS).recall > result.row(POPULAR, NEW_ITEMS).recall
    assert result.row(MODEL, COLD).ndcg > result.row(RANDOM, COLD).ndcg
    assert "| all members | **model** |" in render(result)
    assert elapsed < 40, f"the small evaluation took {elapsed:.1f} s"
    print(f"\n{render(result)}\nlift {result.lift():.2f}, {elapsed:.1f} s")


def test_tuning_looks_only_at_the_training_period():
    sim = simulate(World(members=600, items=60, days=60), seed=8)
    split = validation_split(sim, split_day=45, test_days=10)
    assert split.at == sim.day(35) and split.until == sim.day(45)
    assert all(x.at < sim.day(35) for x in split.train)
    best, ndcg, trials = tune(sim, Params(), {"content_weight": [0.3], "new_slots": [0]}, split_day=45, test_days=10,
                              rounds=1)
    assert trials[0] == ({}, pytest.approx(validation_ndcg(sim, Params(), split_day=45, test_days=10)))
    assert ndcg == max(n for _, n in trials) and len(trials) == 3
    assert best.content_weight in (0.3, Params().content_weight) and best.new_slots in (0, Params().new_slots)
