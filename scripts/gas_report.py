"""Gas report: what each user action costs on our contracts, first-time and in steady state, beside the
same action on a bare OpenZeppelin baseline compiled and deployed in the same run (contracts/baseline/).

    ape run gas_report --network ethereum:local:foundry [--out reports]
    ape run gas_report --network ethereum:local:foundry --check reports/gas-snapshot.json
    ape run gas_report --network ethereum:local:foundry --out reports --update-snapshot reports/gas-snapshot.json

Every number is the receipt's gasUsed of one real transaction (per voucher for the batch). Each row is
measured twice, on fitmint and on its baseline alike:
- first-time: the action when the storage it writes does not exist yet (the actor's first, or the
  contract's first of its kind, as each row's scenario says): a one-off cost;
- steady state: the same action repeated once that storage exists (what users pay from then on).
The ratio compares steady states. Writes <out>/gas.md and <out>/gas.json.

`--check SNAPSHOT` (`make gas-check`, run by `make test`) measures the same scenarios, writes no report
unless `--out` is given, and fails when any steady-state figure grows more than 1% over the committed
snapshot, naming the row and both figures. `--update-snapshot SNAPSHOT` refreshes the snapshot on purpose.
"""

import json
import platform
import shutil
from datetime import UTC, datetime
from pathlib import Path

import click
from ape import accounts, chain, project
from ape.cli import ConnectedProviderCommand
from ape.logging import logger
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from fitmint.chain.intents import PurchaseIntent, sign_intent
from fitmint.chain.permits import sign_permit
from fitmint.rewards.merkle import Entry, MerkleDistribution
from fitmint.rewards.vouchers import RewardVoucher, sign_voucher
from fitmint.units import FIT

# ape-solidity unpacks OpenZeppelin (507 files) into contracts/.cache when it compiles, and Ape lists a
# project's sources with a 500-file cap: with that folder present, contracts/baseline is never reached
# and `project.BaselineToken` does not exist. Ape recreates the folder whenever it compiles again.
shutil.rmtree(Path(__file__).resolve().parent.parent / "contracts" / ".cache", ignore_errors=True)

DAY = 86_400
PRICE = 10 * FIT
CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
BATCHES = (10, 50)  # what the relayer's claimBatch carries (backend/app/relayer: up to 50 vouchers a batch)
TOLERANCE_PERCENT = 1  # a steady-state figure may grow by up to 1% over the snapshot
REFRESH = "ape run gas_report --network ethereum:local:foundry --out reports --update-snapshot {snapshot}"

# Issue 22's targets (steady state unless the row's column says otherwise), the anchors its author measured, and
# for a target not met, what stands in the way (measured on prototypes; README "Benchmarks").
TARGETS = (
    ("claim (single voucher)", "steady_state", 63_000, "minimal EIP-712 voucher contract 63,139",
     "minting is a call into FitToken (17,496 gas inside it, ~20,800 with the call: its MINTER_ROLE read, its "
     "own pause flag, balance, total supply, Transfer event). A prototype with the voucher logic inside the "
     "ERC-20 (one contract, one pause flag, no call) measured 64,640, with Solady-style bookkeeping 64,035; the "
     "last ~1,000 would have to come from per-account claim bits in the daily-usage slot (-5,000), which ties "
     "claim ids to accounts"),
    ("claim (single voucher)", "first_time", 114_000, "minimal voucher 114,439; thirdweb mintWithSignature 221,724",
     ""),
    ("claim batch of 10, per voucher", "steady_state", 35_000, "-", ""),
    ("FIT transfer", "steady_state", 34_275, "OpenZeppelin ERC-20 34,275; Solady 33,815",
     "FitToken's pause flag is a cold storage read on every transfer (2,100 gas) that neither anchor has. "
     "It stays: the guardian's pause stops every balance change during an incident (a leaked attestor or "
     "minter key), and a flag no transfer reads cannot do that"),
    ("ERC-1155 mint", "first_time", 50_236, "OpenZeppelin 50,236; Solady 49,289",
     "FitItems checks MINTER_ROLE (a cold storage read, 2,100 gas) on every mint; the anchor checks no caller. "
     "Against OpenZeppelin with the same role check (the baseline column) the difference is ~600"),
    ("purchase (primary)", "steady_state", 95_000, "OpenZeppelin transferFrom + ERC-1155 mint ~89,000",
     ""),
    ("permit + purchase", "steady_state", 130_000, "-", ""),
)


