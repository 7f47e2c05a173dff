"""`make up`'s analytics service sees what a wallet does through the API: its sign-in (MemberSignedIn) and
a workout (WorkoutRecorded) travel the API's outbox, the relay and Kafka to the `fitmint-analytics` group,
and show in the live projections of the stack's analytics database within seconds."""

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from analytics.settings import Settings
from tests.support.signin import new_wallet
from tests.support.stackclient import sign_in_over_http
from tests.support.stackenv import stack_settings
from tests.support.waiting import wait_until


def _analytics_rows(settings: Settings, user_id: str):
    async def read():
        connection = await asyncpg.connect(**settings.postgres(settings.analytics_database))
        try:
            milestones = await connection.fetchrow(
                "SELECT joined_at, first_workout_at FROM member_milestones WHERE user_id = $1::uuid", user_id)
            workouts = await connection.fetchval(
                "SELECT sum(workouts) FROM member_days WHERE user_id = $1::uuid", user_id)
            return milestones, workouts
        finally:
            await connection.close()

    return asyncio.run(read())


def test_a_wallets_sign_in_and_workout_reach_the_dashboards_store():
    stack = stack_settings()
    settings = Settings(fitmint_state_dir=stack["FITMINT_STATE_DIR"], postgres_port=int(stack["POSTGRES_PORT"]))
    with httpx.Client(base_url=f"http://127.0.0.1:{stack['BACKEND_PORT']}", timeout=10) as api:
        headers = sign_in_over_http(api, new_wallet())
        user_id = api.get("/auth/me", headers=headers).json()["user_id"]
        started = datetime.now(UTC) - timedelta(hours=2)
        response = api.post("/fitness/workouts", headers=headers, json={
            "activity": "run", "started_at": started.isoformat(), "distance_m": 5000, "steps": 6000,
            "ended_at": (started + timedelta(minutes=30)).isoformat(), "avg_heart_rate": 140})
        assert response.status_code in (200, 201), response.text
    milestones = wait_until(lambda: (rows := _analytics_rows(settings, user_id))[0] is not None
                            and rows[0]["first_workout_at"] is not None and rows, timeout=60,
                            what="the member's sign-in and workout in the analytics projections")
    row, workouts = milestones
    assert workouts == 1
    assert row["first_workout_at"] == started
