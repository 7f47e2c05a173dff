"""The whole reward loop through HTTP against real components: a test wallet (eth-account) signs in
with SIWE, records a run, gets an EIP-712 voucher from the API (signed with the attestor key the deploy
script authorised), submits it to ActivityRewards on Anvil itself; after the indexer catches up the
minted FIT shows in the wallet endpoints and the voucher reads as claimed. The FitnessRewardIssued
event reaches Kafka through the API's outbox relay. Caps of the contract bound what is issued."""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime

import pytest
from eth_account import Account
from eth_utils import keccak
from fastapi.testclient import TestClient
from web3.exceptions import ContractCustomError

from backend.app.main import create_app
from backend.app.rewards.service import day_number
from checks import consume_all, index_to_head
from fitmint import events as ev
from fitmint.rewards.vouchers import RewardVoucher, sign_voucher
from fitmint.secrets import read_or_generate
from tests.support import testclock
from tests.support.api import a_run, api_settings, db
from tests.support.databases import create_database, drop_database
from tests.support.eventschemas import assert_matches_schema
from tests.support.roles import grant_role
from tests.support.scenario import ScenarioChain
from tests.support.signer_server import running_signer
from tests.support.signin import sign_in
from tests.support.units import FIT

pytestmark = pytest.mark.wallclock  # `make test-clock` runs it at 00:05, 11:00 and 23:55 UTC


@pytest.fixture(scope="module")
def module_chain(tmp_path_factory):
    scenario = ScenarioChain(tmp_path_factory.mktemp("rewards") / "state")
    yield scenario
    scenario.stop()


@pytest.fixture
def chain(module_chain):
    """One deployment for the module (it runs again at each pinned hour of `make test-clock`), each test
    on a snapshot of it, reverted after: what the test mined is gone for the next one."""
    snapshot = module_chain.rpc("evm_snapshot")
    yield module_chain
    module_chain.rpc("evm_revert", snapshot)


@pytest.fixture
def loop(chain, indexer_settings, stack, tmp_path):
    asyncio.run(index_to_head(indexer_settings))  # as on the stack: the indexer is running
    database = create_database(stack)
    settings = api_settings(stack, chain.state_dir, database, fitmint_rpc_url=chain.url,
                            indexer_database=indexer_settings.indexer_database,
                            kafka_topic_prefix=indexer_settings.kafka_topic_prefix, relay_enabled=True,
                            jwt_keys_dir=tmp_path / "jwt-keys")
    try:
        with TestClient(create_app(settings)) as client:
            yield client, settings
    finally:
        drop_database(stack, database)


def funded_wallet(chain):
    wallet = Account.create()
    chain.rpc("eth_sendTransaction", {"from": chain.accounts[0], "to": wallet.address, "value": hex(10**18)})
    return wallet


def claim_arguments(chain, voucher) -> tuple:
    """ActivityRewards.claim's arguments for a voucher as the API answers it."""
    return ((chain.w3.to_checksum_address(voucher["account"]), int(voucher["amount"]),
             bytes.fromhex(voucher["claim_id"][2:]), voucher["day"], voucher["deadline"]),
            bytes.fromhex(voucher["signature"][2:]))


def submit_claim(chain, wallet, voucher) -> str:
    """The wallet sends ActivityRewards.claim(voucher, signature) itself, signed locally."""
    call = chain.rewards.functions.claim(*claim_arguments(chain, voucher))
    tx = call.build_transaction({"from": wallet.address, "nonce": chain.w3.eth.get_transaction_count(wallet.address),
                                 "chainId": 31337, "gas": 300_000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1})
    signed = wallet.sign_transaction(tx)
    tx_hash = chain.w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt.status == 1
    return "0x" + bytes(tx_hash).hex().removeprefix("0x")


