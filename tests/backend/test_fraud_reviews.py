"""The anti-cheat model in the API and the worker, on the stack's PostgreSQL, Redis and Kafka: a suspicious
workout is accepted, rewarded and flagged for review (never refused); coaches of its tenant review it
(cleared or confirmed, once), nobody else does; workouts are stored unscored while no version is active and
scored as soon as one is; retraining stores a new version with its metrics and activates it only when it is
not worse, once a week or at once when none is usable, which a new stack's worker does when it starts."""

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

import asyncpg
import pytest

from backend.app.core.db import dsn, migrate
from backend.app.fitness.fraud import reviews, training, versions
from backend.app.fitness.fraud.dataset import build
from backend.app.fitness.fraud.ensemble import Ensemble
from backend.app.fitness.fraud.features import FEATURES
from backend.app.fitness.fraud.model import train
from backend.app.fitness.fraud.simulator import simulate
from backend.app.notifications.scheduler import default_jobs, last_fire_time
from tests.support import testclock
from tests.support.api import a_run, api_settings, db
from tests.support.processes import start_worker
from tests.support.waiting import wait_until

pytestmark = pytest.mark.wallclock  # `make test-clock` runs it at 00:05, 11:00 and 23:55 UTC


@pytest.fixture
def settings(stack, tmp_path, backend_database):
    """The API checks for a newly activated version at every workout; the worker's retraining is small."""
    return api_settings(stack, tmp_path, backend_database, fraud_model_refresh_seconds=0.0, fraud_train_members=120,
                        fraud_train_days=60)


@pytest.fixture(scope="module")
def trained():
    """A model trained on a small simulation, once for the module."""
    model, _ = train(build(simulate(21, members=240, days=90)), seed=21, now=testclock.now(),
                     description={"simulator": {"seed": 21, "members": 240, "days": 90}})
    return model


def on_database(settings, scenario):
    async def run():
        pool = await asyncpg.create_pool(dsn(settings, settings.backend_database), min_size=1, max_size=4)
        try:
            return await scenario(pool)
        finally:
            await pool.close()

    return asyncio.run(run())


def activate(settings, model) -> int:
    migrate(settings)

    async def save(pool):
        async with pool.acquire() as connection, connection.transaction():
            return await versions.save(connection, model, activate=True, decision="activated by the test")

    return on_database(settings, save)


@pytest.fixture
def scored(client, settings, trained) -> int:
    """The module's model is the active version of the test's database."""
    return activate(settings, trained)


def routine(days: int = 8) -> list[dict]:
    """A member's morning runs of the last `days` days: 4.6-5.8 km in 28-36 minutes, heart rate 145-156."""
    end = testclock.now() - timedelta(hours=3)
    return [a_run(end=end - timedelta(days=day), minutes=28 + day % 5 * 2, km=4.6 + day % 4 * 0.4,
                  avg_heart_rate=145 + day % 6 * 2, max_heart_rate=170 + day % 4 * 3) for day in range(1, days + 1)]


def replayed(run: dict, days: int) -> dict:
    """The same workout, every number copied, `days` later."""
    shift = timedelta(days=days)
    return run | {field: (datetime.fromisoformat(run[field]) + shift).isoformat()
                  for field in ("started_at", "ended_at")}


