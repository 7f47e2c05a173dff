"""Fixed-window rate limits in Redis, per caller key (IP or account) and per rule."""

import time
from dataclasses import dataclass

from fastapi import HTTPException, Request, status
from redis.asyncio import Redis


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int
    window_seconds: int


class RateLimiter:
    def __init__(self, redis: Redis):
        self.redis = redis

    async def hit(self, rule: Rule, caller: str) -> None:
        """Counts one request; raises 429 with Retry-After once `rule.limit` is passed in the window."""
        window = int(time.time()) // rule.window_seconds
        key = f"ratelimit:{rule.name}:{caller}:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, rule.window_seconds + 1)
            count, _ = await pipe.execute()
        if count > rule.limit:
            retry_after = rule.window_seconds - int(time.time()) % rule.window_seconds
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                                f"rate limit '{rule.name}' ({rule.limit} per {rule.window_seconds}s) exceeded",
                                headers={"Retry-After": str(max(1, retry_after))})


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
