"""The README's "Build a client" example is real: its first ```ts block is compiled with tsc and run with
Node against the stack, signed in with a fresh key that has earned 50 FIT, and prints what it says."""

import re
import shutil
import time

import httpx
from eth_account import Account
from web3 import Web3

from tests.clients.test_ts_sdk import SDK, build_sdk, run
from tests.support.api import a_run
from tests.support.paths import ROOT
from tests.support.stackclient import fund_gas, sign_in_over_http
from tests.support.units import FIT
from tests.support.waiting import wait_until

HEADING = "## Build a client"


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    assert HEADING in readme, f"README.md has no {HEADING!r} section"
    section = readme.split(HEADING, 1)[1].split("\n## ", 1)[0]
    found = re.search(r"^```ts\n(.*?)^```$", section, re.S | re.M)
    assert found, f"the {HEADING!r} section of README.md has no ```ts block"
    return found.group(1)


def earn_50_fit(api: httpx.Client, rpc_url: str, wallet) -> None:
    """What the member's app does before the example runs: a workout, its voucher, the wallet's claim."""
    headers = sign_in_over_http(api, wallet)
    workout = api.post("/fitness/workouts", headers=headers, json=a_run())
    assert workout.status_code == 201, workout.text
    voucher = api.post(f"/rewards/workouts/{workout.json()['id']}/voucher", headers=headers, json={})
    assert voucher.status_code == 201, voucher.text
    voucher = voucher.json()
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    rewards = w3.eth.contract(address=Web3.to_checksum_address(voucher["contract"]),
                              abi=api.get("/chain/abis/ActivityRewards").json())
    claim = rewards.functions.claim((Web3.to_checksum_address(voucher["account"]), int(voucher["amount"]),
                                     voucher["claim_id"], voucher["day"], voucher["deadline"]), voucher["signature"])
    tx = claim.build_transaction({"from": wallet.address, "nonce": w3.eth.get_transaction_count(wallet.address),
                                  "chainId": w3.eth.chain_id})
    sent = w3.eth.send_raw_transaction(wallet.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(sent)
    assert receipt.status == 1, receipt
    wait_until(lambda: api.get(f"/wallets/{wallet.address}/balance").json()["balance"] == str(50 * FIT), timeout=30,
               what="the claim indexed")


def test_the_readme_example_runs_against_the_stack(api, api_url, rpc_url, listed_item):
    example = readme_example()
    wallet = Account.create()
    fund_gas(rpc_url, wallet.address)
    earn_50_fit(api, rpc_url, wallet)
    build_sdk()

    # Compiled where a consumer's module would be: beside the SDK's package.json ("type": "module"), so
    # "@fitmint/sdk" and viem resolve through the workspace's node_modules.
    folder = SDK / "build-test" / f"readme-{time.time_ns()}"
    folder.mkdir(parents=True)
    try:
        (folder / "example.ts").write_text(example)
        run([str(ROOT / "node_modules" / ".bin" / "tsc"), "--module", "nodenext", "--moduleResolution", "nodenext",
             "--target", "es2022", "--strict", "--skipLibCheck", "--types", "node", "--rootDir", str(folder),
             "--outDir", str(folder / "out"), str(folder / "example.ts")], cwd=SDK,
            what="compiling the README's example")
        done = run(["node", str(folder / "out" / "example.js")], cwd=SDK, timeout=60, what="the README's example",
                   env={"FITMINT_API_URL": api_url, "FITMINT_KEY": wallet.key.to_0x_hex()})
    finally:
        shutil.rmtree(folder)

    lines = done.stdout.splitlines()
    assert lines[0] == f"signed in as {wallet.address} on chain 31337", done.stdout
    listing = f"listing {listed_item['listing_id']}: {listed_item['product']['name']}, 1.5 FIT each, 5 left"
    assert listing in lines, done.stdout
    assert re.fullmatch(r"balance: 50 FIT \(indexed block \d+\)", lines[-1]), done.stdout