def test_workout_to_voucher_to_minted_balance(loop, chain, indexer_settings):
    client, settings = loop
    wallet = funded_wallet(chain)
    headers = sign_in(client, settings, wallet)
    workout = client.post("/fitness/workouts", json=a_run(km=5.0), headers=headers)
    assert workout.status_code == 201, workout.text

    issued = client.post(f"/rewards/workouts/{workout.json()['id']}/voucher", headers=headers)
    assert issued.status_code == 201, issued.text
    voucher = issued.json()
    assert voucher["amount"] == str(50 * FIT) and voucher["status"] == "issued"  # 5 km run x 10 FIT per km
    assert voucher["attestor"] == chain.attestor.address.lower()
    again = client.post(f"/rewards/workouts/{workout.json()['id']}/voucher", headers=headers)
    assert again.status_code == 200 and again.json()["signature"] == voucher["signature"]

    tx_hash = submit_claim(chain, wallet, voucher)
    assert chain.token.functions.balanceOf(wallet.address).call() == 50 * FIT
    asyncio.run(index_to_head(indexer_settings))
    balance = client.get(f"/wallets/{wallet.address}/balance").json()
    assert balance == {"address": wallet.address, "balance": str(50 * FIT), "block": chain.head()}
    claimed = client.get(f"/rewards/vouchers/{voucher['claim_id']}", headers=headers).json()
    assert claimed["status"] == "claimed" and claimed["claimed_tx"] == tx_hash and claimed["block"] == chain.head()
    claims = client.get(f"/wallets/{wallet.address}/claims").json()["data"]
    assert [c["claim_id"] for c in claims] == [voucher["claim_id"]]

    # Exactly one FitnessRewardIssued event for the voucher, though it was asked for twice.
    expected_id = ev.voucher_issued_id(voucher["claim_id"])
    deadline = time.monotonic() + 30
    while True:
        issued_events = [r for r in asyncio.run(consume_all(indexer_settings)) if r["type"] == ev.REWARD_ISSUED.ce_type]
        if issued_events or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [(e["id"], e["key"], e["data"]["amount"]) for e in issued_events] == [
        (expected_id, wallet.address.lower(), str(50 * FIT))]
    assert_matches_schema(ev.REWARD_ISSUED.ce_type, issued_events[0]["data"])


def test_claim_ids_are_issued_in_sequence_past_ids_the_contract_already_paid(loop, chain):
    """Consecutive vouchers get consecutive claim ids (they share a word of the contract's paid-ids bitmap);
    an id the contract has already paid, as after a database restored from a backup, is skipped."""
    client, settings = loop
    wallet = funded_wallet(chain)
    headers = sign_in(client, settings, wallet)

    runs = iter(range(1, 4))

    def voucher_for_a_run() -> dict:
        workout = client.post("/fitness/workouts", json=a_run(hours_ago=next(runs), minutes=6, km=1.0),
                              headers=headers)
        assert workout.status_code == 201, workout.text
        issued = client.post(f"/rewards/workouts/{workout.json()['id']}/voucher", headers=headers)
        assert issued.status_code == 201, issued.text
        return issued.json()

    first = voucher_for_a_run()
    number = int(first["claim_id"], 16)
    assert first["claim_id"] == "0x" + number.to_bytes(32, "big").hex()
    assert int(voucher_for_a_run()["claim_id"], 16) == number + 1
    # The next id is paid on the chain already (a voucher the lost database had issued and its member claimed).
    taken = RewardVoucher(wallet.address, FIT, (number + 2).to_bytes(32, "big"), chain.today(), 2**40)
    chain.send(chain.rewards.functions.claim(taken.as_tuple(), sign_voucher(
        taken, chain.attestor.key, chain_id=31337, verifying_contract=chain.rewards.address)), chain.accounts[9])
    third = voucher_for_a_run()
    assert int(third["claim_id"], 16) == number + 3
    submit_claim(chain, wallet, third)
    assert chain.rewards.functions.isClaimPaid(bytes.fromhex(third["claim_id"][2:])).call()


