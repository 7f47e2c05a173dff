"""The reference dApp's test-only EIP-1193 wallet (clients/dapp/test/provider.ts, never in the app's bundle),
for browser tests: its bundle, rebuilt when its source is newer (about 2 s), and the script that injects it
into a page before the page's own scripts with a key to sign with."""

import json
import subprocess

from tests.support.paths import ROOT

DAPP = ROOT / "clients" / "dapp"
BUNDLE = DAPP / "test-dist" / "provider.js"


def wallet_bundle() -> str:
    source = DAPP / "test" / "provider.ts"
    if not BUNDLE.exists() or BUNDLE.stat().st_mtime < source.stat().st_mtime:
        vite = str(ROOT / "node_modules" / ".bin" / "vite")
        built = subprocess.run([vite, "build", "-c", "vite.test-wallet.config.ts", "--logLevel", "error"], cwd=DAPP,
                               capture_output=True, text=True)
        assert built.returncode == 0, f"building the test wallet failed:\n{built.stdout}{built.stderr}"
    return BUNDLE.read_text()


def injected_wallet(account, *, rpc_url: str, chain_id: int, start_chain_id: int | None = None) -> str:
    """The init script of a page whose `window.ethereum` signs as `account` (eth-account), reads from
    `rpc_url`, and starts on `start_chain_id` (default: the platform's chain)."""
    wallet = {"privateKey": "0x" + bytes(account.key).hex(), "rpcUrl": rpc_url, "chainId": chain_id,
              "startChainId": start_chain_id or chain_id}
    return f"window.__fitmintTestWallet = {json.dumps(wallet)};\n{wallet_bundle()}"
