"""What the relayer asks the chain (through the chain gateway, addresses and ABIs from the deployment
manifest): whether a voucher was paid, whether a claimBatch or a purchase would go through (eth_call: the
revert decoded, e.g. RewardsClaimAlreadyPaid(claimId=0x..)), and the calldata the queue sends. It never
signs nor sends: the transaction queue does."""

import asyncio

from eth_utils import to_checksum_address

from fitmint.chain.gateway import ChainGateway
from fitmint.chain.intents import NONCE_KEY_SHIFT, PurchaseIntent
from fitmint.rewards.vouchers import RewardVoucher

REWARDS = "ActivityRewards"
MARKET = "Marketplace"


def voucher_tuple(voucher: dict) -> tuple:
    """A `vouchers` row (as the rewards service reads it) as the contract's RewardVoucher struct."""
    return RewardVoucher(voucher["account"], int(voucher["amount"]), bytes.fromhex(voucher["claim_id"][2:]),
                         int(voucher["day"]), int(voucher["deadline"])).as_tuple()


def signature_of(voucher: dict) -> bytes:
    return bytes.fromhex(voucher["signature"][2:])


class RelayerChain:
    def __init__(self, gateway: ChainGateway):
        self.gateway = gateway

    # --- claims -------------------------------------------------------------------------------------------
    @property
    def rewards(self) -> str:
        return self.gateway.address(REWARDS)

    async def paid(self, claim_ids: list[str]) -> set[str]:
        """Which of the claim ids ActivityRewards already paid (asked together, at one block)."""
        at = hex(await self.gateway.block_number())
        answers = await asyncio.gather(*(self.gateway.call(REWARDS, "isClaimPaid", bytes.fromhex(c[2:]), block=at)
                                         for c in claim_ids))
        return {claim_id for claim_id, paid in zip(claim_ids, answers, strict=True) if paid}

    async def simulate_batch(self, vouchers: list[dict]) -> None:
        """claimBatch as an eth_call: ChainReverted (its custom error) if one voucher would make it revert."""
        await self.gateway.call(REWARDS, "claimBatch", [voucher_tuple(v) for v in vouchers],
                                [signature_of(v) for v in vouchers])

    async def simulate_claim(self, voucher: dict) -> None:
        await self.gateway.call(REWARDS, "claim", voucher_tuple(voucher), signature_of(voucher))

    def batch_calldata(self, vouchers: list[dict]) -> bytes:
        _, data = self.gateway.abi(REWARDS).function(
            "claimBatch", ([voucher_tuple(v) for v in vouchers], [signature_of(v) for v in vouchers]))
        return data

    # --- purchases ----------------------------------------------------------------------------------------
    @property
    def market(self) -> str:
        return self.gateway.address(MARKET)

    async def current_nonce(self, buyer: str, nonce: int) -> int:
        """The buyer's current nonce of the key `nonce` names (the one an intent of that key must carry)."""
        key = nonce >> NONCE_KEY_SHIFT
        if key == 0:
            return await self.gateway.call(MARKET, "nonces", to_checksum_address(buyer))
        return await self.gateway.call(MARKET, "nonces", to_checksum_address(buyer), key)

    async def listing(self, listing_id: int) -> tuple:
        """(seller, unit price, item id, remaining, primary); ChainReverted MarketUnknownListing if none."""
        return await self.gateway.call(MARKET, "getListing", listing_id)

    def purchase_args(self, intent: PurchaseIntent, signature: bytes, permit: dict) -> tuple:
        return (intent.as_tuple(), signature, int(permit["value"]), int(permit["deadline"]), int(permit["v"]),
                bytes.fromhex(permit["r"][2:]), bytes.fromhex(permit["s"][2:]))

    async def simulate_purchase(self, args: tuple) -> int:
        """executePurchaseIntentWithPermit as an eth_call: the order id it would make, or ChainReverted."""
        return await self.gateway.call(MARKET, "executePurchaseIntentWithPermit", *args)

    def purchase_calldata(self, args: tuple) -> bytes:
        _, data = self.gateway.abi(MARKET).function("executePurchaseIntentWithPermit", args)
        return data
