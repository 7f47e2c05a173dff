"""Product recommendations, offline evaluation (`make bench`, issue 18 part 3): the model beside most-popular and
random on the simulator's members (recommend.simulator: seeded, documented there), at bench size.

    python -m bench.recommend_eval_bench [--seed 18] [--members 20000] [--items 500] [--days 120]
        [--split-day 100] [--test-days 20] [--no-tune] [--out reports]

1. Simulate the world; time it.
2. Tune (unless --no-tune) on a validation split inside the training period only (train before split_day -
   test_days, validate on [split_day - test_days, split_day)): a coordinate search over the model's parameters
   on all validation members' NDCG@10, then the cold-start content weight on the cold-start validation members'.
   The test split is not looked at.
3. Evaluate the chosen parameters on the test split (train before split_day, test on the next test_days):
   recall@10, NDCG@10, coverage for the model, most-popular (all training time and last 28 days) and random,
   for all members, cold-start members, established members and new items (recommend.evaluate); the training
   time and the mean time to rank one member.

Runs in the recommend venv ($RECOMMEND_VENV), one thread (OPENBLAS_NUM_THREADS=1). Writes
<out>/recommend_eval.md and <out>/recommend_eval.json. The target: the model's NDCG@10 >= 1.2 x most-popular's.
"""

import argparse
import json
import os
import platform
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import implicit
import numpy as np

from recommend.evaluate import ALL, COLD, MODEL, POPULAR, evaluate, render, tune
from recommend.products import Params
from recommend.simulator import World, simulate

TARGET_LIFT = 1.2
# The coordinate search's values per parameter (the defaults in Params are tried first). `new_slots` is a policy
# (new items reach the members they fit before any sale), not tuned: it costs NDCG on a simulator whose members
# find new items anyway.
SPACE = {
    "factors": [32, 96],
    "regularization": [0.05],
    "alpha": [1.0, 10.0],
    "content_weight": [0.3, 1.2],
    "popularity_weight": [0.8, 3.2],
    "new_weight": [1.0, 4.0],
    "popularity_days": [3.5, 14.0],
}
COLD_SPACE = {"cold_content_weight": [0.15, 0.6, 1.2]}


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--split-day", type=float, default=100)
    parser.add_argument("--test-days", type=float, default=20)
    parser.add_argument("--no-tune", action="store_true", help="evaluate Params() as they are")
    parser.add_argument("--out", type=Path, default=Path("reports"))
    args = parser.parse_args()

    world = World(members=args.members, items=args.items, days=args.days)
    started = time.perf_counter()
    sim = simulate(world, seed=args.seed)
    simulate_seconds = time.perf_counter() - started
    sessions = sum(len(s) for s in sim.workouts.values())
    log(f"simulated {len(sim.members):,} members, {len(sim.items):,} items: {sessions:,} workouts, "
        f"{len(sim.purchases):,} purchases, {len(sim.views):,} views in {simulate_seconds:.1f} s")

    params, trials, cold_trials, tune_seconds = Params(), [], [], 0.0
    validation = {}
    if not args.no_tune:
        started = time.perf_counter()
        params, validation[ALL], trials = tune(sim, params, SPACE, split_day=args.split_day,
                                               test_days=args.test_days, rounds=2, log=log)
        params, validation[COLD], cold_trials = tune(sim, params, COLD_SPACE, split_day=args.split_day,
                                                     test_days=args.test_days, rounds=1, segment=COLD, log=log)
        tune_seconds = time.perf_counter() - started
        log(f"tuned in {tune_seconds:.0f} s: {params}")

    started = time.perf_counter()
    result = evaluate(sim, split_day=args.split_day, test_days=args.test_days, params=params, seed=args.seed)
    evaluate_seconds = time.perf_counter() - started
    lift = result.lift()
    log(f"NDCG@10 model {result.row(MODEL).ndcg:.4f}, popular {result.row(POPULAR).ndcg:.4f}: x{lift:.2f} "
        f"(target x{TARGET_LIFT}); fit {result.fit_seconds:.1f} s, {result.recommend_ms:.2f} ms a member")

    report = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
                    "implicit": implicit.__version__, "threads": 1},
        "seed": args.seed, "world": asdict(world), "split_day": args.split_day, "test_days": args.test_days,
        "simulated": {"members": len(sim.members), "items": len(sim.items), "workouts": sessions,
                      "purchases": len(sim.purchases), "views": len(sim.views), "seconds": round(simulate_seconds, 2)},
        "tuning": {"validation_ndcg": validation, "trials": [{"changes": c, "ndcg": n} for c, n in trials],
                   "cold_trials": [{"changes": c, "ndcg": n} for c, n in cold_trials],
                   "seconds": round(tune_seconds, 1), "space": SPACE, "cold_space": COLD_SPACE},
        "params": asdict(params),
        "test": {"train_interactions": result.train_interactions, "test_members": result.test_members,
                 "cold_members": result.cold_members, "new_items": result.new_items,
                 "rows": [asdict(r) for r in result.rows]},
        "fit_seconds": round(result.fit_seconds, 2), "recommend_ms_per_member": round(result.recommend_ms, 3),
        "evaluate_seconds": round(evaluate_seconds, 1),
        "ndcg_lift_over_popular": round(lift, 3), "target_lift": TARGET_LIFT, "met": lift >= TARGET_LIFT,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "recommend_eval.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "recommend_eval.md").write_text(markdown(report, result, params))
    log(f"wrote {args.out}/recommend_eval.md and .json")


