"""A worker process killed with SIGKILL between recording and sending, and between sending and recording that
it sent: the next worker sends the recorded transaction (or finds it sent), never a second one."""

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest
from eth_account import Account

from fitmint.txqueue.submit import TransactionRequest, submit
from tests.support.paths import ROOT
from tests.support.processes import spawn, stop_group
from tests.support.txqueue import attempts, drive, queue
from tests.support.waiting import wait_until

PAYEE = "0x00000000000000000000000000000000000b0b0b"


@pytest.mark.parametrize("point", ["before-broadcast", "after-broadcast"])
def test_a_worker_killed_around_the_broadcast_never_leaves_a_second_transaction(make_anvil, postgres, tmp_path,
                                                                                point):
    anvil = make_anvil()
    key = anvil.funded_key()
    signer = Account.from_key(key).address
    output = tmp_path / "worker.out"

    async def submitted():
        async with queue(postgres, anvil, []) as (_, connection):
            return await submit(connection, TransactionRequest(f"kill-{point}", "test", PAYEE, value=4))

    request_id = asyncio.run(submitted())
    with open(output, "w") as out:
        worker = spawn([sys.executable, "-m", "tests.support.txqueue_process", json.dumps(postgres), anvil.url, key,
                        point], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=out,
                       stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "recorded" in output.read_text(), timeout=30, what=f"the worker at {point}")
    finally:
        stop_group(worker, signal.SIGKILL)
    raw = output.read_text().split("recorded ", 1)[1].split()[0]

    async def successor():
        async with queue(postgres, anvil, [key]) as (worker, connection):
            row = await drive(worker, connection, request_id)
            [attempt] = await attempts(connection, request_id)
            assert attempt["raw"] == raw and row["mined_hash"] == attempt["tx_hash"] and row["state"] == "mined"

    asyncio.run(successor())
    assert anvil.nonce(signer) == 1