def test_vouchers_respect_the_daily_cap_and_expire(loop, chain):
    client, settings = loop
    wallet = funded_wallet(chain)
    headers = sign_in(client, settings, wallet)
    amounts = []
    # Four 42 km runs of 4 h 30 min (420 FIT each before the cap), ending at 16:00 and 22:00 on each of the
    # two previous UTC days: in the past and within the anti-cheat's 16 h of activity a day at any hour.
    midnight = testclock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    for hours_before_midnight in (2, 8, 26, 32):
        run = client.post("/fitness/workouts", json=a_run(end=midnight - timedelta(hours=hours_before_midnight),
                                                          minutes=270, km=42.0, steps=None, calories=2_800.0),
                          headers=headers)
        assert run.status_code == 201, run.text
        response = client.post(f"/rewards/workouts/{run.json()['id']}/voucher", headers=headers)
        amounts.append((response.status_code, response.json().get("amount")))
    cap = chain.rewards.functions.dailyCap().call()
    assert amounts[:3] == [(201, str(420 * FIT)), (201, str(420 * FIT)), (201, str(cap - 840 * FIT))]
    assert amounts[3] == (409, None)
    refused = client.post(f"/rewards/workouts/{run.json()['id']}/voucher", headers=headers)
    assert refused.status_code == 409 and "daily reward cap" in refused.json()["detail"]

    listed = client.get("/rewards/vouchers", headers=headers).json()["data"]
    assert len(listed) == 3 and {v["status"] for v in listed} == {"issued"}
    db(settings, "UPDATE vouchers SET deadline = 1 WHERE claim_id = $1", listed[0]["claim_id"])
    assert client.get(f"/rewards/vouchers/{listed[0]['claim_id']}", headers=headers).json()["status"] == "expired"


def test_refused_workouts_earn_nothing_and_the_account_must_be_linked(loop, chain):
    client, settings = loop
    wallet = funded_wallet(chain)
    headers = sign_in(client, settings, wallet)
    cheat = client.post("/fitness/workouts", json=a_run(km=30.0), headers=headers)  # 60 km/h
    assert cheat.status_code == 422
    refused = client.post(f"/rewards/workouts/{cheat.json()['detail']['workout_id']}/voucher", headers=headers)
    assert refused.status_code == 409 and "anti-cheat" in refused.json()["detail"]
    run = client.post("/fitness/workouts", json=a_run(), headers=headers).json()
    stranger = client.post(f"/rewards/workouts/{run['id']}/voucher", json={"account": chain.accounts[3]},
                           headers=headers)
    assert stranger.status_code == 422 and "linked wallets" in stranger.json()["detail"]


def test_a_newer_voucher_submitted_first_by_a_stranger_cannot_cost_the_member_the_older_one(loop, chain):
    """Issue 13, item 8, through the API: the member earns a voucher late on day D and another early on
    D + 1, together more than one day's cap. A stranger who got hold of the newer one submits it first on
    D + 1; the older one still pays, because each is charged to the day it names."""
    client, settings = loop
    member, stranger = funded_wallet(chain), funded_wallet(chain)
    headers = sign_in(client, settings, member)
    cap = chain.rewards.functions.dailyCap().call()
    km = 0.6 * cap / (10 * FIT)  # a run earns 10 FIT a km: each voucher is 60% of the cap
    latest = chain.w3.eth.get_block("latest")["timestamp"]
    day = datetime.fromtimestamp(latest, UTC).date() + timedelta(days=1)  # ahead of the chain

    def at(days: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day + timedelta(days=days), dtime(hour, minute, tzinfo=UTC))

    def voucher_for_a_run(now: datetime, ended: datetime) -> dict:
        settings.clock_offset_seconds = (now - datetime.now(UTC)).total_seconds()  # the API's clock
        run = client.post("/fitness/workouts", json=a_run(end=ended, minutes=int(km * 6), km=km, steps=None,
                                                          calories=65.0 * km), headers=headers)
        assert run.status_code == 201, run.text
        issued = client.post(f"/rewards/workouts/{run.json()['id']}/voucher", headers=headers)
        assert issued.status_code == 201, issued.text
        return issued.json()

    older = voucher_for_a_run(now=at(0, 20), ended=at(0, 12))
    newer = voucher_for_a_run(now=at(1, 10), ended=at(1, 8))
    assert (older["day"], newer["day"]) == (day_number(day), day_number(day) + 1)
    assert int(older["amount"]) + int(newer["amount"]) > cap  # one day's cap could not pay both
    assert older["deadline"] == int(at(1, 20).timestamp())  # 24 h, within the next day

    chain.rpc("evm_setNextBlockTimestamp", int(at(1, 10, 5).timestamp()))
    submit_claim(chain, stranger, newer)
    chain.rpc("evm_setNextBlockTimestamp", int(at(1, 10, 6).timestamp()))
    submit_claim(chain, member, older)
    balance = chain.token.functions.balanceOf(member.address).call()
    assert balance == int(older["amount"]) + int(newer["amount"])


