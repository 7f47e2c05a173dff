"""Waiting for something another process does, with a deadline and a message saying what never came."""

import asyncio
import time


def wait_until(condition, timeout: float = 30, interval: float = 0.05, what: str = "condition"):
    """Calls `condition` until it returns something truthy (returned), or fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(interval)


async def until(condition, timeout: float = 30, interval: float = 0.05, what: str = "condition"):
    """`wait_until` in a running event loop: awaits `condition()` when it returns an awaitable."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        await asyncio.sleep(interval)
