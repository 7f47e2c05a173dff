"""Gas report: what each user action costs on our contracts, beside the same action on a bare
OpenZeppelin baseline compiled and deployed in the same run (contracts/baseline/).

    ape run gas_report --network ethereum:local:foundry [--out reports]

Writes <out>/gas.md and <out>/gas.json. Every number is the receipt's gasUsed of one transaction from
a first-time actor (cold storage on both sides), so ratios compare like with like.
"""

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import click
from ape import accounts, chain, project
from ape.cli import ConnectedProviderCommand
from ape.logging import logger
from eth_account import Account
from eth_utils import keccak

from backend.chain.permits import sign_permit
from backend.rewards.merkle import Entry, MerkleDistribution
from backend.rewards.vouchers import RewardVoucher, sign_voucher

FIT = 10**18
PRICE = 10 * FIT
CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
BATCH = 10


def permit(token, owner, spender, value):
    """An EIP-2612 permit (deadline, v, r, s) from a test account with a known key."""
    deadline = 2**40
    signature = sign_permit(owner.private_key, token_name=token.name(), token_address=token.address,
                            chain_id=chain.chain_id, owner=owner.address, spender=spender.address, value=value,
                            nonce=token.nonces(owner), deadline=deadline)
    return deadline, signature.v, signature.r, signature.s


class Bench:
    def __init__(self, admin):
        self.admin = admin
        self.attestor = Account.from_key(keccak(text="gas report attestor"))
        self.rows = []
        self._fresh = 0

    def fresh_address(self) -> str:
        self._fresh += 1
        return Account.from_key(keccak(text=f"gas report fresh {self._fresh}")).address

    def new_buyer(self):
        buyer = accounts.test_accounts.generate_test_account()
        chain.set_balance(buyer, 10**20)
        return buyer

    def record(self, action, gas, baseline_name, baseline_gas, note=""):
        ratio = gas / baseline_gas if baseline_gas else None
        self.rows.append({"action": action, "gas": gas, "baseline": baseline_name, "baseline_gas": baseline_gas,
                          "ratio": round(ratio, 3) if ratio else None, "note": note})
        logger.info(f"{action:<28} {gas:>8,} gas   baseline {baseline_gas:>8,} ({baseline_name})")

    def deploy(self):
        admin = self.admin
        self.token = admin.deploy(project.FitToken, admin, 10**9 * FIT)
        self.rewards = admin.deploy(project.ActivityRewards, self.token, admin, 10**6 * FIT, 86_400, 10**8 * FIT, 365)
        self.items = admin.deploy(project.FitItems, admin)
        self.market = admin.deploy(project.Marketplace, self.token, self.items, admin, admin, 250, 250)
        self.token.grantRole(self.token.MINTER_ROLE(), self.rewards, sender=admin)
        self.token.grantRole(self.token.MINTER_ROLE(), admin, sender=admin)
        self.rewards.grantRole(self.rewards.ATTESTOR_ROLE(), self.attestor.address, sender=admin)
        self.rewards.grantRole(self.rewards.OPERATOR_ROLE(), admin, sender=admin)
        self.items.grantRole(self.items.MINTER_ROLE(), self.market, sender=admin)
        self.items.grantRole(self.items.METADATA_ROLE(), self.market, sender=admin)

        self.base_token = admin.deploy(project.BaselineToken, admin)
        self.base_items = admin.deploy(project.BaselineItems, admin)
        self.shop = admin.deploy(project.BaselineShop, self.base_token, self.base_items)
        self.base_items.grantRole(self.base_items.MINTER_ROLE(), self.shop, sender=admin)

    def voucher(self, account, amount=FIT):
        self._fresh += 1
        voucher = RewardVoucher(account, amount, keccak(text=f"gas claim {self._fresh}"), 2**40)
        signature = sign_voucher(voucher, self.attestor.key, chain_id=chain.chain_id,
                                 verifying_contract=self.rewards.address)
        return voucher.as_tuple(), signature

    def fund(self, buyer, amount):
        self.token.mint(buyer, amount, sender=self.admin)
        self.base_token.mint(buyer, amount, sender=self.admin)

    def measure(self):
        admin, token, rewards, market, items = self.admin, self.token, self.rewards, self.market, self.items
        relayer = accounts.test_accounts[1]
        # Warm-up: the first mint of each token and the first claim of the epoch also create the supply
        # and epoch counters, a one-off cost no later action pays.
        self.base_token.mint(self.fresh_address(), FIT, sender=admin)
        rewards.claim(*self.voucher(self.fresh_address()), sender=relayer)
        base_mint = self.base_token.mint(self.fresh_address(), FIT, sender=admin).gas_used

        tx = rewards.claim(*self.voucher(self.fresh_address()), sender=relayer)
        self.record("claim (single voucher)", tx.gas_used, "ERC20 mint (AccessControl)", base_mint)

        batch = [self.voucher(self.fresh_address()) for _ in range(BATCH)]
        tx = rewards.claimBatch([v for v, _ in batch], [s for _, s in batch], sender=relayer)
        self.record(f"claim batch of {BATCH}, per voucher", tx.gas_used // BATCH, "ERC20 mint (AccessControl)",
                    base_mint, note=f"whole batch {tx.gas_used:,} gas")

        tree = MerkleDistribution([Entry(self.fresh_address(), FIT) for _ in range(1024)])
        rewards.postEpochRoot(rewards.currentEpoch(), tree.root, tree.total, sender=admin)
        entry = tree.entries[517]
        tx = rewards.claimEpoch(rewards.currentEpoch(), 517, entry.account, entry.amount, tree.proof(517),
                                sender=relayer)
        self.record("Merkle claim (1,024 leaves)", tx.gas_used, "ERC20 mint (AccessControl)", base_mint)

        tx = market.createListing(1, PRICE, 1_000, CID, admin, sender=admin)
        listing_id = tx.return_value
        base_list = self.shop.list(1, PRICE, 1_000, sender=admin).gas_used
        self.record("list (primary, sets CID)", tx.gas_used, "bare listing struct write", base_list)

        buyer = self.new_buyer()
        self.fund(buyer, 100 * FIT)
        token.approve(market, 2**256 - 1, sender=buyer)
        self.base_token.approve(self.shop, 2**256 - 1, sender=buyer)
        tx = market.purchase(listing_id, 1, PRICE, sender=buyer)
        base_buy = self.shop.buy(admin, 1, PRICE, sender=buyer).gas_used
        self.record("purchase (primary)", tx.gas_used, "ERC20 transferFrom + ERC1155 mint", base_buy)

        buyer = self.new_buyer()
        self.fund(buyer, 100 * FIT)
        deadline, v, r, s = permit(token, buyer, market, PRICE)
        tx = market.purchaseWithPermit(listing_id, 1, PRICE, PRICE, deadline, v, r, s, sender=buyer)
        deadline, v, r, s = permit(self.base_token, buyer, self.shop, PRICE)
        base_permit = self.shop.buyWithPermit(admin, 1, PRICE, deadline, v, r, s, sender=buyer).gas_used
        self.record("permit + purchase", tx.gas_used, "permit + transferFrom + ERC1155 mint", base_permit)

        seller = buyer
        items.setApprovalForAll(market, True, sender=seller)
        tx = market.listForResale(1, 1, 2 * PRICE, sender=seller)
        resale_id = tx.return_value
        self.record("list for resale (escrow)", tx.gas_used, "bare listing struct write", base_list)

        reseller_base = self.new_buyer()
        self.base_items.mint(reseller_base, 1, 1, sender=admin)
        self.base_items.setApprovalForAll(self.shop, True, sender=reseller_base)
        buyer = self.new_buyer()
        self.fund(buyer, 100 * FIT)
        token.approve(market, 2**256 - 1, sender=buyer)
        self.base_token.approve(self.shop, 2**256 - 1, sender=buyer)
        tx = market.purchase(resale_id, 1, 2 * PRICE, sender=buyer)
        base_resell = self.shop.resell(reseller_base, 1, 2 * PRICE, sender=buyer).gas_used
        self.record("resale purchase", tx.gas_used, "ERC20 transferFrom + ERC1155 transfer", base_resell)


