"""The queue's requests by state and the age of its oldest waiting one, as the txqueue process serves them
(fitmint/txqueue/health.py: watch_states), read from a queue database."""

import asyncio

import asyncpg
from prometheus_client import REGISTRY

from fitmint.txqueue import health
from tests.support.waiting import until

ROWS = [("queued", 30), ("queued", 5), ("sent", 400), ("mined", 9000), ("mined", 8000), ("failed", 7000)]


def _requests(state: str) -> float | None:
    return REGISTRY.get_sample_value("fitmint_txqueue_requests", {"state": state})


def test_requests_by_state_and_the_oldest_waiting(postgres):
    async def run():
        connection = await asyncpg.connect(**postgres)
        try:
            for index, (state, age) in enumerate(ROWS):
                await connection.execute(
                    "INSERT INTO txqueue_request (idempotency_key, requester, target, calldata, value, state, "
                    "submitted_at) VALUES ($1, 'test', '0x00', '\\x', 0, $2, now() - make_interval(secs => $3))",
                    f"metrics-{index}", state, float(age))
        finally:
            await connection.close()
        stop = asyncio.Event()
        watching = asyncio.create_task(health.watch_states(postgres, stop, interval=3600))
        try:
            await until(lambda: _requests("mined") == 2, timeout=20, what="the states counted")
        finally:
            stop.set()
            await watching

    asyncio.run(run())
    assert {state: _requests(state) for state in health.STATES} == \
        {"queued": 2, "sent": 1, "mined": 2, "failed": 1, "replaced": 0}
    oldest = REGISTRY.get_sample_value("fitmint_txqueue_oldest_waiting_seconds")
    assert 400 <= oldest < 460  # the 'sent' one (mined and failed ones are not waiting)
