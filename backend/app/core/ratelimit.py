"""Fixed-window rate limits in Redis, per caller key (IP or account) and per rule."""

import asyncio
import logging
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request, status
from redis.asyncio import Redis


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int
    window_seconds: int


log = logging.getLogger("api.ratelimit")

# How long counts of `hit_behind` gather in the process before one Redis round trip adds them all.
FLUSH_SECONDS = 0.1


@dataclass
class _Tally:
    """`hit_behind`'s counts of one rule in one window: the totals Redis last returned (every replica's
    requests), and this process's requests not yet added to them."""
    window: int
    known: dict[str, int]
    pending: dict[str, int]


class RateLimiter:
    def __init__(self, redis: Redis):
        self.redis = redis
        self._tallies: dict[Rule, _Tally] = {}
        self._flusher: asyncio.Task | None = None

    async def hit(self, rule: Rule, caller: str) -> None:
        """Counts one request; raises 429 with Retry-After once `rule.limit` is passed in the window."""
        key, _ = self._key(rule, caller)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, rule.window_seconds + 1)
            count, _ = await pipe.execute()
        if count > rule.limit:
            raise self._refusal(rule)

    def hit_behind(self, rule: Rule, caller: str) -> None:
        """As `hit`, for the hot public reads, without a Redis round trip per request: requests are counted
        in the process and added to Redis's totals every FLUSH_SECONDS, one pipeline for all callers. A
        caller is refused once the total Redis last returned plus its requests since reach the limit; across
        replicas it can pass the limit by what it sends in one flush interval to each. (Measured on a 0.6 ms
        wallet read: a Redis round trip per request added 0.3 ms at p50.) Redis unreachable: reads are served,
        uncounted."""
        key, window = self._key(rule, caller)
        tally = self._tallies.get(rule)
        if tally is None or tally.window != window:  # a new window: the last one's counts go with it
            tally = self._tallies[rule] = _Tally(window, {}, {})
        if tally.known.get(key, 0) + tally.pending.get(key, 0) >= rule.limit:
            raise self._refusal(rule)
        tally.pending[key] = tally.pending.get(key, 0) + 1
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_while_pending())

    async def _flush_while_pending(self) -> None:
        while any(tally.pending for tally in self._tallies.values()):
            await asyncio.sleep(FLUSH_SECONDS)
            batch = [(rule, tally, key, count) for rule, tally in self._tallies.items()
                     for key, count in tally.pending.items()]
            for tally in self._tallies.values():
                tally.pending = {}
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for rule, _, key, count in batch:
                        pipe.incrby(key, count)
                        pipe.expire(key, rule.window_seconds + 1)
                    totals = (await pipe.execute())[::2]
            except Exception as exc:  # noqa: BLE001 - Redis unreachable: those reads were served, uncounted
                log.warning("%d rate-limit counts not added (Redis: %r)", len(batch), exc)
                continue
            for (_, tally, key, _), total in zip(batch, totals, strict=True):
                tally.known[key] = max(tally.known.get(key, 0), total)

    @staticmethod
    def _key(rule: Rule, caller: str) -> tuple[str, int]:
        window = int(time.time()) // rule.window_seconds
        return f"ratelimit:{rule.name}:{caller}:{window}", window

    @staticmethod
    def _refusal(rule: Rule) -> HTTPException:
        retry_after = rule.window_seconds - int(time.time()) % rule.window_seconds
        return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                             f"rate limit '{rule.name}' ({rule.limit} per {rule.window_seconds}s) exceeded",
                             headers={"Retry-After": str(max(1, retry_after))})


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
