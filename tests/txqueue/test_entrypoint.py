"""`python -m fitmint.txqueue run`: the worker as a process, configured by its settings (the pool's key files,
the database, the node), mines what was submitted and stops cleanly on SIGTERM; without keys or without the
queue's tables, or with a key file other users can read, it refuses to start, saying why."""

import asyncio
import json
import os
import subprocess
import sys

import asyncpg
from eth_account import Account

from fitmint import secrets
from fitmint.txqueue.settings import TxQueueSettings
from fitmint.txqueue.submit import TransactionRequest, submit
from tests.support.databases import admin_dsn, create_databases, drop_databases
from tests.support.paths import ROOT
from tests.support.processes import spawn, stop_group
from tests.support.signer_server import running_signer
from tests.support.waiting import wait_until

PAYEE = "0x00000000000000000000000000000000000b0b0b"


def environment(stack, database: str, rpc_url: str, key_files: list) -> dict:
    return {**os.environ, "FITMINT_STATE_DIR": stack["FITMINT_STATE_DIR"], "POSTGRES_PORT": stack["POSTGRES_PORT"],
            "POSTGRES_USER": stack["POSTGRES_USER"], "TXQUEUE_DATABASE": database, "FITMINT_RPC_URL": rpc_url,
            "TXQUEUE_KEY_FILES": json.dumps([str(path) for path in key_files]), "TXQUEUE_MINE_WITHIN_SECONDS": "5",
            "TXQUEUE_MAX_FEE_PER_GAS": str(10**12), "MANIFEST": str(ROOT / "no-such-manifest.json"),
            "TXQUEUE_METRICS_PORT": "0"}  # the stack's queue worker has the default port


def submitted(postgres: dict, key: str, value: int) -> int:
    """A payment to PAYEE put on the queue (through the test's own connection); its request id."""
    async def run() -> int:
        connection = await asyncpg.connect(**postgres)
        try:
            return await submit(connection, TransactionRequest(key, "test", PAYEE, value=value))
        finally:
            await connection.close()
    return asyncio.run(run())


def request_row(postgres: dict, request_id: int) -> dict:
    async def run():
        connection = await asyncpg.connect(**postgres)
        try:
            return await connection.fetchrow("SELECT state, nonce FROM txqueue_request WHERE id = $1", request_id)
        finally:
            await connection.close()
    return dict(asyncio.run(run()))


def run_until_mined(env: dict, postgres: dict, request_id: int) -> None:
    """The queue's process until the request is mined; then SIGTERM, and it must stop cleanly (status 0)."""
    process = spawn([sys.executable, "-m", "fitmint.txqueue", "run"], cwd=ROOT, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE, env=env)
    try:
        wait_until(lambda: request_row(postgres, request_id)["state"] == "mined", timeout=30, interval=0.1,
                   what="mined")
    finally:
        stop_group(process)
    assert process.returncode == 0, process.stderr.read().decode()


def test_the_settings_read_the_pool_and_the_caps(tmp_path, monkeypatch):
    key = Account.create().key.to_0x_hex()
    secrets.write(tmp_path / "a.key", key[2:] + "\n")
    monkeypatch.setenv("TXQUEUE_KEY_FILES", json.dumps([str(tmp_path / "a.key")]))
    monkeypatch.setenv("TXQUEUE_MAX_PRIORITY_FEE_PER_GAS", "7")
    settings = TxQueueSettings()
    assert settings.keys() == [key]
    assert settings.fee_policy().max_priority_fee_cap == 7 and settings.rpc_url == settings.fitmint_rpc_url


def test_the_worker_process_mines_a_request_and_stops_on_sigterm(make_anvil, postgres, stack, tmp_path):
    anvil = make_anvil()
    key_file = tmp_path / "txqueue-0.key"
    secrets.write(key_file, anvil.funded_key())

    request_id = submitted(postgres, "pay-1", 99)
    run_until_mined(environment(stack, postgres["database"], anvil.url, [key_file]), postgres, request_id)
    assert int(anvil.rpc("eth_getBalance", PAYEE, "latest"), 16) == 99