def permit(token, owner, spender, value):
    """An EIP-2612 permit (deadline, v, r, s) from a test account with a known key."""
    deadline = 2**40
    signature = sign_permit(owner.private_key, token_name=token.name(), token_address=token.address,
                            chain_id=chain.chain_id, owner=owner.address, spender=spender.address, value=value,
                            nonce=token.nonces(owner), deadline=deadline)
    return deadline, signature.v, signature.r, signature.s


def today() -> int:
    """The UTC day of the next block: the day a voucher signed now names."""
    return chain.pending_timestamp // DAY


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

    def record(self, action, baseline, first, steady, scenario_first, scenario_steady, note=""):
        """`first` and `steady` are (fitmint gas, baseline gas) pairs."""
        ratio = round(steady[0] / steady[1], 3)
        self.rows.append({
            "action": action, "baseline": baseline,
            "first_time": {"gas": first[0], "baseline_gas": first[1], "scenario": scenario_first},
            "steady_state": {"gas": steady[0], "baseline_gas": steady[1], "scenario": scenario_steady},
            "ratio_steady_state": ratio, "note": note,
        })
        logger.info(f"{action:<32} first {first[0]:>8,} steady {steady[0]:>8,} gas   baseline first {first[1]:>8,} "
                    f"steady {steady[1]:>8,} ({baseline})")

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
        self.anchor = admin.deploy(project.BaselineVoucherToken, self.attestor.address)

    def voucher(self, account, amount=FIT, day=None):
        self._fresh += 1
        # Claim ids issued in sequence, as the API does: 256 consecutive ids share one word of the bitmap.
        voucher = RewardVoucher(account, amount, self._fresh.to_bytes(32, "big"),
                                today() if day is None else day, 2**40)
        signature = sign_voucher(voucher, self.attestor.key, chain_id=chain.chain_id,
                                 verifying_contract=self.rewards.address)
        return voucher.as_tuple(), signature

    def anchor_claim(self, account, sender, amount=FIT) -> int:
        """Gas of one claim on the minimal voucher contract (contracts/baseline/BaselineVoucherToken.sol)."""
        self._fresh += 1
        message = {"account": account, "amount": amount, "claimId": keccak(text=f"anchor claim {self._fresh}"),
                   "deadline": 2**40}
        signed = self.attestor.sign_message(encode_typed_data(
            {"name": "Anchor", "version": "1", "chainId": chain.chain_id, "verifyingContract": self.anchor.address},
            {"Voucher": [{"name": "account", "type": "address"}, {"name": "amount", "type": "uint256"},
                         {"name": "claimId", "type": "bytes32"}, {"name": "deadline", "type": "uint256"}]},
            message))
        return self.anchor.claim(account, amount, message["claimId"], message["deadline"], signed.signature,
                                 sender=sender).gas_used

    def fund(self, buyer, amount):
        self.token.mint(buyer, amount, sender=self.admin)
        self.base_token.mint(buyer, amount, sender=self.admin)

    def measure(self):
        relayer = accounts.test_accounts[1]
        self.measure_tokens()
        self.measure_claims(relayer)
        self.measure_merkle(relayer)
        self.measure_market(relayer)

    def measure_tokens(self):
        """A FIT transfer and an admin's ERC-1155 mint, beside the same on bare OpenZeppelin contracts."""
        admin = self.admin
        holder = self.new_buyer()
        self.fund(holder, 100 * FIT)
        existing = self.fresh_address()
        self.fund(existing, FIT)

        def transfers(token):
            to_new = token.transfer(self.fresh_address(), FIT, sender=holder).gas_used
            return to_new, token.transfer(existing, FIT, sender=holder).gas_used

        first, steady = transfers(self.token)
        base_first, base_steady = transfers(self.base_token)
        self.record(
            "FIT transfer", "OpenZeppelin ERC-20 transfer", (first, base_first), (steady, base_steady),
            "to an account holding none yet (its balance is new)", "to an account already holding some",
            note="FIT checks its pause flag on every transfer (one cold storage read, 2,100 gas)",
        )

        def mints(mint):
            account = self.fresh_address()
            return mint(account), mint(account)

        first, steady = mints(lambda to: self.items.mint(to, 7, 1, b"", sender=admin).gas_used)
        base_first, base_steady = mints(lambda to: self.base_items.mint(to, 7, 1, sender=admin).gas_used)
        self.record(
            "ERC-1155 mint", "OpenZeppelin ERC-1155 mint (AccessControl)", (first, base_first),
            (steady, base_steady), "one item to an account holding none of it (its balance is new)",
            "another of the same item to the same account",
        )

    def measure_claims(self, relayer):
        rewards = self.rewards

        def claim(account, **voucher):
            return rewards.claim(*self.voucher(account, **voucher), sender=relayer).gas_used

        # Contract-wide one-offs no member pays again: the token's first mint (its total supply) and the
        # epoch's first claim (its emission counter, once per epoch for everyone together).
        self.anchor_claim(self.fresh_address(), relayer)
        claim(self.fresh_address())
        member, base_member = self.fresh_address(), self.fresh_address()
        base_first, base_steady = self.anchor_claim(base_member, relayer), self.anchor_claim(base_member, relayer)
        first, steady = claim(member), claim(member)

        batches = {}  # size -> [first-time, steady-state] gas of the whole batch
        for size in BATCHES:
            members = [self.fresh_address() for _ in range(size)]
            for _ in range(2):
                signed = [self.voucher(account) for account in members]
                batches.setdefault(size, []).append(
                    rewards.claimBatch([v for v, _ in signed], [s for _, s in signed], sender=relayer).gas_used)

        # The daily-usage slot's other paths: the member's first voucher of the next day (the slot moves on
        # a day), then one naming yesterday (charged beside it).
        day = today()
        chain.pending_timestamp = (day + 1) * DAY + 3_600
        claim(self.fresh_address())  # the new epoch's first claim: its emission counter, as above
        next_day, yesterday = claim(member), claim(member, day=day)

        anchor = "minimal EIP-712 voucher contract (OpenZeppelin ERC-20, a slot per claim id)"
        self.record(
            "claim (single voucher)", anchor, (first, base_first), (steady, base_steady),
            "a member's first voucher (its FIT balance and daily-usage slot are new); anchor: a claim to a "
            "new holder",
            "the same member's second voucher the same day (claim ids are issued in sequence: 256 share a word "
            "of the paid-ids bitmap, and one claim in 256 starts a word, +17,100 gas); anchor: a second claim "
            "to the same holder",
            note=f"the member's first voucher the next day: {next_day:,}; then one naming the day before: "
                 f"{yesterday:,}",
        )
        for size, (batch_first, batch_steady) in batches.items():
            # A relayed claim: the relayer's claimBatch (the member sends nothing), per voucher.
            per_first, per_steady = batch_first // size, batch_steady // size
            self.record(
                f"claim batch of {size}, per voucher", anchor,
                (per_first, base_first), (per_steady, base_steady),
                f"{size} members' first vouchers in one batch (a relayed claim); anchor: a single claim, as above",
                f"the same {size} members' second vouchers the same day, in one batch",
                note=f"whole batch {batch_first:,} first-time, {batch_steady:,} steady state; per relayed voucher "
                     f"{per_steady / steady - 1:+.0%} against the member's self-sent single claim ({steady:,})",
            )

    def measure_merkle(self, relayer):
        admin, rewards = self.admin, self.rewards
        holder = self.fresh_address()
        self.token.mint(holder, FIT, sender=admin)
        entries = [Entry(self.fresh_address(), FIT) for _ in range(1024)]
        entries[519] = Entry(holder, FIT)  # leaves 516-519 share one 256-leaf word of the claimed bitmap
        tree = MerkleDistribution(entries)
        epoch = rewards.currentEpoch()
        rewards.postEpochRoot(epoch, tree.root, tree.total, sender=admin)

        def claim(index):
            entry = tree.entries[index]
            return rewards.claimEpoch(epoch, index, entry.account, entry.amount, tree.proof(index),
                                      sender=relayer).gas_used

        word_first = claim(516)  # starts its bitmap word, as one leaf in 256 does
        first, steady = claim(517), claim(519)
        base_holder = self.fresh_address()
        base_first = self.base_token.mint(base_holder, FIT, sender=admin).gas_used
        base_steady = self.base_token.mint(base_holder, FIT, sender=admin).gas_used
        self.record(
            "Merkle claim (1,024 leaves)", "ERC20 mint (AccessControl)", (first, base_first), (steady, base_steady),
            "a leaf of an account with no FIT yet (its bitmap word already started); baseline: a mint to a new "
            "holder",
            "a leaf of an account holding FIT, same bitmap word; baseline: a second mint to the same holder",
            note=f"the first leaf claimed in a 256-leaf bitmap word (a new account too): {word_first:,}",
        )

    def measure_market(self, relayer):
        admin, token, market, items, shop = self.admin, self.token, self.market, self.items, self.shop

        # Listings: the marketplace's (and shop's) first ever, then another one.
        tx = market.createListing(1, PRICE, 1_000, CID, admin, sender=admin)
        listing_id, list_first = tx.return_value, tx.gas_used
        list_steady = market.createListing(2, PRICE, 1_000, CID, admin, sender=admin).gas_used
        base_list_first = shop.list(1, PRICE, 1_000, sender=admin).gas_used
        base_list_steady = shop.list(2, PRICE, 1_000, sender=admin).gas_used
        self.record(
            "list (primary, sets CID)", "bare listing struct write", (list_first, base_list_first),
            (list_steady, base_list_steady),
            "the marketplace's first listing (its listing counter is new)",
            "a later listing of another new item (every listing writes its own slots and its item's CID)",
        )

        # Primary purchases: the first order ever, then the same buyer again on the same listing.
        buyer = self.new_buyer()
        self.fund(buyer, 100 * FIT)
        token.approve(market, 2**256 - 1, sender=buyer)
        self.base_token.approve(shop, 2**256 - 1, sender=buyer)

        def buy():
            return market.purchase(listing_id, 1, PRICE, sender=buyer).gas_used

        def base_buy():
            return shop.buy(admin, 1, PRICE, sender=buyer).gas_used

        first, steady = buy(), buy()
        base_first, base_steady = base_buy(), base_buy()
        newcomer = self.new_buyer()
        self.fund(newcomer, 100 * FIT)
        token.approve(market, 2**256 - 1, sender=newcomer)
        new_buyer = market.purchase(listing_id, 1, PRICE, sender=newcomer).gas_used
        self.record(
            "purchase (primary)", "ERC20 transferFrom + ERC1155 mint", (first, base_first), (steady, base_steady),
            "the first order ever: order counter, seller's and treasury's FIT balances and the buyer's item "
            "balance are new",
            "the same buyer buys the same listing again",
            note=f"a new buyer's first purchase once orders exist (its item balance is new): {new_buyer:,}",
        )
        seller = buyer
        for _ in range(2):
            buy()  # the reseller below holds 4 items: its listings never empty its balance

        # Permit purchases: a buyer's first (its permit nonce and item balance are new), then its second.
        buyer = self.new_buyer()
        self.fund(buyer, 100 * FIT)

        def buy_with_permit():
            deadline, v, r, s = permit(token, buyer, market, PRICE)
            return market.purchaseWithPermit(listing_id, 1, PRICE, PRICE, deadline, v, r, s, sender=buyer).gas_used

        def base_buy_with_permit():
            deadline, v, r, s = permit(self.base_token, buyer, shop, PRICE)
            return shop.buyWithPermit(admin, 1, PRICE, deadline, v, r, s, sender=buyer).gas_used

        first, steady = buy_with_permit(), buy_with_permit()
        base_first, base_steady = base_buy_with_permit(), base_buy_with_permit()
        self.record(
            "permit + purchase", "permit + transferFrom + ERC1155 mint", (first, base_first), (steady, base_steady),
            "a buyer's first permit purchase (its permit nonce and item balance are new; orders exist)",
            "the same buyer's second permit purchase of the same listing",
        )

        # Relayed purchases (gasless for the buyer): the buyer signs a purchase intent and a permit, the
        # relayer submits both. A buyer's first (its marketplace nonce, permit nonce and item balance are
        # new), then its second. The baseline has no intents: its figures are the buyer's own permit buy.
        buyer = self.new_buyer()
        self.fund(buyer, 100 * FIT)

        def relayed_buy():
            intent = PurchaseIntent(buyer.address, listing_id, 1, PRICE, market.nonces(buyer), 2**40)
            signature = sign_intent(intent, buyer.private_key, chain_id=chain.chain_id,
                                    verifying_contract=market.address)
            deadline, v, r, s = permit(token, buyer, market, PRICE)
            return market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, PRICE, deadline, v, r, s,
                                                          sender=relayer).gas_used

        first, steady = relayed_buy(), relayed_buy()
        base_first, base_steady = base_buy_with_permit(), base_buy_with_permit()
        self.record(
            "relayed purchase (intent + permit)", "permit + transferFrom + ERC1155 mint, sent by the buyer",
            (first, base_first), (steady, base_steady),
            "a buyer's first relayed purchase (its marketplace nonce, permit nonce and item balance are new; "
            "orders exist)",
            "the same buyer's second relayed purchase of the same listing",
            note="paid by the relayer; over a permit purchase: the intent's signature check, its nonce and "
                 "calldata",
        )

        # Resale listings: the first escrow of an item (the marketplace's balance of it is new), then the
        # same seller escrows another unit. The baseline keeps no escrow: both its figures are a listing.
        items.setApprovalForAll(market, True, sender=seller)
        tx = market.listForResale(1, 1, 2 * PRICE, sender=seller)
        resale_ids, first = [tx.return_value], tx.gas_used
        tx = market.listForResale(1, 1, 2 * PRICE, sender=seller)
        resale_ids.append(tx.return_value)
        steady = tx.gas_used
        base_first, base_steady = (shop.list(1, PRICE, 1, sender=admin).gas_used for _ in range(2))
        self.record(
            "list for resale (escrow)", "bare listing struct write", (first, base_first), (steady, base_steady),
            "a seller's first resale listing of an item, the first in escrow (the marketplace's balance of "
            "it is new); baseline: a listing (it keeps no escrow)",
            "the same seller lists another unit of the same item; baseline: another listing",
        )

        # Resale purchases: a new buyer's first (its item balance is new), then its second from the same
        # seller (another one-unit listing of the same item, so both take a listing's last unit).
        reseller_base = self.new_buyer()
        self.base_items.mint(reseller_base, 1, 4, sender=admin)
        self.base_items.setApprovalForAll(shop, True, sender=reseller_base)
        buyer = self.new_buyer()
        self.fund(buyer, 100 * FIT)
        token.approve(market, 2**256 - 1, sender=buyer)
        self.base_token.approve(shop, 2**256 - 1, sender=buyer)
        first, steady = (market.purchase(resale_id, 1, 2 * PRICE, sender=buyer).gas_used for resale_id in resale_ids)
        base_first, base_steady = (shop.resell(reseller_base, 1, 2 * PRICE, sender=buyer).gas_used for _ in range(2))
        self.record(
            "resale purchase", "ERC20 transferFrom + ERC1155 transfer", (first, base_first), (steady, base_steady),
            "a buyer's first resale purchase (its item balance is new)",
            "the same buyer's second, from the same seller and item",
        )


