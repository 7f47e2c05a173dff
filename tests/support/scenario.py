"""A private Anvil with the contracts deployed by `ape run deploy`, and the user actions the indexer
must follow (claims, epochs, listings, purchases, resales, transfers), driven with web3.py."""

import os
import subprocess
import sys
import time
from pathlib import Path

from eth_account import Account
from eth_utils import keccak
from web3 import Web3
from web3.logs import DISCARD

from fitmint.chain.manifest import Manifest
from fitmint.chain.permits import sign_permit
from fitmint.rewards.merkle import Entry, MerkleDistribution
from fitmint.rewards.vouchers import RewardVoucher, sign_voucher
from fitmint.settings import KernelSettings
from tests.support.paths import ROOT
from tests.support.processes import free_port, spawn, stop_group
from tests.support.units import CID, DAY, FIT
from tests.support.waiting import wait_until

ANVIL = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
APE = Path(sys.executable).parent / "ape"


class ScenarioChain:
    def __init__(self, state_dir: Path, gas_limit: int = 300_000_000, prune_history: bool = False):
        self.state_dir = state_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # --prune-history: without it Anvil keeps every block's state on disk and slows down as a large
        # chain grows (historical eth_call then fails, which only benchmarks can live with).
        self.process = spawn([str(ANVIL), "--host", "127.0.0.1", "--port", str(self.port),
                              "--chain-id", "31337", "--gas-limit", str(gas_limit),
                              *(["--prune-history"] if prune_history else [])],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 60}))
        wait_until(self._up, timeout=20, interval=0.1, what="anvil up")
        self._deploy()
        self.accounts = self.w3.eth.accounts
        self.admin = self.accounts[0]
        self._claims = 0
        self._today = None  # (UTC day of the latest block, time.monotonic() when read)

    def _up(self) -> bool:
        try:
            return self.w3.is_connected()
        except Exception:  # noqa: BLE001 - any failure to reach the node means it is not up yet
            return False

    def _deploy(self):
        env = dict(os.environ, APE_FOUNDRY_HOST=self.url, FITMINT_STATE_DIR=str(self.state_dir))
        for variable in ("FITMINT_ATTESTOR_KEY_FILE", "MANIFEST"):  # the deployment of this state folder
            env.pop(variable, None)
        result = subprocess.run([str(APE), "run", "deploy", "--network", "ethereum:local:foundry", "--account",
                                 "TEST::0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(result.stdout + result.stderr)
        settings = KernelSettings(fitmint_state_dir=self.state_dir, manifest=None)
        self.manifest_path = settings.manifest_path(31337)
        self.manifest = Manifest.load(self.manifest_path)
        self.contracts = {name: self.w3.eth.contract(address=contract.checksum_address, abi=contract.abi)
                          for name, contract in self.manifest.contracts.items()}
        self.attestor = Account.from_key(settings.secret("attestor.key"))
        # Posts epoch roots and lists items (the deploy wired its roles and gas): the deployer, whose admin
        # went to the timelock, holds no such role.
        self.operator = Account.from_key(settings.secret("operator.key"))

    def stop(self):
        stop_group(self.process)

    # --- chain control ------------------------------------------------------------------------------
    @property
    def token(self):
        return self.contracts["FitToken"]

    @property
    def rewards(self):
        return self.contracts["ActivityRewards"]

    @property
    def items(self):
        return self.contracts["FitItems"]

    @property
    def market(self):
        return self.contracts["Marketplace"]

    def head(self) -> int:
        return self.w3.eth.block_number

    def rpc(self, method, *params):
        response = self.w3.provider.make_request(method, list(params))
        if "error" in response:
            raise RuntimeError(f"{method}: {response['error']}")
        return response.get("result")

    def mine(self, blocks=1, seconds=1):
        self._today = None
        for _ in range(blocks):
            self.rpc("evm_increaseTime", seconds)
            self.rpc("evm_mine")

    def today(self) -> int:
        """The UTC day (unix time // 86400) of the latest block: the day vouchers name. Read again after
        `mine` and at least every second (bulk loads sign thousands of vouchers); a voucher stays
        redeemable the day after the one it names, so a day read just before midnight still works."""
        now = time.monotonic()
        if self._today is None or now - self._today[1] > 1:
            latest = self.rpc("eth_getBlockByNumber", "latest", False)
            self._today = (int(latest["timestamp"], 16) // DAY, now)
        return self._today[0]

    def send_fast(self, to: str, data: bytes, sender: str, gas: int) -> str:
        """Sends raw calldata with a fixed gas limit: no estimation, no receipt wait (for bulk loads)."""
        return self.rpc("eth_sendTransaction", {"from": sender, "to": to, "data": "0x" + data.hex(), "gas": hex(gas)})

    def send(self, call, sender):
        """`call` from an account the node signs for (an address) or a local key (a LocalAccount)."""
        if isinstance(sender, str):
            tx_hash = call.transact({"from": sender})
        else:
            tx = call.build_transaction({"from": sender.address,
                                         "nonce": self.w3.eth.get_transaction_count(sender.address, "pending")})
            tx_hash = self.w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt.status == 1, receipt
        return receipt

    # --- user actions -------------------------------------------------------------------------------
    def voucher(self, account, amount):
        self._claims += 1
        voucher = RewardVoucher(account, amount, keccak(text=f"scenario claim {self._claims} {time.time_ns()}"),
                                self.today(), 2**40)
        signature = sign_voucher(voucher, self.attestor.key, chain_id=31337,
                                 verifying_contract=self.rewards.address)
        return voucher.as_tuple(), signature

    def claim(self, account, amount=10 * FIT, relayer=None):
        return self.send(self.rewards.functions.claim(*self.voucher(account, amount)), relayer or self.accounts[9])

    def claim_batch(self, pairs, relayer=None):
        signed = [self.voucher(account, amount) for account, amount in pairs]
        return self.send(self.rewards.functions.claimBatch([v for v, _ in signed], [s for _, s in signed]),
                         relayer or self.accounts[9])

    def epoch(self, pairs):
        """Posts a Merkle distribution for the current epoch and claims every leaf."""
        tree = MerkleDistribution([Entry(account, amount) for account, amount in pairs])
        epoch = self.rewards.functions.currentEpoch().call()
        self.send(self.rewards.functions.postEpochRoot(epoch, tree.root, tree.total), self.operator)
        for index, entry in enumerate(tree.entries):
            self.send(self.rewards.functions.claimEpoch(epoch, index, entry.account, entry.amount, tree.proof(index)),
                      self.accounts[9])

    def approve_market(self, account):
        self.send(self.token.functions.approve(self.market.address, 2**256 - 1), account)
        self.send(self.items.functions.setApprovalForAll(self.market.address, True), account)

    def list_item(self, item_id, price, supply, proceeds=None):
        receipt = self.send(self.market.functions.createListing(item_id, price, supply, CID,
                                                                proceeds or self.accounts[8]), self.operator)
        return self.market.events.ListingCreated().process_receipt(receipt, errors=DISCARD)[0]["args"]["listingId"]

    def buy(self, listing_id, quantity, buyer, max_price=2**96 - 1):
        return self.send(self.market.functions.purchase(listing_id, quantity, max_price), buyer)

    def buy_with_permit(self, listing_id, quantity, buyer_key, price):
        buyer = Account.from_key(buyer_key)
        nonce = self.token.functions.nonces(buyer.address).call()
        permit = sign_permit(buyer_key, token_name="Fitmint", token_address=self.token.address, chain_id=31337,
                             owner=buyer.address, spender=self.market.address, value=price * quantity,
                             nonce=nonce, deadline=2**40)
        return self.send(self.market.functions.purchaseWithPermit(
            listing_id, quantity, price, price * quantity, 2**40, permit.v, permit.r, permit.s), buyer.address)

    def resell(self, item_id, quantity, price, seller):
        receipt = self.send(self.market.functions.listForResale(item_id, quantity, price), seller)
        return self.market.events.ListingCreated().process_receipt(receipt, errors=DISCARD)[0]["args"]["listingId"]

    def transfer(self, sender, receiver, amount):
        return self.send(self.token.functions.transfer(receiver, amount), sender)

    def run_scenario(self):
        """Mints, claims, an epoch, primary sales, a resale, a cancel and a price change."""
        users = self.accounts[1:6]
        for user in users:
            self.claim(user, 300 * FIT)
        self.claim_batch([(user, 50 * FIT) for user in users])
        self.epoch([(user, (i + 1) * FIT) for i, user in enumerate(users)])
        for user in users:
            self.approve_market(user)
        shoes = self.list_item(1, 20 * FIT, 100)
        shirt = self.list_item(2, 5 * FIT, 10)
        self.buy(shoes, 2, users[0])
        self.buy(shoes, 1, users[1])
        self.buy(shirt, 3, users[2])
        resale = self.resell(1, 1, 30 * FIT, users[0])
        self.buy(resale, 1, users[3])
        leftover = self.resell(1, 1, 40 * FIT, users[0])
        self.send(self.market.functions.updatePrice(leftover, 35 * FIT), users[0])
        self.send(self.market.functions.cancelListing(leftover), users[0])
        self.send(self.market.functions.updatePrice(shirt, 6 * FIT), self.operator)
        self.transfer(users[4], users[0], 7 * FIT)
        self.send(self.token.functions.burn(FIT), users[1])
