"""Status list indexes (agent/controller/status.py) on a migrated throwaway database, no agent needed: one
bit per credential even when many are allocated at once, spread at random over the list rather than in
issuance order, kept across a crash of the allocating process; a full list opens the next one. And the
list's encoding as the spec writes it (GZIP, multibase base64url, bit 0 = the left-most bit), read back by
the third-party verifier's independent decoder."""

import asyncio
import base64
import gzip
import itertools
import os
import signal
import subprocess
import sys
import textwrap

import asyncpg
import pytest

from agent.controller.status import LIST_SIZE, StatusLists, bitstring, encode_list
from backend.app.core.db import dsn, migrate
from tests.identity.third_party_verifier import bit, decode_list
from tests.support.api import api_settings, db
from tests.support.databases import create_database, drop_database
from tests.support.stackenv import stack_settings
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    stack = stack_settings()
    database = create_database(stack)
    settings = api_settings(stack, tmp_path_factory.mktemp("status"), database,
                            identity_status_base_url="https://verifiers.example")
    migrate(settings)
    yield settings
    drop_database(stack, database)


async def _allocate(settings, count: int, concurrency: int) -> list[tuple[int, dict]]:
    pool = await asyncpg.create_pool(dsn(settings, settings.backend_database), min_size=1, max_size=concurrency)
    try:
        lists = StatusLists(pool, None, settings)  # allocation never calls the agent
        return await asyncio.gather(*(lists.allocate(f"urn:uuid:test-{i}-{os.urandom(4).hex()}")
                                      for i in range(count)))
    finally:
        await pool.close()


def test_indexes_are_unique_and_random_even_when_allocated_at_once(settings):
    allocated = asyncio.run(_allocate(settings, 400, concurrency=8))
    indexes = [int(entry["statusListIndex"]) for _, entry in allocated]
    assert len(set(indexes)) == 400 and all(0 <= i < LIST_SIZE for i in indexes)
    assert {entry["statusListCredential"] for _, entry in allocated} == {"https://verifiers.example/identity/status/1"}
    assert all(entry["id"] == f"{entry['statusListCredential']}#{entry['statusListIndex']}" for _, entry in allocated)
    # Not handed out in order: about half of consecutive allocations go down, and they cover the list.
    downs = sum(b < a for a, b in itertools.pairwise(indexes))
    assert 120 < downs < 280, downs
    assert max(indexes) - min(indexes) > LIST_SIZE // 2
    assert db(settings, "SELECT allocated FROM status_lists WHERE list_id = 1")[0][0] == 400


def test_an_index_survives_the_allocating_process_being_killed(settings):
    """A process allocates and is SIGKILLed: what it committed stays allocated, and nothing is handed
    out twice afterwards (the primary key, not the process's memory, decides)."""
    state, database = str(settings.fitmint_state_dir), settings.backend_database
    # The parent's OPA (opa_url): a child starting one of its own would leave it behind when SIGKILLed.
    script = textwrap.dedent(f"""
        import asyncio, sys
        from tests.identity.test_status_allocation import _allocate
        from tests.support.api import api_settings
        from tests.support.stackenv import stack_settings
        from pathlib import Path
        settings = api_settings(stack_settings(), Path({state!r}), {database!r},
                                identity_status_base_url="https://verifiers.example", opa_url={settings.opa_url!r})
        async def forever():
            while True:
                await _allocate(settings, 20, concurrency=4)
        asyncio.run(forever())
    """)
    before = db(settings, "SELECT count(*) FROM status_list_entries")[0][0]
    process = subprocess.Popen([sys.executable, "-c", script], env=os.environ, start_new_session=True)
    try:
        wait_until(lambda: db(settings, "SELECT count(*) FROM status_list_entries")[0][0] >= before + 100, 60,
                   what="the allocating process at work")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    after = db(settings, "SELECT count(*) FROM status_list_entries")[0][0]
    asyncio.run(_allocate(settings, 50, concurrency=4))
    rows = db(settings, "SELECT list_id, status_index FROM status_list_entries")
    assert len(rows) == after + 50 == len(set(map(tuple, rows)))
    assert db(settings, "SELECT allocated FROM status_lists WHERE list_id = 1")[0][0] == len(rows)


def test_a_full_list_opens_the_next(settings):
    db(settings, "UPDATE status_lists SET allocated = capacity WHERE list_id = 1")
    (list_id, entry), = asyncio.run(_allocate(settings, 1, concurrency=1))
    assert list_id == 2 and entry["statusListCredential"] == "https://verifiers.example/identity/status/2"
    size, capacity = db(settings, "SELECT size, capacity FROM status_lists WHERE list_id = 2")[0]
    assert size == LIST_SIZE == 131_072 and capacity == LIST_SIZE * 3 // 4


def test_the_list_is_encoded_as_the_spec_says():
    bits = bitstring(LIST_SIZE, [0, 9, LIST_SIZE - 1])
    assert len(bits) == 16_384 and bits[0] == 0x80 and bits[1] == 0x40 and bits[-1] == 0x01
    encoded = encode_list(bits)
    assert encoded.startswith("u") and "=" not in encoded and "+" not in encoded and "/" not in encoded
    assert gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))) == bits
    assert decode_list(encoded) == bits
    assert [i for i in range(LIST_SIZE) if bit(bits, i)] == [0, 9, LIST_SIZE - 1]
    with pytest.raises(ValueError):
        decode_list(encoded[1:])  # not multibase