def test_attestor_key_rotation_through_the_timelock(loop, chain, tmp_path):
    """README "Keys and admin": the new attestor key granted through the timelock, the API switched to it
    (another key file, the API restarted), the old key revoked through the timelock: a voucher the API
    signed with the old key is refused on chain from then on, one signed with the new key pays."""
    client, settings = loop
    wallet = funded_wallet(chain)

    def voucher(api, hours_ago, km):
        headers = sign_in(api, settings, wallet)
        workout = api.post("/fitness/workouts", json=a_run(hours_ago=hours_ago, km=km), headers=headers)
        assert workout.status_code == 201, workout.text
        issued = api.post(f"/rewards/workouts/{workout.json()['id']}/voucher", headers=headers)
        assert issued.status_code == 201, issued.text
        return issued.json()

    old_voucher = voucher(client, hours_ago=3, km=5.0)  # issued with the old key, not claimed yet
    new_key_file = tmp_path / "attestor-new.key"
    new_attestor = Account.from_key("0x" + read_or_generate(new_key_file)).address
    grant_role(chain, "ActivityRewards", "ATTESTOR_ROLE", new_attestor)

    with TestClient(create_app(settings.model_copy(update={"fitmint_attestor_key_file": new_key_file}))) as switched:
        new_voucher = voucher(switched, hours_ago=1, km=3.0)
    assert new_voucher["attestor"] == new_attestor.lower() and old_voucher["attestor"] == chain.attestor.address.lower()

    grant_role(chain, "ActivityRewards", "ATTESTOR_ROLE", chain.attestor.address, action="revoke")
    with pytest.raises(ContractCustomError) as refused:
        chain.rewards.functions.claim(*claim_arguments(chain, old_voucher)).call({"from": wallet.address})
    assert refused.value.data.startswith("0x" + keccak(text="RewardsUnauthorizedAttestor(bytes32,address)")[:4].hex())
    assert chain.attestor.address[2:].lower() in refused.value.data  # the signer it names
    submit_claim(chain, wallet, new_voucher)
    assert chain.token.functions.balanceOf(wallet.address).call() == 30 * FIT


def test_vouchers_signed_by_a_remote_signer_pay_and_its_outage_is_a_503(loop, chain, tmp_path):
    """FITMINT_ATTESTOR_SIGNER_URL: the attestor key lives in a signer process of its own (the API is given no
    key file: the one it names does not exist); its vouchers pay on chain. With the signer gone, asking for a
    voucher answers 503 naming it, and nothing is issued."""
    client, settings = loop
    wallet = funded_wallet(chain)
    remote = settings.model_copy(update={"fitmint_attestor_key_file": tmp_path / "no-such.key",
                                         "fitmint_attestor_address": chain.attestor.address})

    def workout(api, hours_ago):
        headers = sign_in(api, settings, wallet)
        created = api.post("/fitness/workouts", json=a_run(hours_ago=hours_ago, km=4.0), headers=headers)
        assert created.status_code == 201, created.text
        return created.json()["id"], headers

    with running_signer([chain.state_dir / "secrets" / "attestor.key"]) as signer_url:
        remote = remote.model_copy(update={"fitmint_attestor_signer_url": signer_url})
        with TestClient(create_app(remote)) as api:
            workout_id, headers = workout(api, hours_ago=3)
            issued = api.post(f"/rewards/workouts/{workout_id}/voucher", headers=headers)
    assert issued.status_code == 201, issued.text
    assert issued.json()["attestor"] == chain.attestor.address.lower()
    assert not (tmp_path / "no-such.key").exists()  # not generated: the API never looked for a key
    submit_claim(chain, wallet, issued.json())
    assert chain.token.functions.balanceOf(wallet.address).call() == 40 * FIT

    with TestClient(create_app(remote)) as api:  # the signer stopped
        workout_id, headers = workout(api, hours_ago=1)
        refused = api.post(f"/rewards/workouts/{workout_id}/voucher", headers=headers)
        assert refused.status_code == 503 and refused.json()["dependency"] == "attestor-signer", refused.text
        vouchers = api.get("/rewards/vouchers?limit=50", headers=headers).json()["data"]
        assert vouchers and workout_id not in [voucher["workout_id"] for voucher in vouchers]