def submit(client, member, body: dict) -> dict:
    response = client.post("/fitness/workouts", json=body, headers=member.headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_replayed_workout_is_accepted_rewarded_and_flagged_for_coaches(client, settings, tenants, scored):
    alpha, beta = tenants["alpha"], tenants["beta"]
    alice, coach = alpha["user"], alpha["coach"]
    db(settings, "UPDATE tenants SET reward_mode = 'epoch' WHERE slug = 'alpha'")  # to see the reward accrue
    history = [submit(client, alice, run) for run in routine()]
    assert all(w["status"] == "accepted" and w["review_status"] is None for w in history)

    copy = submit(client, alice, replayed(routine()[2], days=3))
    assert copy["status"] == "accepted" and copy["rejections"] == []  # the rules see nothing wrong
    assert copy["review_status"] == "pending"
    assert db(settings, "SELECT 1 FROM epoch_accruals WHERE workout_id = $1::uuid", copy["id"])  # paid as usual
    assert client.get(f"/fitness/workouts/{copy['id']}", headers=alice.headers).json()["review_status"] == "pending"

    fresh = submit(client, alice, a_run(hours_ago=7, minutes=33, km=5.3, avg_heart_rate=151, max_heart_rate=176))
    assert fresh["review_status"] is None
    rows = db(settings, "SELECT workout_id::text, status, model_version FROM workout_reviews")
    assert {r["workout_id"]: (r["status"], r["model_version"]) for r in rows}[fresh["id"]] == (None, scored)

    queue = client.get("/fitness/flagged", headers=coach.headers)
    assert queue.status_code == 200, queue.text
    [item] = queue.json()["data"]
    assert item["workout"]["id"] == copy["id"] and item["review"]["status"] == "pending"
    review = item["review"]
    assert review["score"] >= review["threshold"] and review["model_version"] == scored
    assert review["replay_of"] == history[2]["id"]
    assert any(hint.startswith("nearly identical to an earlier workout") for hint in review["signals"])
    assert client.get("/fitness/flagged", headers=alice.headers).status_code == 403
    assert client.get("/fitness/flagged", headers=beta["coach"].headers).json()["data"] == []
    assert client.get("/fitness/flagged", params={"user_id": alice.user_id},
                      headers=beta["coach"].headers).status_code == 404


def flag_one(client, member) -> dict:
    for run in routine(6):
        submit(client, member, run)
    flagged = submit(client, member, replayed(routine(6)[1], days=2))
    assert flagged["review_status"] == "pending"
    return flagged


def test_a_coach_clears_or_confirms_a_flag_once(client, settings, tenants, scored):
    alpha = tenants["alpha"]
    alice, coach, admin = alpha["user"], alpha["coach"], alpha["admin"]
    flagged = flag_one(client, alice)
    url = f"/fitness/flagged/{flagged['id']}"

    assert client.put(url, json={"decision": "confirmed"}, headers=coach.headers).status_code == 422  # why?
    assert client.put(url, json={"decision": "maybe"}, headers=coach.headers).status_code == 422
    assert client.put(url, json={"decision": "cleared"}, headers=alice.headers).status_code == 403
    assert client.put(url, json={"decision": "cleared"}, headers=tenants["beta"]["coach"].headers).status_code == 404

    decided = client.put(url, json={"decision": "confirmed", "note": "same numbers as Tuesday's run"},
                         headers=coach.headers)
    assert decided.status_code == 200, decided.text
    review = decided.json()["review"]
    assert (review["status"], review["reviewer"], review["note"]) == ("confirmed", coach.user_id,
                                                                      "same numbers as Tuesday's run")
    again = client.put(url, json={"decision": "confirmed", "note": "retried"}, headers=coach.headers)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["review"]["note"] == "same numbers as Tuesday's run"
    other = client.put(url, json={"decision": "cleared"}, headers=admin.headers)
    assert other.status_code == 409 and f"already confirmed by {coach.user_id}" in other.json()["detail"]

    assert client.get("/fitness/flagged", headers=coach.headers).json()["data"] == []  # pending only
    confirmed = client.get("/fitness/flagged", params={"status": "confirmed"}, headers=coach.headers).json()["data"]
    assert [i["workout"]["id"] for i in confirmed] == [flagged["id"]]
    workout = client.get(f"/fitness/workouts/{flagged['id']}", headers=alice.headers).json()
    assert (workout["status"], workout["review_status"]) == ("accepted", "confirmed")

    labels = on_database(settings, reviews.labels)  # what the next retraining learns from
    assert labels.fraud.tolist() == [True] and labels.X.shape[0] == 1

    unflagged = submit(client, alice, a_run(hours_ago=8, minutes=31, km=5.0))
    answer = client.put(f"/fitness/flagged/{unflagged['id']}", json={"decision": "cleared"}, headers=coach.headers)
    assert answer.status_code == 409 and "did not flag this workout" in answer.json()["detail"]
    missing = "/fitness/flagged/00000000-0000-4000-8000-000000000000"
    assert client.put(missing, json={"decision": "cleared"}, headers=coach.headers).status_code == 404


def test_coaches_do_not_review_private_members_or_themselves(client, tenants, scored):
    alpha = tenants["alpha"]
    alice, coach, admin = alpha["user"], alpha["coach"], alpha["admin"]
    flagged = flag_one(client, alice)
    client.put("/users/me/preferences", json={"privacy": "private"}, headers=alice.headers)
    assert client.get("/fitness/flagged", headers=coach.headers).json()["data"] == []
    assert [i["workout"]["id"] for i in client.get("/fitness/flagged", headers=admin.headers).json()["data"]] == [
        flagged["id"]]
    url = f"/fitness/flagged/{flagged['id']}"
    assert client.put(url, json={"decision": "cleared"}, headers=coach.headers).status_code == 403
    assert client.put(url, json={"decision": "cleared"}, headers=admin.headers).json()["review"]["status"] == "cleared"

    own = flag_one(client, coach)
    answer = client.put(f"/fitness/flagged/{own['id']}", json={"decision": "cleared"}, headers=coach.headers)
    assert answer.status_code == 403 and "own workout" in answer.json()["detail"]


def test_workouts_are_unscored_until_a_version_is_active_then_scored_without_a_restart(client, settings, tenants,
                                                                                      trained):
    alice = tenants["alpha"]["user"]
    runs = routine(4)
    before = submit(client, alice, runs[0])
    assert before["review_status"] is None
    assert db(settings, "SELECT count(*) AS n FROM workout_reviews")[0]["n"] == 0
    version = activate(settings, trained)
    after = submit(client, alice, runs[1])
    assert db(settings, "SELECT model_version FROM workout_reviews WHERE workout_id = $1::uuid",
              after["id"])[0]["model_version"] == version


def test_a_model_that_fails_to_score_never_costs_a_workout(client, settings, tenants, trained):
    ensemble = trained.ensemble
    broken = Ensemble(feature=ensemble.feature + len(FEATURES), threshold=ensemble.threshold,  # no such features
                      missing_left=ensemble.missing_left, left=ensemble.left, right=ensemble.right,
                      value=ensemble.value, roots=ensemble.roots, levels=ensemble.levels, baseline=ensemble.baseline)
    activate(settings, replace(trained, ensemble=broken))
    alice = tenants["alpha"]["user"]
    stored = submit(client, alice, routine(1)[0])
    assert (stored["status"], stored["review_status"]) == ("accepted", None)
    assert db(settings, "SELECT count(*) AS n FROM workout_reviews")[0]["n"] == 0


def test_retraining_keeps_every_version_and_activates_only_one_not_worse(settings):
    migrate(settings)
    now = testclock.now()

    async def scenario(pool):
        first = await training.retrain(pool, seed=3, members=120, days=60, now=now)
        weak = await training.retrain(pool, seed=4, members=120, days=60, now=now,
                                      params={"max_iter": 1, "max_depth": 2, "learning_rate": 0.01})
        return first, weak, await versions.listing(pool), await versions.active_version(pool)

    first, weak, listing, active = on_database(settings, scenario)
    assert first.activated and "no usable version was active" in first.decision
    assert not weak.activated and f"version {first.version} stays" in weak.decision
    assert active == first.version and [v["version"] for v in listing] == [weak.version, first.version]
    stored = {v["version"]: v for v in listing}
    assert stored[weak.version]["metrics"]["active_on_same_test"]["version"] == first.version
    assert stored[first.version]["training"]["simulator"] == {**stored[first.version]["training"]["simulator"],
                                                              "seed": 3, "members": 120, "days": 60}
    for version in stored.values():
        assert 0 <= version["threshold"] <= 1 and version["metrics"]["on_rule_accepted"]["roc_auc"] > 0


def test_the_weekly_retraining_runs_once_a_week_and_at_once_without_a_usable_version(settings):
    migrate(settings)
    monday = testclock.now()

    async def scenario(pool):
        trained = await training.weekly_retrain(pool, settings, monday)
        again = await training.weekly_retrain(pool, settings, monday)
        await pool.execute("UPDATE fraud_models SET active = false")
        lost = await training.weekly_retrain(pool, settings, monday)
        runs = await pool.fetch("SELECT period, result FROM job_runs WHERE job = $1", training.JOB)
        return trained, again, lost, runs

    trained, again, lost, runs = on_database(settings, scenario)
    week, _ = training.week_of(monday)
    assert trained["week"] == week and trained["activated"]
    assert again is None
    assert lost["activated"] and lost["version"] != trained["version"]
    assert [r["period"] for r in runs] == [week]


def test_a_new_stacks_worker_trains_the_first_version_when_it_starts(settings, tmp_path):
    worker = start_worker(settings, tmp_path, "--no-senders")  # a real worker process, leading the scheduler
    try:
        active = wait_until(lambda: db(settings, "SELECT version, decision FROM fraud_models WHERE active")
                            if db(settings, "SELECT 1 FROM pg_tables WHERE tablename = 'fraud_models'") else None,
                            timeout=180, interval=1, what="an active anti-cheat model version")
    finally:
        worker.stop()
    assert "no usable version was active" in active[0]["decision"]
    job = next(job for job in default_jobs() if job.name == training.JOB)  # the catch-up of the last Monday's run
    week, _ = training.week_of(last_fire_time(job.trigger, testclock.now()))
    assert [r["period"] for r in db(settings, "SELECT period FROM job_runs WHERE job = $1", training.JOB)] == [week]
