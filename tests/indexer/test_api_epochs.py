"""Merkle reward epochs end to end, on real components: a private Anvil deployed by `ape run deploy` (its
time moved past the epoch's end there, never on the stack's chain), the API in-process on a fresh
database, the closing job (backend/app/rewards/epochs.py) run as the worker's scheduler runs it, a real
transaction queue worker signing with the deployment's operator key (ActivityRewards OPERATOR_ROLE), the
indexer over the private chain. A tenant switched to epoch mode by the operator command mid-epoch: its
workouts accrue (one accepted before the switch keeps its voucher), a voucher is refused for an epoch
workout, the epoch ends, the job posts one root however often it runs, a member fetches the proof, claims
it from their own wallet, and the API shows it claimed; an empty epoch posts nothing."""

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from backend.app.core.db import create_pool, dsn
from backend.app.main import create_app
from backend.app.rewards.epochs import close_epochs, idempotency_key
from checks import index_to_head
from tests.support.api import a_run, api_settings, db
from tests.support.databases import create_database, drop_database
from tests.support.paths import ROOT
from tests.support.processes import spawn, stop_group
from tests.support.queue_worker import deployment_decoder, queue_worker
from tests.support.roles import call_as_admin
from tests.support.signin import sign_in
from tests.support.units import DAY, FIT
from tests.support.waiting import wait_until


@pytest.fixture
def app(chain, indexer_settings, stack, tmp_path):
    asyncio.run(index_to_head(indexer_settings))  # the indexer's views exist, as on the stack
    database = create_database(stack)
    settings = api_settings(stack, chain.state_dir, database, fitmint_rpc_url=chain.url,
                            indexer_database=indexer_settings.indexer_database, clock_offset_seconds=0,
                            jwt_keys_dir=tmp_path / "jwt-keys")
    try:
        with TestClient(create_app(settings)) as client:
            yield client, settings, database
    finally:
        drop_database(stack, database)


def run_job(settings) -> dict | None:
    """One run of the scheduled job, as the worker's scheduler runs it: (pool, settings, now)."""
    async def run():
        pool = await create_pool(settings, settings.backend_database)
        try:
            return await close_epochs(pool, settings, settings.now())
        finally:
            await pool.close()

    return asyncio.run(run())


def run_jobs_together(settings, count: int) -> list:
    """`count` runs at once, each with a pool of its own (as several worker processes would)."""
    async def run():
        pools = [await create_pool(settings, settings.backend_database) for _ in range(count)]
        try:
            return await asyncio.gather(*(close_epochs(pool, settings, settings.now()) for pool in pools))
        finally:
            for pool in pools:
                await pool.close()

    return asyncio.run(run())


def process_env(stack, settings, chain) -> dict:
    """The environment of a process of the platform (the operator's commands, a worker) on the test's
    database and the private chain."""
    return {**os.environ, **stack, "BACKEND_DATABASE": settings.backend_database,
            "FITMINT_STATE_DIR": str(chain.state_dir), "FITMINT_RPC_URL": chain.url,
            "POSTGRES_PASSWORD_FILE": str(settings.postgres_password_file), "CLOCK_OFFSET_SECONDS": "0"}


