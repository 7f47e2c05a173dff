"""reports/chaos.md from the chaos run's report (its JSON is written beside it)."""


def render_markdown(report: dict) -> str:
    bounds = report["bounds"]
    lines = [f"# Chaos run ({report['when']}, {report['seconds']} s)", "",
             f"Topology: {report['topology']}. Infrastructure: a private stack (its own Anvil, PostgreSQL, Redis, "
             f"Kafka, mail sink). Load: {report['members']} simulated members at a time going through the whole "
             "journey (sign-in, workout, voucher, relayed claim, balance, quote, relayed purchase, notifications, a "
             "WebSocket each), tests/support/journeyload.py.", "",
             f"Recovery, measured from the heal: a fresh member's whole journey succeeds again (bound "
             f"{bounds['journey_s']:g} s) and every consumer group's lag is 0 after it (bound "
             f"{bounds['lag_zero_s']:g} s). The baseline row is the same measure with no fault: the length of one "
             "journey under this load, which every recovery time includes.", "",
             "| scenario | fault | requests | statuses (load + probes) | journey again (s) | lag 0 (s) |",
             "|---|---|---:|---|---:|---:|"]
    for phase in report["phases"]:
        recovery = phase.get("recovery", {})
        requests = phase["load"]["requests"] + phase["probe"]["requests"]
        statuses = ", ".join(f"{code}: {n}" for code, n in phase["statuses"].items())
        journey, lag = (_seconds(recovery.get(key), recovery) for key in ("journey_s", "lag_zero_s"))
        lines.append(f"| {phase['name']} | {phase['fault']} | {requests} | {statuses} | {journey} | {lag} |")
    errors = report["errors"]
    lines += ["", f"API errors: {errors['errors_5xx']} answers 5xx in all; not a 503/504: "
              f"{errors['not_503_or_504'] or 'none'}; without a reason: {len(errors['without_a_reason'])}.", ""]
    if errors["examples"]:
        lines += ["Examples:", ""]
        lines += [f"- `{e['endpoint']}` {e['status']}: `{e['body'][:160]}`" for e in errors["examples"]]
        lines.append("")
    sockets = report["websockets"]
    lines += [f"WebSockets: {sockets['connections']} connections, {sockets['reconnects']} reconnects, "
              f"{sockets['notifications_received']} notifications received, "
              f"{sockets['duplicates_within_a_connection']} twice on one connection.", "",
              "## Invariants (after the run)", "",
              f"- {'FAIL' if report['processes_died'] else 'PASS'}: every process rode the faults out (none died: "
              f"{', '.join(report['processes_died']) or 'none'})"]
    for outcome in report["invariants"]["invariants"]:
        lines.append(f"- {'PASS' if outcome['ok'] else 'FAIL'}: {outcome['name']}")
    lines += ["", "Run it: `make chaos` (CHAOS_MEMBERS=6, CHAOS_BASELINE_SECONDS=10); faults: tests/chaos/faults.py.",
              ""]
    return "\n".join(lines)


def _seconds(value, recovery: dict) -> str:
    if not recovery:
        return "-"
    return "not within the bound" if value is None else f"{value:g}"
