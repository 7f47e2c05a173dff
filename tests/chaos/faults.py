"""The chaos suite's faults: what each does to one dependency's proxy, and the scripted sequence of the run.

- latency: every answer of the dependency arrives LATENCY_MS (+- JITTER_MS) late;
- timeout: the connections stall (no data through) and are closed after TIMEOUT_MS: a hung dependency;
- reset: every connection is reset by peer (TCP RST) as soon as it carries data;
- partition: the proxy is disabled: open connections are cut, new ones refused.
Each is removed ("healed") after its `seconds`."""

from contextlib import contextmanager
from dataclasses import dataclass

from tests.support.toxiproxy import Proxy

LATENCY_MS, JITTER_MS = 300, 100
TIMEOUT_MS = 3_000  # longer than the API's waits in the run (test_chaos_run.API_TIMEOUTS): its 504 path
KINDS = ("latency", "timeout", "reset", "partition")


@dataclass(frozen=True)
class Fault:
    kind: str
    dependency: str
    seconds: float

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of {', '.join(KINDS)})")

    @property
    def name(self) -> str:
        return f"{self.kind} {self.dependency}"

    def describe(self) -> str:
        what = {"latency": f"+{LATENCY_MS}±{JITTER_MS} ms on every answer",
                "timeout": f"connections stall, closed after {TIMEOUT_MS} ms",
                "reset": "connections reset by peer",
                "partition": "proxy disabled: connections cut, new ones refused"}[self.kind]
        return f"{self.dependency}: {what}, {self.seconds:g} s"

    @contextmanager
    def injected(self, proxy: Proxy):
        if self.kind == "partition":
            with proxy.disabled():
                yield
            return
        toxic = {"latency": ("latency", {"latency": LATENCY_MS, "jitter": JITTER_MS}),
                 "timeout": ("timeout", {"timeout": TIMEOUT_MS}),
                 "reset": ("reset_peer", {"timeout": 0})}[self.kind]
        with proxy.toxic(toxic[0], **toxic[1]):
            yield


# Latency and a partition on each dependency; stalls of the API's own (PostgreSQL, Redis: its 504 path) and of
# the RPC; resets on the connections Redis and Kafka clients keep open.
SCENARIOS = (
    Fault("latency", "postgres", 5), Fault("latency", "redis", 5), Fault("latency", "kafka", 5),
    Fault("latency", "rpc", 5),
    Fault("timeout", "postgres", 5), Fault("timeout", "redis", 5), Fault("timeout", "rpc", 5),
    Fault("reset", "redis", 5), Fault("reset", "kafka", 5),
    Fault("partition", "postgres", 6), Fault("partition", "redis", 6), Fault("partition", "kafka", 6),
    Fault("partition", "rpc", 6),
)
