"""Riding out outages of what a long-running process depends on: Anvil's RPC, PostgreSQL, Kafka, Redis.

A loop that talks to those services runs its work through `Retrier.run`: a transient error (connection
refused or lost, a timeout, an HTTP 5xx from the node) marks that dependency down, waits a capped
exponential backoff with jitter and runs the work again, which resumes from its stored position (the
indexer's cursor, Kafka's relay position or committed offsets). Anything else propagates: a bug or a
misconfiguration is not retried here (the supervisor restarts the process, with its own backoff).

Logs say when a dependency goes down and when it is back (once per change, never per attempt), and
the state is a Prometheus gauge, `fitmint_dependency_up{component, dependency}`, with a counter of
retries beside it.
"""

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import httpx
from prometheus_client import Counter, Gauge

DEPENDENCY_UP = Gauge("fitmint_dependency_up", "1 while the dependency answers, 0 during an outage",
                      ["component", "dependency"])
RETRIES = Counter("fitmint_dependency_retries_total", "Work retried after a transient error of the dependency",
                  ["component", "dependency"])

POSTGRES_ERRORS = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                   asyncpg.OperatorInterventionError, asyncpg.TooManyConnectionsError)


def http_transient(exc: BaseException) -> bool:
    """Connection refused, reset or hanging, or the server (or a proxy in front of it) answered 5xx/429."""
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return False


def kafka_transient(exc: BaseException) -> bool:
    from aiokafka.errors import KafkaError  # imported here: not every process talks to Kafka

    return isinstance(exc, (KafkaError, asyncio.TimeoutError))


def redis_transient(exc: BaseException) -> bool:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exc, (RedisConnectionError, RedisTimeoutError))


def postgres_transient(exc: BaseException) -> bool:
    return isinstance(exc, POSTGRES_ERRORS)


# What each dependency's transient errors look like. A component lists the ones it talks to, most
# specific first (OSError, for instance, is PostgreSQL's when httpx wraps its own errors).
CLASSIFIERS: dict[str, Callable[[BaseException], bool]] = {
    "rpc": http_transient,
    "kafka": kafka_transient,
    "redis": redis_transient,
    "postgres": postgres_transient,
}


@dataclass
class Backoff:
    """Capped exponential backoff with jitter: the n-th consecutive wait is uniform in
    [d/2, d] with d = min(cap, first * 2**n) ("equal jitter": never zero, never in lockstep)."""

    first: float = 0.25
    cap: float = 5.0
    failures: int = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.first * 2 ** self.failures)
        self.failures += 1
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.failures = 0


class Retrier:
    """One component's view of its dependencies (e.g. component "indexer.sync" on "rpc" and "postgres")."""

    def __init__(self, component: str, dependencies: tuple[str, ...], *, log: logging.Logger | None = None,
                 backoff: Backoff | None = None):
        self.component = component
        self.dependencies = dependencies
        self.log = log or logging.getLogger(component)
        self.backoff = backoff or Backoff()
        self._down: dict[str, tuple[float, int]] = {}  # dependency -> (since, attempts)
        for dependency in dependencies:
            DEPENDENCY_UP.labels(component, dependency).set(1)

    def classify(self, exc: BaseException) -> str | None:
        """The dependency a transient error belongs to, or None: not transient."""
        for dependency in self.dependencies:
            if CLASSIFIERS[dependency](exc):
                return dependency
        return None

    @property
    def healthy(self) -> bool:
        return not self._down

    def down(self, dependency: str, exc: BaseException) -> None:
        RETRIES.labels(self.component, dependency).inc()
        since, attempts = self._down.get(dependency, (time.monotonic(), 0))
        if attempts == 0:
            DEPENDENCY_UP.labels(self.component, dependency).set(0)
            self.log.warning("%s: %s unavailable (%s); retrying with backoff (up to %.0f s between attempts)",
                             self.component, dependency, describe(exc), self.backoff.cap)
        self._down[dependency] = (since, attempts + 1)

    def progressed(self, *dependencies: str) -> None:
        """The work got through a round trip with `dependencies` (default: all of the component's)."""
        if not self._down:
            return
        for dependency in dependencies or tuple(self._down):
            if dependency not in self._down:
                continue
            since, attempts = self._down.pop(dependency)
            DEPENDENCY_UP.labels(self.component, dependency).set(1)
            self.log.warning("%s: %s available again after %.1f s (%d attempts failed)", self.component,
                             dependency, time.monotonic() - since, attempts)
        if not self._down:
            self.backoff.reset()

    async def pause(self, stop: asyncio.Event | None = None) -> None:
        """The next backoff delay (ends early on `stop`)."""
        await sleep_unless(stop, self.backoff.next_delay())

    async def failed(self, exc: BaseException, stop: asyncio.Event | None = None) -> bool:
        """For loops of their own: a transient error marks its dependency down and waits the backoff
        (True); any other error is logged with its traceback and waits the backoff too (False)."""
        dependency = self.classify(exc)
        if dependency is None:
            self.log.exception("%s: unexpected error; retrying", self.component, exc_info=exc)
        else:
            self.down(dependency, exc)
        await self.pause(stop)
        return dependency is not None

    async def run(self, work: Callable[[], Awaitable], stop: asyncio.Event | None = None):
        """Runs `work()` until it returns (its result is returned) or `stop` is set (returns None),
        again after each transient error. `work` calls `progressed()` whenever it completes a round."""
        while not (stop and stop.is_set()):
            try:
                result = await work()
            except Exception as exc:
                dependency = self.classify(exc)
                if dependency is None:
                    raise
                self.down(dependency, exc)
                await self.pause(stop)
                continue
            self.progressed()
            return result
        return None


def quiet_library_retries() -> None:
    """Client libraries log each of their own reconnection attempts (aiokafka at ERROR, asyncpg's pool
    with a traceback): during an outage that is a line per attempt. Our loops say it once instead."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def sleep_unless(stop: asyncio.Event | None, seconds: float) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
