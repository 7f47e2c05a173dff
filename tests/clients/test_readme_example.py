"""The README's "Build a client" example is real: its first ```ts block is compiled with tsc and run with
Node against the stack, signed in with a fresh key that has earned 50 FIT, and prints what it says."""

import re
import shutil
import time

from eth_account import Account

from tests.clients.test_ts_sdk import SDK, build_sdk, run
from tests.support.paths import ROOT
from tests.support.stackclient import earn_fit, fund_gas
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


def test_the_readme_example_runs_against_the_stack(api, api_url, rpc_url, listed_item):
    example = readme_example()
    wallet = Account.create()
    fund_gas(rpc_url, wallet.address)
    assert earn_fit(api, rpc_url, wallet) == 50 * FIT
    wait_until(lambda: api.get(f"/wallets/{wallet.address}/balance").json()["balance"] == str(50 * FIT), timeout=30,
               what="the claim indexed")
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