def write_report(rows, out: Path):
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "chain_id": chain.chain_id,
        "client": chain.provider.web3.client_version,
        "python": platform.python_version(),
    }
    (out / "gas.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [
        "# Gas report",
        "",
        f"Generated {meta['generated_at']} on {meta['client']} (chain {meta['chain_id']}) by `make bench`.",
        "Each number is one transaction's gasUsed by a first-time actor; the baseline is the same action",
        "on bare OpenZeppelin contracts (contracts/baseline/) deployed in the same run.",
        "",
        "| action | fitmint gas | baseline | baseline gas | ratio | note |",
        "|---|---:|---|---:|---:|---|",
    ]
    for row in rows:
        lines.append(f"| {row['action']} | {row['gas']:,} | {row['baseline']} | {row['baseline_gas']:,} | "
                     f"{row['ratio']:.2f}x | {row['note']} |")
    (out / "gas.md").write_text("\n".join(lines) + "\n")


@click.command(cls=ConnectedProviderCommand)
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True)
def cli(out):
    """Measure the gas of every user action against bare OpenZeppelin baselines."""
    bench = Bench(accounts.test_accounts[0])
    logger.info("Deploying fitmint and baseline contracts")
    bench.deploy()
    bench.measure()
    write_report(bench.rows, out)
    logger.success(f"Gas report written to {out / 'gas.md'} and {out / 'gas.json'}")