def test_with_a_remote_signer_the_keys_stay_in_the_signers_process(make_anvil, postgres, stack, tmp_path):
    """TXQUEUE_SIGNER_URL and TXQUEUE_SIGNER_ADDRESSES instead of key files: the pool's key lives in another
    process (a JSON-RPC signer), which signs what the queue sends; the queue's process never reads it."""
    anvil = make_anvil()
    key_file = tmp_path / "signer-held.key"
    secrets.write(key_file, anvil.funded_key())
    address = Account.from_key(secrets.read(key_file)).address

    request_id = submitted(postgres, "remote-1", 77)
    with running_signer([key_file]) as signer_url:
        env = {**environment(stack, postgres["database"], anvil.url, []), "TXQUEUE_SIGNER_URL": signer_url,
               "TXQUEUE_SIGNER_ADDRESSES": json.dumps([address])}
        run_until_mined(env, postgres, request_id)
    assert int(anvil.rpc("eth_getBalance", PAYEE, "latest"), 16) == 77
    (tx_hash,) = anvil.rpc("eth_getBlockByNumber", "latest", False)["transactions"]
    assert anvil.rpc("eth_getTransactionByHash", tx_hash)["from"] == address.lower()


def test_a_signer_that_signs_with_another_key_gets_nothing_sent(make_anvil, postgres, stack, tmp_path):
    """The queue checks every transaction the signer returns: signed by another key than the address it
    asked for, it records and sends nothing, says why, and keeps running (the request waits for a signer
    that answers right)."""
    anvil = make_anvil()
    key_file = tmp_path / "signer-held.key"
    secrets.write(key_file, anvil.funded_key())

    request_id = submitted(postgres, "liar-1", 5)
    log = tmp_path / "txqueue.log"
    with running_signer([key_file], "--wrong-key") as signer_url, open(log, "w") as output:
        env = {**environment(stack, postgres["database"], anvil.url, []), "TXQUEUE_SIGNER_URL": signer_url,
               "TXQUEUE_SIGNER_ADDRESSES": json.dumps([Account.from_key(secrets.read(key_file)).address])}
        process = spawn([sys.executable, "-m", "fitmint.txqueue", "run"], cwd=ROOT, stdout=output, stderr=output,
                        env=env)
        try:
            # Said on a pass and again on the next ones: the process lives on, retrying.
            wait_until(lambda: log.read_text().count("was signed by 0x") >= 3, timeout=30, interval=0.1,
                       what="the refusal, pass after pass")
            assert process.poll() is None, log.read_text()[-2000:]
            assert request_row(postgres, request_id) == {"state": "queued", "nonce": None}
        finally:
            stop_group(process)
    assert int(anvil.rpc("eth_getBalance", PAYEE, "latest"), 16) == 0


def test_without_keys_or_tables_or_with_an_exposed_key_it_refuses_to_start(stack, tmp_path):
    database = "txqueue_test_empty_" + os.urandom(4).hex()
    asyncio.run(create_databases([database], **admin_dsn(stack)))
    try:
        key_file, exposed = tmp_path / "k.key", tmp_path / "exposed.key"
        secrets.write(key_file, Account.create().key.hex())
        exposed.write_text(Account.create().key.hex())
        exposed.chmod(0o644)  # what a plain write leaves under the usual umask: every local user reads it
        for key_files, says in (([], "TXQUEUE_KEY_FILES"), ([key_file], "lacks txqueue_request"),
                                ([key_file, exposed], f"refusing to start: the secret file {exposed} is open to every "
                                                      f"local user (mode 0644): run `chmod 600 {exposed}`")):
            done = subprocess.run([sys.executable, "-m", "fitmint.txqueue", "run"], cwd=ROOT, capture_output=True,
                                  env=environment(stack, database, "http://127.0.0.1:9", key_files), timeout=60)
            assert done.returncode == 2 and says in done.stderr.decode(), done.stderr.decode()
    finally:
        asyncio.run(drop_databases([database], **admin_dsn(stack)))
