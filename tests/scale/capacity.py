"""The capacity model: what the scale-out run measured per process, carried to 1,000,000 daily active members.
Every input is either measured (the run's report, reports/gas.json) or an assumption named here; the README's
"Capacity" section explains the model and quotes the result of the latest run (reports/scale.md).

A member-day is taken as two journeys as the load drives them (each: a workout, its voucher and relayed claim,
a balance read, a quote and a relayed purchase, the notifications page, live notifications) plus a sign-in:
two purchases a day is far more than members buy, so requests, events and bytes are upper bounds."""

import json
import math
from pathlib import Path

DAILY_ACTIVE_MEMBERS = 1_000_000
JOURNEYS_PER_MEMBER_DAY = 2
SIGN_IN_REQUESTS_PER_MEMBER_DAY = 2  # a nonce and a verify
PEAK_FACTOR = 3.0  # the busiest hour over the day's average (morning and evening workouts)
TARGET_CPU = 0.6  # share of a core a process is sized to use at the peak (headroom for bursts and a lost node)
PURCHASES_PER_MEMBER_DAY_ON_CHAIN = 0.2  # the chain's load, counted with a realistic purchase rate
CLAIMS_PER_MEMBER_DAY = 2
DAYS_PER_MONTH = 30
# Rows that are only in flight: published (the outboxes) or consumed once (consumed event ids, kept to make a
# redelivery a no-op, which Kafka's retention bounds), or a transaction's or relay's working state once it is
# settled. A retention job (not built yet) would keep a few days' worth instead of growing forever. The
# indexer's raw events and blocks are not among them: reorgs and listing folds read them again.
TRANSIENT_TABLES = ("outbox", "consumed_events", "txqueue_attempt", "txqueue_request", "relay_batches", "relays")


def _gas(gas: dict, action: str, state: str = "steady_state") -> int:
    return next(row[state]["gas"] for row in gas["rows"] if row["action"] == action)


def _cores(cpu: dict, prefix: str) -> float:
    return sum(share for name, share in cpu.items() if name.startswith(prefix)) / 100


