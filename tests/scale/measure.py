"""What the scale-out run measures besides the load's own numbers: CPU seconds per process (from /proc),
consumer lag and indexer lag sampled during the load, the rows and bytes of the databases' tables, and the
report (reports/scale.md, reports/scale.json)."""

import asyncio
import os
import subprocess
import threading
import time
from pathlib import Path

import asyncpg
import httpx

from tests.support.invariants import consumer_lag

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = True) -> float:
    """User + system CPU time of a process, and of its reaped children unless `children` is false (the test's
    own process: the replicas it stops are its children) (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15 if children else 13]) / CLOCK_TICKS  # utime stime cutime cstime


def with_descendants(pids: set[int]) -> set[int]:
    """`pids` and every process under them (PostgreSQL's backends start sessions of their own: they are not
    in the server's process group, but they are the postmaster's children)."""
    found, todo = set(pids), list(pids)
    while todo:
        out = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True, text=True).stdout
        for child in map(int, out.split()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def host_busy_seconds() -> float:
    """CPU seconds the whole host has been busy (every core, /proc/stat: all but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS


class Sampler(threading.Thread):
    """Every `every` seconds: each consumer group's lag (records not committed) and the indexer's (blocks
    behind the chain's head), kept as (seconds since start, values)."""

    def __init__(self, bootstrap: str, groups: dict, rpc_url: str, postgres: dict, indexer_database: str,
                 every: float = 5.0):
        super().__init__(daemon=True)
        self.bootstrap, self.groups, self.rpc_url, self.every = bootstrap, groups, rpc_url, every
        self.postgres, self.indexer_database = postgres, indexer_database
        self.samples: list[dict] = []
        self.halt = threading.Event()
        self.began = time.monotonic()

    def run(self) -> None:
        while not self.halt.wait(self.every):
            try:
                self.samples.append(asyncio.run(self._sample()))
            except Exception as exc:  # noqa: BLE001 - a sample lost while a process is being killed
                self.samples.append({"at": round(time.monotonic() - self.began, 1), "error": repr(exc)})

    async def _sample(self) -> dict:
        lag = await consumer_lag(self.bootstrap, self.groups)
        head = int(httpx.post(self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber",
                                                  "params": []}, timeout=5).json()["result"], 16)
        connection = await asyncpg.connect(**self.postgres, database=self.indexer_database)
        try:
            cursor = await connection.fetchval("SELECT block_number FROM indexer_cursor")
        finally:
            await connection.close()
        return {"at": round(time.monotonic() - self.began, 1), "lag": lag,
                "indexer_blocks_behind": max(0, head - (cursor or 0))}

    def stop(self) -> None:
        self.halt.set()
        self.join(30)

    def summary(self, since: float = 0.0, until: float = float("inf")) -> dict:
        window = [s for s in self.samples if "lag" in s and since <= s["at"] < until]
        groups = sorted({group for s in window for group in s["lag"]})
        result = {group: {"max": max(s["lag"][group] for s in window),
                          "mean": round(sum(s["lag"][group] for s in window) / len(window), 1),
                          "last": window[-1]["lag"][group]} for group in groups} if window else {}
        if window:
            result["indexer (blocks behind)"] = {"max": max(s["indexer_blocks_behind"] for s in window),
                                                 "mean": round(sum(s["indexer_blocks_behind"] for s in window)
                                                               / len(window), 1),
                                                 "last": window[-1]["indexer_blocks_behind"]}
        return result


async def table_sizes(postgres: dict, database: str) -> list[dict]:
    """Each table of `database` with rows, its total size (indexes and TOAST included) and bytes per row."""
    connection = await asyncpg.connect(**postgres, database=database)
    try:
        await connection.execute("ANALYZE")
        tables = await connection.fetch(
            "SELECT c.oid::regclass::text AS name, pg_total_relation_size(c.oid) AS bytes FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'")
        sized = []
        for table in tables:
            rows = await connection.fetchval(f'SELECT count(*) FROM "{table["name"]}"')
            sized.append({"table": table["name"], "rows": rows, "bytes": table["bytes"],
                          "bytes_per_row": round(table["bytes"] / rows) if rows else None})
        return sorted(sized, key=lambda t: -t["bytes"])
    finally:
        await connection.close()


async def events_by_type(postgres: dict, database: str) -> dict[str, int]:
    """The outbox's events of `database` per CloudEvents type (what went to Kafka)."""
    connection = await asyncpg.connect(**postgres, database=database)
    try:
        rows = await connection.fetch("SELECT type, count(*) AS n FROM outbox GROUP BY type ORDER BY n DESC")
        return {row["type"]: row["n"] for row in rows}
    finally:
        await connection.close()


