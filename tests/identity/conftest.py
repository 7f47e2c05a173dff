"""Fixtures for the identity controller's tests: two real ACA-Py agents (ours, whose webhooks go to the
API under test, and a holder playing the member's wallet), the API under uvicorn and the notifications
worker (it runs the reconciler and the DIDComm sender) on a fresh database, all module-scoped."""

import asyncio
import time
import uuid
from contextlib import contextmanager

import httpx
import pytest

from fitmint import events as ev
from fitmint import secrets
from scripts.stack.kafka_topics import delete_topics_with_prefix, ensure_topics
from tests.support.agents import HOLDER_FLAGS, Agent
from tests.support.api import api_settings, db
from tests.support.databases import create_database, drop_database
from tests.support.processes import api_healthy, free_port, start_api, start_worker
from tests.support.signin import me, new_wallet, sign_in
from tests.support.stackenv import stack_settings
from tests.support.waiting import wait_until


async def _topics(settings, create: bool) -> None:
    if create:
        await ensure_topics(settings.bootstrap, [settings.kafka_topic_prefix + t for t in ev.ALL_TOPICS], 1)
    else:
        await delete_topics_with_prefix(settings.bootstrap, settings.kafka_topic_prefix)


class Env:
    def __init__(self, settings, base, ours: Agent, holder: Agent, api, worker, log_dir):
        self.settings, self.base, self.ours, self.holder = settings, base, ours, holder
        self.api, self.worker, self.log_dir = api, worker, log_dir
        self.http = httpx.Client(base_url=base, timeout=30)

    @contextmanager
    def api_down(self):
        """The API stopped (our agent's webhooks to it are lost meanwhile), started again on its port after."""
        self.api.stop()
        try:
            yield
        finally:
            self.api.start()
            self.api.wait_for(lambda: api_healthy(self.base), what="healthy again")

    def member(self, tenant: str | None = None, role: str = "user") -> dict:
        wallet = new_wallet()
        headers = sign_in(self.http, self.settings, wallet, tenant)
        identity = me(self.http, headers)
        if role != "user":
            db(self.settings, "UPDATE users SET role = $2 WHERE id = $1::uuid", identity["user_id"], role)
            headers = sign_in(self.http, self.settings, wallet, tenant)
        return {"wallet": wallet, "headers": headers, "user_id": identity["user_id"]}

    def call(self, method: str, path: str, member: dict | None, expect: int | tuple = 200, **kwargs) -> dict:
        response = self.http.request(method, path, headers=(member or {}).get("headers"), **kwargs)
        expected = expect if isinstance(expect, tuple) else (expect,)
        assert response.status_code in expected, (method, path, response.status_code, response.text)
        return response.json()

    def exchange(self, member: dict, thread_id: str) -> dict:
        return self.call("GET", f"/identity/exchanges/{thread_id}", member)

    def settled(self, member: dict, thread_id: str, timeout: float = 30) -> dict:
        """The exchange once it is no longer pending."""
        return wait_until(lambda: (lambda x: x if x["state"] != "pending" else None)(self.exchange(member, thread_id)),
                          timeout, what=f"exchange {thread_id} settled")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    stack = stack_settings()
    database = create_database(stack)
    log_dir = tmp_path_factory.mktemp("identity")
    ours = Agent("fitmint-test", log_dir / "ours", ours=True)
    holder = Agent("holder-test", log_dir / "holder", flags=HOLDER_FLAGS)
    while (api_port := free_port()) in ours.ports | holder.ports:
        pass  # chosen first: the credentials name the API's status list URL
    key_file = log_dir / "acapy-admin-key"
    secrets.write(key_file, ours.admin_key)
    settings = api_settings(stack, log_dir, database, kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.",
                            relay_enabled=True,  # NotificationQueued crosses Kafka to the deliveries group
                            acapy_admin_url=ours.admin_url, acapy_admin_key_file=key_file,
                            identity_exchange_timeout_seconds=8, identity_reconcile_interval_seconds=0.5,
                            identity_status_base_url=f"http://127.0.0.1:{api_port}",
                            smtp_port=1)  # no email here
    asyncio.run(_topics(settings, create=True))
    api = worker = None
    try:
        started = time.monotonic()
        api, base = start_api(settings, log_dir, port=api_port)
        ours.webhook_url = base + "/agent/webhooks"
        ours.start()
        holder.start()
        worker = start_worker(settings, log_dir, "--no-scheduler")
        print(f"\nidentity env up in {time.monotonic() - started:.1f} s (API, two agents, worker)")
        yield Env(settings, base, ours, holder, api, worker, log_dir)
    finally:
        for service in (worker, api):
            if service is not None:
                service.stop()
        for agent in (ours, holder):
            agent.stop()
        asyncio.run(_topics(settings, create=False))
        drop_database(stack, database)