# ---------------------------------------------------------------------------------------------------
# The report and the snapshot check
# ---------------------------------------------------------------------------------------------------

def steady_state(rows) -> dict:
    """The figures the snapshot keeps: each row's steady state, on fitmint and on its baseline."""
    return {row["action"]: {"fitmint": row["steady_state"]["gas"], "baseline": row["steady_state"]["baseline_gas"]}
            for row in rows}


def compare(snapshot: dict, rows, tolerance_percent: int = TOLERANCE_PERCENT) -> tuple[list[str], list[str]]:
    """(problems, lines): a problem for each steady-state figure more than `tolerance_percent` above the
    snapshot's, and for each row or figure only one side has; a line for every figure compared."""
    problems, lines = [], []
    old, new = snapshot["steady_state"], steady_state(rows)
    for action in sorted(old.keys() - new.keys()):
        problems.append(f"{action}: in the snapshot but no longer measured")
    for action in sorted(new.keys() - old.keys()):
        problems.append(f"{action}: measured but not in the snapshot")
    for action in (action for action in new if action in old):
        for side in ("fitmint", "baseline"):
            was, now = old[action].get(side), new[action][side]
            if was is None:
                problems.append(f"{action}, {side}: measured but not in the snapshot")
                continue
            change = f"{was:,} -> {now:,} gas ({(now - was) / was:+.2%})"
            lines.append(f"{action}, {side}: {change}" + (" (lower: refresh the snapshot to keep the gain)"
                                                          if now < was else ""))
            if 100 * now > (100 + tolerance_percent) * was:
                problems.append(f"{action}, {side}: {change}, more than {tolerance_percent}% above the snapshot")
    return problems, lines