def render_markdown(report: dict) -> str:
    """reports/scale.md from the report's JSON."""
    lines = [f"# Scale-out run ({report['when']})", "",
             f"Machine: {report['machine']['cpus']} CPUs ({report['machine']['cpu_model']}), shared by the "
             "load driver, every process under test and the infrastructure (Anvil, PostgreSQL, Redis, Kafka). "
             "Numbers are what this machine sustains with all of it on two cores: modest by construction. "
             f"Host load average (1, 5, 15 min) at the start {_loads(report['machine']['load_average_at_start'])}, "
             f"at the end {_loads(report['machine']['load_average_at_end'])}: other work on the host (other "
             "test runs) competes for the same cores, and the CPU tables say how much.", "",
             f"Topology: {report['topology']['summary']}. Infrastructure: a private stack (its own Anvil, "
             "PostgreSQL, Redis, Kafka and mail sink on free ports), so the Kafka topics hold only this run's events.",
             "", f"Load: {report['load']['members']} simulated members at a time (tests/support/journeyload.py), "
             "each going through sign-in, a workout, its voucher, a relayed claim, a balance read, a quote and a "
             "relayed purchase, the notifications page, and a WebSocket for live notifications.", ""]
    for phase in report["phases"]:
        summary = phase["load"]
        lines += [f"## {phase['name']} ({summary['seconds']} s)", "",
                  f"{summary['requests']} requests, **{summary['per_s']} requests/s**; journeys: "
                  f"{summary['journeys']}; relays: {summary['relays']}; requests no API answered (moved to "
                  f"another): {summary['no_answer']}{_kinds(summary)}.", "",
                  "| endpoint | requests | per s | p50 ms | p99 ms | statuses |", "|---|---:|---:|---:|---:|---|"]
        for endpoint, stats in summary["endpoints"].items():
            statuses = ", ".join(f"{code}: {n}" for code, n in stats["statuses"].items())
            lines.append(f"| `{endpoint}` | {stats['requests']} | {stats['per_s']} | {stats['p50_ms']} | "
                         f"{stats['p99_ms']} | {statuses} |")
        lines += ["", "Consumer lag (records not yet committed, sampled every 5 s) and indexer lag:", "",
                  "| group | max | mean | last |", "|---|---:|---:|---:|"]
        for group, lag in phase["lag"].items():
            lines.append(f"| {group} | {lag['max']} | {lag['mean']} | {lag['last']} |")
        lines += ["", "CPU per process (% of one core over the phase; the machine has "
                  f"{report['machine']['cpus'] * 100} %):", "",
                  "| process | CPU % |", "|---|---:|"]
        for name, share in phase["cpu_percent"].items():
            lines.append(f"| {name} | {share} |")
        lines.append("")
    kill = report["kill"]
    lines += ["## The kill: one API, one worker and the active indexer (SIGKILL, under load)", "",
              f"Killed: {', '.join(kill['killed'])}.", "",
              "| takeover | seconds |", "|---|---:|"]
    for what, seconds in kill["takeover_seconds"].items():
        lines.append(f"| {what} | {seconds} |")
    sockets = report["websockets"]
    lines += ["", f"WebSockets: {sockets['sockets']} members' sockets, {sockets['connections']} connections, "
              f"{sockets['reconnects']} reconnects (slowest {sockets['reconnect_max_s']} s), "
              f"{sockets['notifications_received']} notifications received, "
              f"{sockets['duplicates_within_a_connection']} twice on one connection.", "",
              "## Invariants (after the whole run)", ""]
    for outcome in report["invariants"]["invariants"]:
        lines.append(f"- {'PASS' if outcome['ok'] else 'FAIL'}: {outcome['name']}")
    lines += ["", "## Storage after the run (for the capacity model)", "",
              "| database.table | rows | bytes | bytes/row |", "|---|---:|---:|---:|"]
    for database, tables in report["storage"].items():
        for table in tables[:12]:
            lines.append(f"| {database}.{table['table']} | {table['rows']} | {table['bytes']} | "
                         f"{table['bytes_per_row']} |")
    journeys = sum(phase["load"]["journeys"].get("completed", 0) for phase in report["phases"])
    lines += ["", f"Events written to the outboxes (to Kafka) over the run, {journeys} journeys completed:", "",
              "| database | type | events | per completed journey |", "|---|---|---:|---:|"]
    for database, types in report["events"].items():
        for kind, count in types.items():
            lines.append(f"| {database} | {kind} | {count} | {count / max(1, journeys):.2f} |")
    if "capacity" in report:
        from tests.scale.capacity import render

        lines += [""] + render(report["capacity"])
    lines += ["", "Run it: `make scale` (SCALE_SECONDS=300 the steady phase, SCALE_KILL_SECONDS=90 the phase "
              "with the kill, SCALE_MEMBERS=40); the JSON beside this file has every number.", ""]
    return "\n".join(lines)


def _loads(averages) -> str:
    return " / ".join(f"{value:.1f}" for value in averages)


def _kinds(summary: dict) -> str:
    kinds = summary.get("no_answer_kinds")
    return f" ({', '.join(f'{kind}: {n}' for kind, n in kinds.items())})" if kinds else ""
