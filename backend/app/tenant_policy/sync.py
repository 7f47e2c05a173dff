"""Keeps this API process's OPA holding every tenant's policy as PostgreSQL has it.

Each API replica has its own OPA (a sidecar in its pod; `make up`: one beside the API) and keeps it in
step itself: at start, after each change it makes (PUT /tenant/policy), and every `opa_sync_seconds`
(a change made through another replica, or an OPA that restarted empty). No replica needs to know the
others, and OPA needs no network access, no credentials and no writable endpoint but its socket. An OPA
that has not been given the tenants' policies (`data.tenant_policy.loaded` unset) refuses every decision
with 503 (policy/authz.rego): a tightening is never silently missing.

What is pushed: data.tenant_policy.tenants[tenant_id] = {"denied": {role: [action, ...]}}, merged tenant by
tenant (JSON Patch "add"), so OPAs shared by several APIs on other databases (the tests) keep each one's."""

import asyncio
import logging

import asyncpg

from backend.app.core.opa import Opa, PolicyUnavailable
from backend.app.tenant_policy import store
from fitmint.resilience import POSTGRES_ERRORS

log = logging.getLogger("api.tenant_policy")


class TenantPolicySync:
    def __init__(self, pool: asyncpg.Pool, opa: Opa, interval_seconds: float):
        self.pool, self.opa, self.interval = pool, opa, interval_seconds
        self._pushed: str | None = None  # the fingerprint of what this OPA was last given
        self._lock = asyncio.Lock()

    async def push(self) -> bool:
        """Gives OPA every tenant's policy unless it holds them already; True when it pushed."""
        async with self._lock:
            loaded = await self.opa.read("tenant_policy/loaded")
            if loaded is True and self._pushed == await store.fingerprint(self.pool):
                return False
            digest, tenants = await store.everything(self.pool)
            await self.opa.write("tenant_policy/tenants", {}, only_if_absent=True)
            if tenants:
                await self.opa.patch("tenant_policy/tenants", [
                    {"op": "add", "path": f"/{tenant_id}", "value": policy} for tenant_id, policy in tenants.items()])
            await self.opa.write("tenant_policy/loaded", True)
            if loaded is not True:
                log.info("OPA (%s) given the policies of %d tenants", self.opa.url, len(tenants))
            self._pushed = digest
            return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.push()
            except (PolicyUnavailable, *POSTGRES_ERRORS) as exc:
                log.warning("tenant policies not synced to OPA (%s): retrying in %.0f s", exc, self.interval)
            await self._wait(stop)

    async def _wait(self, stop: asyncio.Event) -> None:
        """The interval, or less: until stop, or until a decision found OPA without the policies."""
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.opa.data_missing.wait())]
        _, pending = await asyncio.wait(waits, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED)
        for waiting in pending:
            waiting.cancel()
        self.opa.data_missing.clear()
