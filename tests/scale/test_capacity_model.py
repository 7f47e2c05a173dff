"""The capacity model's arithmetic (tests/scale/capacity.py) on a made-up run: each figure follows from the
measured inputs and the stated assumptions as the README says it does."""

import pytest

from tests.scale import capacity


def run(requests_per_s: float, api_cpu: float, journeys: int, seconds: float = 100.0) -> dict:
    load = {"seconds": seconds, "per_s": requests_per_s, "requests": requests_per_s * seconds,
            "journeys": {"completed": journeys}}
    return {"phases": [{"load": load, "cpu_percent": {"api-1": api_cpu / 2, "api-2": api_cpu / 2, "worker-1": 5.0,
                                                      "indexer-a": 3.0}}],
            "events": {"fitmint_backend": {"a": 8 * journeys}, "fitmint_indexer": {"b": 2 * journeys}},
            "databases": {"indexer": "fitmint_indexer"},
            "storage": {"fitmint_backend": [{"table": "workouts", "bytes": 3000 * journeys},
                                            {"table": "outbox", "bytes": 1000 * journeys}],
                        "fitmint_indexer": [{"table": "events", "bytes": 1000 * journeys}]}}


GAS = {"rows": [{"action": "claim batch of 50, per voucher", "first_time": {"gas": 80_000}},
                {"action": "relayed purchase (intent + permit)", "first_time": {"gas": 150_000}}]}
NOTIFICATIONS = {"throughput": {"worker_rate_per_s": 4000, "cpu_percent": {"worker": 50.0}}}


def test_the_figures_for_a_million_members_follow_from_the_measures():
    result = capacity.model(run(requests_per_s=100, api_cpu=50, journeys=1000), GAS, NOTIFICATIONS)
    measured, million = result["measured"], result["for_1m"]
    assert measured["requests_per_journey"] == 10 and measured["events_per_journey"] == 10
    assert measured["api_requests_per_s_per_core"] == 200  # 100 requests/s on half a core
    assert measured["bytes_per_journey"] == {"fitmint_backend": 4000, "fitmint_indexer": 1000}
    assert measured["transient_share_of_bytes"] == pytest.approx(0.2)  # the outbox's 1,000 of 5,000 bytes
    # A member-day: 2 journeys of 10 requests and a sign-in of 2, for 1M members; the peak is 3x.
    assert million["requests_per_s_average"] == round(22_000_000 / 86_400)
    assert million["requests_per_s_peak"] == round(3 * 22_000_000 / 86_400)
    assert million["api_processes_at_peak (1 core each)"] == round(3 * 22_000_000 / 86_400 / (200 * 0.6), 1)
    assert million["events_per_s_peak"] == round(3 * 20_000_000 / 86_400)
    assert million["postgres_gb_per_month"] == round(2 * 5000 * 1_000_000 * 30 / 1e9)
    assert million["postgres_gb_per_month_without_transient_rows"] == round(300 * 0.8)
    assert million["kafka_partitions"] == 12  # the floor: one worker core is plenty for these events
    # 2 claims (a batch of 50 per transaction) and 0.2 purchases a member-day on the chain.
    assert million["chain_transactions_per_s_average"] == round(1_000_000 * (2 / 50 + 0.2) / 86_400, 2)
    assert million["chain_gas_per_s_average"] == round(1_000_000 * (2 * 80_000 + 0.2 * 150_000) / 86_400)


def test_more_events_than_a_dozen_partitions_serve_asks_for_more_partitions():
    result = capacity.model(run(requests_per_s=100, api_cpu=50, journeys=1000),
                            GAS, {"throughput": {"worker_rate_per_s": 10, "cpu_percent": {"worker": 100.0}}})
    workers = result["for_1m"]["worker_processes_at_peak (1 core each)"]
    assert workers > 12 and result["for_1m"]["kafka_partitions"] >= 2 * workers