def check(snapshot_path: Path, rows, tolerance_percent: int = TOLERANCE_PERCENT) -> list[str]:
    """Raises click.ClickException naming every figure over the snapshot; returns the compared lines."""
    problems, lines = compare(json.loads(snapshot_path.read_text()), rows, tolerance_percent)
    if problems:
        raise click.ClickException(
            f"steady-state gas over the snapshot {snapshot_path}:\n  " + "\n  ".join(problems)
            + "\nIf the change is intended, refresh the snapshot (and the report) and commit both:\n  "
            + REFRESH.format(snapshot=snapshot_path))
    return lines


def write_snapshot(rows, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "about": "Steady-state gas of each reports/gas.md row (fitmint and its baseline). `make gas-check` "
                 f"(run by `make test`) fails when a figure grows more than {TOLERANCE_PERCENT}% over it. Refresh "
                 "on purpose with: " + REFRESH.format(snapshot=path),
        "steady_state": steady_state(rows),
    }, indent=2) + "\n")


def write_report(rows, out: Path):
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "chain_id": chain.chain_id,
        "client": chain.provider.web3.client_version,
        "python": platform.python_version(),
    }
    (out / "gas.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [
        "# Gas report",
        "",
        f"Generated {meta['generated_at']} on {meta['client']} (chain {meta['chain_id']}) by `make bench`.",
        "Each number is one transaction's gasUsed (per voucher for the batch). **First-time**: the action",
        "when the storage it writes does not exist yet (a one-off); **steady state**: the same action",
        "repeated once it does (what users pay from then on). The baseline is the same action on bare",
        "OpenZeppelin contracts (contracts/baseline/) deployed in the same run; the ratio compares steady",
        "states. `make test` fails when a steady-state figure grows more than 1% over",
        "`reports/gas-snapshot.json`.",
        "",
        "| action | first-time | steady state | baseline | baseline first-time | baseline steady state | "
        "ratio (steady) |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        first, steady = row["first_time"], row["steady_state"]
        lines.append(f"| {row['action']} | {first['gas']:,} | {steady['gas']:,} | {row['baseline']} | "
                     f"{first['baseline_gas']:,} | {steady['baseline_gas']:,} | {row['ratio_steady_state']:.2f}x |")
    lines += ["", "## Scenarios", ""]
    for row in rows:
        lines.append(f"- **{row['action']}**. First-time: {row['first_time']['scenario']}. Steady state: "
                     f"{row['steady_state']['scenario']}." + (f" Also: {row['note']}." if row["note"] else ""))
    lines += ["", "Not in either column: contract-wide one-offs no user pays twice (the token's first mint; each",
              "epoch's first claim, which creates that epoch's emission counter)."]
    lines += target_lines(rows)
    (out / "gas.md").write_text("\n".join(lines) + "\n")


def target_lines(rows) -> list[str]:
    """Issue 22's targets beside the figures of this run: met or not, and for each miss what stands in the way."""
    measured = {row["action"]: row for row in rows}
    lines = ["", "## Against issue 22's targets", "",
             "| action | measured | target | anchor (issue 22) | |", "|---|---:|---:|---|---|"]
    misses = []
    for action, column, target, anchor, obstacle in TARGETS:
        gas = measured[action][column]["gas"]
        met = gas <= target
        label = f"{action} ({column.replace('_', ' ')})"
        lines.append(f"| {label} | {gas:,} | <= {target:,} | {anchor} | {'met' if met else 'not met'} |")
        if not met:
            misses.append(f"- **{label}**, {gas - target:,} over: "
                          f"{obstacle or 'it met its target when this analysis was written, so it has regressed'}.")
    return lines + ([""] + misses if misses else []) + [
        "", "Issue 22's own figures for a purchase and a permit purchase (110,210 and 143,946) were a buyer's first "
        "purchase of the item, which creates the buyer's item balance (a first-ever write): today those are the "
        "purchase row's \"new buyer\" figure (its note) and the permit + purchase row's first-time column."]


@click.command(cls=ConnectedProviderCommand)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="where gas.md and gas.json go [default: reports, or nowhere with --check]")
@click.option("--check", "check_path", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="fail when a steady-state figure is more than 1% above this snapshot")
@click.option("--update-snapshot", "snapshot_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="write the steady-state figures to this snapshot (a deliberate refresh)")
def cli(out, check_path, snapshot_path):
    """Measure the gas of every user action, first-time and in steady state, against bare OpenZeppelin baselines."""
    if out is None and check_path is None:
        out = Path("reports")
    bench = Bench(accounts.test_accounts[0])
    logger.info("Deploying fitmint and baseline contracts")
    bench.deploy()
    bench.measure()
    if out is not None:
        write_report(bench.rows, out)
        logger.success(f"Gas report written to {out / 'gas.md'} and {out / 'gas.json'}")
    if snapshot_path is not None:
        write_snapshot(bench.rows, snapshot_path)
        logger.success(f"Steady-state gas snapshot written to {snapshot_path}")
    if check_path is not None:
        lines = check(check_path, bench.rows)
        click.echo("\n".join(lines))
        click.echo(f"gas check passed: every steady-state figure is within {TOLERANCE_PERCENT}% of {check_path}")