def markdown(report: dict, result, params: Params) -> str:
    sim, m = report["simulated"], report["machine"]
    cold_lift = result.lift(COLD)
    changed = {k: v for k, v in asdict(params).items() if asdict(Params())[k] != v}
    lines = [
        "# Product recommendations: offline evaluation",
        "",
        f"Generated {report['generated']} by `make bench` (`python -m bench.recommend_eval_bench`) on {m['cpus']} "
        f"cores, Python {m['python']}, numpy {m['numpy']}, implicit {m['implicit']}, one thread.",
        "",
        "The product model (`recommend/products.py`: implicit's ALS on BM25-weighted purchases and views, blended "
        "with a content score of the member's activities and past items x the item's tags, a tenant popularity "
        "prior and recency for new items) beside most-popular and random baselines, on the simulator "
        "(`recommend/simulator.py`: members whose latent tastes drive both their workouts and their purchases, "
        "word of mouth, new items and new members over time; no real purchases exist to learn from yet). Every "
        "method gets the same hard filters: the member's tenant, items listed at the split, nothing they bought.",
        "",
        "## Data",
        "",
        f"Simulator seed {report['seed']}: {sim['members']:,} members, {sim['items']:,} items in "
        f"{report['world']['tenants']} tenants over {report['world']['days']} days: {sim['workouts']:,} workouts, "
        f"{sim['purchases']:,} purchases, {sim['views']:,} views (simulated in {sim['seconds']:.1f} s).",
        "",
        f"Time split at day {report['split_day']:g}: {result.train_interactions:,} interactions before it to train "
        f"on; the test is the next {report['test_days']:g} days' purchases of {result.test_members:,} members "
        f"({result.cold_members:,} of them cold-start: no interaction before the split; "
        f"{result.new_items:,} items listed in the 14 days before it are the new items).",
        "",
        "## Results (test split)",
        "",
        render(result),
        "",
        f"NDCG@10: the model **{result.row(MODEL).ndcg:.4f}**, most-popular {result.row(POPULAR).ndcg:.4f}: "
        f"**x{report['ndcg_lift_over_popular']:.2f}** (target x{report['target_lift']}: "
        f"{'met' if report['met'] else 'NOT met'}); for cold-start members x{cold_lift:.2f}.",
        "",
        f"Training (one thread): {report['fit_seconds']:.1f} s; ranking one member's catalogue: "
        f"{report['recommend_ms_per_member']:.2f} ms on average.",
        "",
        "## Tuning",
        "",
    ]
    tuning = report["tuning"]
    if tuning["trials"]:
        lines += [
            f"On a validation split inside the training period only (train before day "
            f"{report['split_day'] - report['test_days']:g}, validate on the {report['test_days']:g} days up to "
            f"the split): a coordinate search over {', '.join(tuning['space'])} on all validation members' NDCG@10 "
            f"({len(tuning['trials'])} trials, best {tuning['validation_ndcg'][ALL]:.4f}), then the cold-start "
            f"content weight on the cold validation members' ({len(tuning['cold_trials'])} trials, best "
            f"{tuning['validation_ndcg'][COLD]:.4f}); {tuning['seconds']:.0f} s in all. The test split was not "
            "looked at.",
            "",
            "| changes from the defaults | validation NDCG@10 |", "|---|---:|",
        ]
        for t in tuning["trials"] + tuning["cold_trials"]:
            changes = ", ".join(f"{k}={v}" for k, v in t["changes"].items()) or "(defaults)"
            lines.append(f"| {changes} | {t['ndcg']:.4f} |")
        lines += ["", f"Chosen: {', '.join(f'{k}={v}' for k, v in changed.items()) or 'the defaults'}."]
    else:
        lines.append("Not tuned (--no-tune): the defaults.")
    lines += ["", "Parameters evaluated: " + ", ".join(f"{k}={v}" for k, v in asdict(params).items()) + ".", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