def model(report: dict, gas: dict, notifications: dict) -> dict:
    """`report`: the scale-out run's (reports/scale.json); `gas`, `notifications`: reports/gas.json and
    reports/notifications.json (`make bench`)."""
    steady = report["phases"][0]
    load, cpu = steady["load"], steady["cpu_percent"]
    seconds = load["seconds"]
    journeys = max(1, load["journeys"].get("completed", 0))
    # The API's requests per core: the phase that kept its API processes busiest (the least idle overhead
    # in the share); the journey's mix, signing and chain reads included.
    api_per_core = max(phase["load"]["per_s"] / _cores(phase["cpu_percent"], "api-")
                       for phase in report["phases"] if _cores(phase["cpu_percent"], "api-"))
    worker_cores = _cores(cpu, "worker-")
    indexer_cores = _cores(cpu, "indexer-")
    # A worker's events per core: the notifications benchmark's, which saturates one worker; at this run's
    # load a worker idles most of the time and its share is mostly fixed costs (polls, heartbeats, jobs).
    bench = notifications["throughput"]
    worker_per_core = bench["worker_rate_per_s"] / (bench["cpu_percent"]["worker"] / 100)
    all_journeys = max(1, sum(phase["load"]["journeys"].get("completed", 0) for phase in report["phases"]))
    events = sum(sum(types.values()) for types in report["events"].values())
    indexer_database = report.get("databases", {}).get("indexer", "fitmint_indexer")
    chain_events = sum(report["events"].get(indexer_database, {}).values())
    stored = {database: sum(t["bytes"] for t in tables) for database, tables in report["storage"].items()}
    transient = sum(t["bytes"] for tables in report["storage"].values() for t in tables
                    if t["table"] in TRANSIENT_TABLES)

    measured = {
        "journeys_per_s": round(journeys / seconds, 2),
        "requests_per_journey": round(load["requests"] / journeys, 1),
        "api_requests_per_s_per_core": round(api_per_core),
        "events_per_journey": round(events / all_journeys, 1),
        "events_per_s": round(events / all_journeys * journeys / seconds, 1),
        "worker_cpu_percent": round(worker_cores * 100, 1),
        "worker_events_per_s_per_core (notifications benchmark)": round(worker_per_core),
        "indexer_cpu_percent": round(indexer_cores * 100, 1),
        "chain_events_per_journey": round(chain_events / all_journeys, 1) if chain_events else None,
        "bytes_per_journey": {database: round(total / all_journeys) for database, total in stored.items()},
        "transient_share_of_bytes": round(transient / max(1, sum(stored.values())), 2),
    }
    requests_day = DAILY_ACTIVE_MEMBERS * (JOURNEYS_PER_MEMBER_DAY * measured["requests_per_journey"]
                                           + SIGN_IN_REQUESTS_PER_MEMBER_DAY)
    events_day = DAILY_ACTIVE_MEMBERS * JOURNEYS_PER_MEMBER_DAY * measured["events_per_journey"]
    bytes_day = DAILY_ACTIVE_MEMBERS * JOURNEYS_PER_MEMBER_DAY * sum(measured["bytes_per_journey"].values())
    average, peak = requests_day / 86_400, requests_day / 86_400 * PEAK_FACTOR
    events_average, events_peak = events_day / 86_400, events_day / 86_400 * PEAK_FACTOR
    api_processes = peak / (api_per_core * TARGET_CPU)
    worker_processes = events_peak / (worker_per_core * TARGET_CPU)
    claim_gas = _gas(gas, "claim batch of 50, per voucher", "first_time")  # the day's first claim is first-time
    purchase_gas = _gas(gas, "relayed purchase (intent + permit)", "first_time")
    gas_day = DAILY_ACTIVE_MEMBERS * (CLAIMS_PER_MEMBER_DAY * claim_gas + PURCHASES_PER_MEMBER_DAY_ON_CHAIN
                                      * purchase_gas)
    transactions_day = DAILY_ACTIVE_MEMBERS * (CLAIMS_PER_MEMBER_DAY / 50 + PURCHASES_PER_MEMBER_DAY_ON_CHAIN)
    month_gb = bytes_day * DAYS_PER_MONTH / 1e9
    return {
        "assumptions": {"daily_active_members": DAILY_ACTIVE_MEMBERS,
                        "journeys_per_member_day": JOURNEYS_PER_MEMBER_DAY, "peak_factor": PEAK_FACTOR,
                        "target_cpu_per_process": TARGET_CPU,
                        "claims_per_member_day": CLAIMS_PER_MEMBER_DAY,
                        "purchases_per_member_day_on_chain": PURCHASES_PER_MEMBER_DAY_ON_CHAIN},
        "measured": measured,
        "for_1m": {
            "requests_per_s_average": round(average), "requests_per_s_peak": round(peak),
            "api_processes_at_peak (1 core each)": round(api_processes, 1),
            "events_per_s_average": round(events_average), "events_per_s_peak": round(events_peak),
            "worker_processes_at_peak (1 core each)": round(worker_processes, 1),
            # Consumers of a group beyond its partitions idle: room to double the workers, and a count that
            # 2, 3, 4 and 6 workers share evenly (changing it later moves keys between partitions).
            "kafka_partitions": max(12, 2 * math.ceil(worker_processes)),
            "postgres_gb_per_month": round(month_gb),
            "postgres_gb_per_month_without_transient_rows":
                round(month_gb * (1 - measured["transient_share_of_bytes"])),
            "chain_transactions_per_s_average": round(transactions_day / 86_400, 2),
            "chain_gas_per_s_average": round(gas_day / 86_400),
        },
    }


def render(capacity: dict) -> list[str]:
    lines = ["## Capacity model (tests/scale/capacity.py; README: Capacity)", "",
             "Measured in the steady phase above:", "", "| measure | value |", "|---|---:|"]
    lines += [f"| {name.replace('_', ' ')} | {value} |" for name, value in capacity["measured"].items()]
    lines += ["", f"For {capacity['assumptions']['daily_active_members']:,} daily active members (assumptions: "
              f"{capacity['assumptions']}):", "", "| figure | value |", "|---|---:|"]
    lines += [f"| {name.replace('_', ' ')} | {value} |" for name, value in capacity["for_1m"].items()]
    return lines + [""]


def main() -> None:
    """python -m tests.scale.capacity [REPORTS]: the model computed again from REPORTS/scale.json and gas.json
    (after a change to the model), written into scale.json and scale.md."""
    import sys

    from tests.scale.measure import render_markdown

    reports = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "reports"
    report = json.loads((reports / "scale.json").read_text())
    report["capacity"] = model(report, json.loads((reports / "gas.json").read_text()),
                               json.loads((reports / "notifications.json").read_text()))
    (reports / "scale.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (reports / "scale.md").write_text(render_markdown(report))
    print(json.dumps(report["capacity"], indent=2))


if __name__ == "__main__":
    main()