def set_reward_mode(stack, database, mode):
    """The operator's command, on the test's database."""
    env = {**os.environ, **stack, "BACKEND_DATABASE": database}
    result = subprocess.run([sys.executable, "-m", "backend.app.manage", "reward-mode", "fitmint", mode], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def funded_wallet(chain):
    wallet = Account.create()
    chain.rpc("eth_sendTransaction", {"from": chain.accounts[0], "to": wallet.address, "value": hex(10**18)})
    return wallet


def record_run(client, headers, *, hours_ago: float, km: float) -> str:
    response = client.post("/fitness/workouts", headers=headers,
                           json=a_run(km=km, end=datetime.now(UTC) - timedelta(hours=hours_ago)))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def claim_epoch(chain, wallet, proof: dict) -> str:
    """The member sends claimEpoch from their own wallet, signed locally."""
    call = chain.rewards.functions.claimEpoch(proof["epoch"], proof["index"],
                                              chain.w3.to_checksum_address(proof["account"]), int(proof["amount"]),
                                              [bytes.fromhex(p[2:]) for p in proof["proof"]])
    tx = call.build_transaction({"from": wallet.address, "nonce": chain.w3.eth.get_transaction_count(wallet.address),
                                 "chainId": 31337, "gas": 300_000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1})
    tx_hash = chain.w3.eth.send_raw_transaction(wallet.sign_transaction(tx).raw_transaction)
    assert chain.w3.eth.wait_for_transaction_receipt(tx_hash).status == 1
    return "0x" + bytes(tx_hash).hex().removeprefix("0x")


def advance_chain_past_epoch(chain) -> int:
    """Moves the private chain's time one epoch on (one day: the deploy's epoch duration); its new epoch."""
    _, duration, _, _ = chain.rewards.functions.schedule().call()
    assert duration == DAY
    chain.mine(seconds=duration)
    return chain.rewards.functions.currentEpoch().call()


def test_epoch_accrues_closes_posts_once_and_is_claimed(app, chain, indexer_settings, stack):
    client, settings, database = app
    alice, bob = funded_wallet(chain), funded_wallet(chain)
    alice_headers, bob_headers = sign_in(client, settings, alice), sign_in(client, settings, bob)
    assert chain.rewards.functions.currentEpoch().call() == 0

    # Voucher mode (the default): a workout accepted now is paid by a voucher, even after the switch.
    before_switch = record_run(client, alice_headers, hours_ago=10, km=2.0)
    assert "(was voucher)" in set_reward_mode(stack, database, "epoch")
    voucher = client.post(f"/rewards/workouts/{before_switch}/voucher", headers=alice_headers)
    assert voucher.status_code == 201, voucher.text
    assert voucher.json()["amount"] == str(20 * FIT)

    # Epoch mode: accepted workouts accrue to the current epoch; a voucher for one is refused.
    alice_runs = [record_run(client, alice_headers, hours_ago=7, km=5.0),
                  record_run(client, alice_headers, hours_ago=4, km=3.0)]
    bob_run = record_run(client, bob_headers, hours_ago=4, km=5.0)
    for workout, headers in [(alice_runs[0], alice_headers), (bob_run, bob_headers)]:
        refused = client.post(f"/rewards/workouts/{workout}/voucher", headers=headers)
        assert refused.status_code == 409, refused.text
        assert "accrues to the current reward epoch" in refused.json()["detail"]
    rewards = {str(r["workout_id"]): r["mode"] for r in db(settings, "SELECT workout_id, mode FROM workout_rewards")}
    assert rewards == {before_switch: "voucher", alice_runs[0]: "epoch", alice_runs[1]: "epoch", bob_run: "epoch"}
    assert db(settings, "SELECT v.workout_id FROM vouchers v JOIN epoch_accruals a USING (workout_id)") == []

    # The epoch has not ended on chain: nothing is closed.
    assert run_job(settings) is None
    assert client.get("/rewards/epochs").json()["data"] == []

    assert advance_chain_past_epoch(chain) == 1
    # Three workers' runs at once, then one more: one epoch row, one queue request, one root.
    outcomes = run_jobs_together(settings, 3) + [run_job(settings)]
    submitted = [c for o in outcomes if o for c in o.get("closed", []) if c["state"] == "submitted"]
    assert len(submitted) == 1 and submitted[0]["epoch"] == 0 and submitted[0]["leaves"] == 2
    contract = chain.rewards.address.lower()
    requests = db(settings, "SELECT id, state FROM txqueue_request WHERE idempotency_key = $1",
                  idempotency_key(31337, contract, 0))
    assert [r["id"] for r in requests] == [submitted[0]["request"]]
    assert len(db(settings, "SELECT 1 FROM txqueue_request")) == 1

    # Stored but not posted yet: no proofs.
    early = client.get(f"/rewards/epochs/0/proofs/{alice.address}")
    assert early.status_code == 404 and "not posted" in early.json()["detail"]

    operator_keys = settings.operator_keys()  # the deploy's operator pool: each holds OPERATOR_ROLE
    for key in operator_keys:
        assert chain.rewards.functions.hasRole(chain.rewards.functions.OPERATOR_ROLE().call(),
                                               Account.from_key(key).address).call()
    decoder = deployment_decoder(chain.manifest)
    with queue_worker(settings.postgres(settings.backend_database), chain.url, operator_keys, decoder):
        wait_until(lambda: (run_job(settings) or True) and client.get("/rewards/epochs").json()["data"][0]["state"]
                   == "posted", timeout=60, interval=0.5, what="epoch 0's root posted")
    epoch = client.get("/rewards/epochs").json()["data"][0]
    root, total, claimed = chain.rewards.functions.epochDistribution(0).call()
    assert epoch["root"] == "0x" + root.hex() and int(epoch["total"]) == total == 130 * FIT and claimed == 0
    assert (epoch["epoch"], epoch["leaves"], epoch["accruals"], epoch["accrued"]) == (0, 2, 3, str(130 * FIT))
    assert epoch["tx_hash"] and epoch["claimed_total"] == "0"
    posted = chain.rewards.events.EpochRootPosted().get_logs(from_block=0)
    assert [(e["args"]["epoch"], "0x" + e["args"]["root"].hex()) for e in posted] == [(0, epoch["root"])]
    assert epoch["tx_hash"] == "0x" + bytes(posted[0]["transactionHash"]).hex().removeprefix("0x")

    # Alice fetches her proof (public data) and claims it herself.
    proof = client.get(f"/rewards/epochs/0/proofs/{alice.address}").json()
    assert (proof["account"], proof["amount"], proof["root"], proof["claimed"]) == (
        alice.address.lower(), str(80 * FIT), epoch["root"], False)
    tx_hash = claim_epoch(chain, alice, proof)
    assert chain.token.functions.balanceOf(alice.address).call() == 80 * FIT
    asyncio.run(index_to_head(indexer_settings))
    shown = client.get(f"/rewards/epochs/0/proofs/{alice.address}").json()
    assert (shown["claimed"], shown["claimed_tx"], shown["block"]) == (True, tx_hash, chain.head())
    assert client.get(f"/rewards/epochs/0/proofs/{bob.address}").json()["claimed"] is False
    listed = client.get("/rewards/epochs").json()
    assert (listed["data"][0]["claimed_total"], listed["data"][0]["claimed_leaves"]) == (str(80 * FIT), 1)
    stranger = Account.create().address
    missing = client.get(f"/rewards/epochs/0/proofs/{stranger}")
    assert missing.status_code == 404 and "has no leaf in epoch 0" in missing.json()["detail"]

    # The next epoch had no accruals: once it ends, nothing is posted for it.
    assert advance_chain_past_epoch(chain) == 2
    assert run_job(settings) is None
    assert chain.rewards.functions.epochDistribution(1).call()[0] == bytes(32)
    assert len(db(settings, "SELECT 1 FROM txqueue_request")) == 1
    assert client.get("/rewards/epochs/1/proofs/" + alice.address).status_code == 404
    assert [e["epoch"] for e in client.get("/rewards/epochs").json()["data"]] == [0]


def spend_epoch_budget(chain, leave: int) -> None:
    """Claims a voucher (to a fresh account) that leaves the current epoch's budget `leave`: what voucher-mode
    tenants' members do, at once (the daily cap raised by the admin so that one voucher is enough)."""
    epoch = chain.rewards.functions.currentEpoch().call()

    def left() -> int:
        return chain.rewards.functions.epochBudget(epoch).call() - chain.rewards.functions.epochEmitted(epoch).call()

    spend = left() - leave
    call_as_admin(chain, "ActivityRewards", "setDailyCap", spend)  # through the timelock, as in production
    chain.claim(Account.create().address, spend)
    assert left() == leave


def post_with(settings, chain, client, keys: list[str], epoch: int, state: str) -> dict:
    """Runs a queue worker signing with `keys` and the job until `epoch` reaches `state`; the epoch as listed."""
    decoder = deployment_decoder(chain.manifest)

    def listed():
        return next(e for e in client.get("/rewards/epochs").json()["data"] if e["epoch"] == epoch)

    with queue_worker(settings.postgres(settings.backend_database), chain.url, keys, decoder):
        wait_until(lambda: (run_job(settings) or True) and listed()["state"] == state, timeout=60, interval=0.5,
                   what=f"epoch {epoch} {state}")
    return listed()


def test_an_epoch_over_its_budget_is_scaled_to_what_the_contract_accepts(app, chain, stack):
    client, settings, database = app
    set_reward_mode(stack, database, "epoch")
    alice, bob = funded_wallet(chain), funded_wallet(chain)
    record_run(client, sign_in(client, settings, alice), hours_ago=4, km=5.0)  # 50 FIT
    record_run(client, sign_in(client, settings, bob), hours_ago=4, km=3.0)    # 30 FIT
    spend_epoch_budget(chain, leave=40 * FIT)  # vouchers claimed in epoch 0 leave it 40 FIT

    advance_chain_past_epoch(chain)
    epoch = post_with(settings, chain, client, settings.operator_keys(), 0, "posted")
    assert (epoch["accrued"], epoch["available"], epoch["total"]) == (str(80 * FIT), str(40 * FIT), str(40 * FIT))
    assert "scaled" in epoch["reason"]
    assert chain.rewards.functions.epochEmitted(0).call() == chain.rewards.functions.epochBudget(0).call()
    proof = client.get(f"/rewards/epochs/0/proofs/{bob.address}").json()
    assert (proof["amount"], proof["accrued"]) == (str(15 * FIT), str(30 * FIT))  # both cut by half
    assert client.get(f"/rewards/epochs/0/proofs/{alice.address}").json()["amount"] == str(25 * FIT)
    claim_epoch(chain, bob, proof)
    assert chain.token.functions.balanceOf(bob.address).call() == 15 * FIT


def test_a_spent_epoch_is_carried_and_a_failed_root_is_retried(app, chain, stack):
    client, settings, database = app
    set_reward_mode(stack, database, "epoch")
    alice = funded_wallet(chain)
    record_run(client, sign_in(client, settings, alice), hours_ago=4, km=5.0)
    spend_epoch_budget(chain, leave=0)

    # Epoch 0 has nothing left: nothing posted, its accrual waits for epoch 1.
    advance_chain_past_epoch(chain)
    assert run_job(settings)["closed"] == [{"epoch": 0, "state": "carried", "accruals": 1}]
    carried = client.get("/rewards/epochs").json()["data"]
    assert [(e["epoch"], e["state"], e["root"], e["total"]) for e in carried] == [(0, "carried", None, "0")]
    assert [r["epoch"] for r in db(settings, "SELECT epoch FROM epoch_accruals")] == [None]
    assert db(settings, "SELECT 1 FROM txqueue_request") == []

    # Epoch 1 pays it; a signer without OPERATOR_ROLE: the queue's simulation refuses, nothing is sent.
    advance_chain_past_epoch(chain)
    stranger = Account.create()
    chain.rpc("anvil_setBalance", stranger.address, hex(10**18))
    failed = post_with(settings, chain, client, [stranger.key.to_0x_hex()], 1, "failed")
    assert "AccessControlUnauthorizedAccount" in failed["reason"] and failed["tx_hash"] is None
    assert chain.rewards.functions.epochDistribution(1).call()[0] == bytes(32)
    refused = client.get(f"/rewards/epochs/1/proofs/{alice.address}")
    assert refused.status_code == 404 and "failed" in refused.json()["detail"]

    # The operator retries it (same root and proofs, a new queue request); the operator's key posts it.
    result = subprocess.run([sys.executable, "-m", "backend.app.manage", "retry-epoch", "1"], cwd=ROOT,
                            env=process_env(stack, settings, chain), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "submitted again" in result.stdout, result.stdout + result.stderr
    posted = post_with(settings, chain, client, settings.operator_keys(), 1, "posted")
    assert posted["root"] == failed["root"] and posted["total"] == str(50 * FIT)
    assert [r["idempotency_key"].rsplit(":", 1)[-1] for r in db(
        settings, "SELECT idempotency_key FROM txqueue_request ORDER BY id")] == ["1", "retry-1"]
    claim_epoch(chain, alice, client.get(f"/rewards/epochs/1/proofs/{alice.address}").json())
    assert chain.token.functions.balanceOf(alice.address).call() == 50 * FIT


JOB = ("import asyncio; from backend.app.core.config import get_settings; from backend.app.core.db import create_pool; "
       "from backend.app.rewards.epochs import close_epochs\n"
       "async def main():\n"
       "    settings = get_settings(); pool = await create_pool(settings, settings.backend_database)\n"
       "    print(await close_epochs(pool, settings, settings.now()))\n"
       "asyncio.run(main())")


def test_a_closing_killed_between_building_and_submitting_leaves_nothing_and_reruns_whole(app, chain, stack):
    """The job's process is killed (SIGKILL) once it has built the tree and assigned the accruals, while its
    postEpochRoot request waits to be written (held by a transaction of the test on the same idempotency
    key): nothing of it remains, and the next run closes the epoch, once, with a root the chain accepts."""
    client, settings, database = app
    set_reward_mode(stack, database, "epoch")
    alice = funded_wallet(chain)
    record_run(client, sign_in(client, settings, alice), hours_ago=4, km=5.0)
    advance_chain_past_epoch(chain)
    key = idempotency_key(31337, chain.rewards.address.lower(), 0)

    async def kill_mid_closing():
        blocker = await asyncpg.connect(dsn(settings, database))
        # Another connection watches: inside a transaction, pg_stat_activity stays as first read.
        watcher = await asyncpg.connect(dsn(settings, database))
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute("INSERT INTO txqueue_request (idempotency_key, requester, target, calldata, value) "
                              "VALUES ($1, 'test', $2, ''::bytea, 0)", key, "0x" + "00" * 20)
        job = spawn([sys.executable, "-c", JOB], cwd=ROOT, env=process_env(stack, settings, chain),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        backend = None
        try:
            waiting = ("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = $1 "
                       "AND query LIKE 'INSERT INTO txqueue_request%'")
            for _ in range(1200):  # a minute: the job's process imports the backend first
                if (backend := await watcher.fetchval(waiting, database)) is not None:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the job never reached its queue request")
            assert job.poll() is None
            assert await watcher.fetchval("SELECT count(*) FROM epoch_accruals WHERE epoch IS NOT NULL") == 0
            stop_group(job, signal.SIGKILL)
        finally:
            await holding.rollback()  # the job's INSERT goes on, then finds its client gone: rolled back
            for _ in range(300):
                if backend is None or not await watcher.fetchval("SELECT 1 FROM pg_stat_activity WHERE pid = $1",
                                                                 backend):
                    break
                await asyncio.sleep(0.05)
            await blocker.close()
            await watcher.close()

    asyncio.run(kill_mid_closing())
    assert db(settings, "SELECT 1 FROM reward_epochs") == [] and db(settings, "SELECT 1 FROM reward_epoch_leaves") == []
    assert db(settings, "SELECT 1 FROM txqueue_request") == []
    assert [r["epoch"] for r in db(settings, "SELECT epoch FROM epoch_accruals")] == [None]

    posted = post_with(settings, chain, client, settings.operator_keys(), 0, "posted")
    assert chain.rewards.functions.epochDistribution(0).call()[0].hex() == posted["root"][2:]
    assert len(db(settings, "SELECT 1 FROM txqueue_request")) == 1
    claim_epoch(chain, alice, client.get(f"/rewards/epochs/0/proofs/{alice.address}").json())
    assert chain.token.functions.balanceOf(alice.address).call() == 50 * FIT
