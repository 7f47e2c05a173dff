"""A purchase quote: what buying `quantity` of a listing costs now, read from the chain at one block, the
EIP-2612 permit the buyer's wallet signs for that total, and the purchaseWithPermit call it then sends; or,
for a wallet without ETH, the EIP-712 PurchaseIntent to sign beside the permit and hand to the relayer
(POST /relay/purchases). The server holds no member key: it only says what to sign and what to send."""

import asyncio
from dataclasses import dataclass

from eth_utils import to_checksum_address

from fitmint.chain.errors import ChainReverted
from fitmint.chain.gateway import ChainGateway
from fitmint.chain.intents import PurchaseIntent, typed_data
from fitmint.chain.permits import permit_typed_data

MARKET = "Marketplace"
BPS = 10_000


class QuoteRefused(Exception):
    """The listing cannot be bought as asked (closed, not enough left, paused): 409 with this reason."""


class UnknownListing(Exception):
    """No listing has this id on the chain: 404."""


@dataclass(frozen=True)
class QuoteRequest:
    listing_id: int
    buyer: str
    quantity: int
    deadline: int


async def quote(gateway: ChainGateway, request: QuoteRequest, *, token_name: str) -> dict:
    """`token_name` is the token's EIP-712 domain name (GET /chain's, read once per process)."""
    block = await gateway.block_number()
    at = hex(block)
    buyer = to_checksum_address(request.buyer)
    # Independent reads at one block, asked together: a quote is one round trip after the block number.
    try:
        (seller, unit_price, item_id, remaining, primary), paused, (_, fee_bps, burn_bps), nonce, balance, \
            intent_nonce = await asyncio.gather(
                gateway.call(MARKET, "getListing", request.listing_id, block=at),
                gateway.call(MARKET, "paused", block=at), gateway.call(MARKET, "fees", block=at),
                gateway.call("FitToken", "nonces", buyer, block=at),
                gateway.call("FitToken", "balanceOf", buyer, block=at),
                gateway.call(MARKET, "nonces", buyer, block=at))
    except ChainReverted as exc:
        if exc.name == "MarketUnknownListing":
            raise UnknownListing(f"no listing {request.listing_id} on the chain") from exc
        raise
    if paused:
        raise QuoteRefused("the marketplace is paused: purchases are refused until it is unpaused")
    if remaining == 0:
        raise QuoteRefused(f"listing {request.listing_id} is closed (sold out or cancelled)")
    if request.quantity > remaining:
        raise QuoteRefused(f"listing {request.listing_id} has {remaining} left; {request.quantity} were asked for")
    total = unit_price * request.quantity
    fee, burned = total * fee_bps // BPS, total * burn_bps // BPS  # as Marketplace._takeOrder rounds them
    market = gateway.address(MARKET)
    permit = permit_typed_data(token_name=token_name, token_address=gateway.address("FitToken"),
                               chain_id=gateway.manifest.chain_id, owner=buyer, spender=market, value=total,
                               nonce=nonce, deadline=request.deadline)
    permit["message"] = _decimal(permit["message"])
    # The gasless path: the same purchase as an intent (key 0's nonce, the quoted price as the limit).
    intent = typed_data(PurchaseIntent(buyer, request.listing_id, request.quantity, unit_price, intent_nonce,
                                       request.deadline), chain_id=gateway.manifest.chain_id,
                        verifying_contract=market)
    intent["message"] = _decimal(intent["message"])
    return {
        "listing_id": request.listing_id, "buyer": buyer, "item_id": str(item_id), "seller": seller.lower(),
        "kind": "primary" if primary else "resale", "quantity": str(request.quantity),
        "unit_price": str(unit_price), "total": str(total), "fee": str(fee), "burned": str(burned),
        "seller_receives": str(total - fee - burned), "buyer_balance": str(balance),
        "sufficient_balance": balance >= total, "deadline": request.deadline, "block": block, "permit": permit,
        "intent": intent,
        "call": {"to": market, "function": "purchaseWithPermit",
                 "abi": gateway.abi(MARKET).entry("purchaseWithPermit"),
                 # maxUnitPrice is the quoted price: a raise before the purchase is mined reverts with
                 # MarketPriceAboveLimit instead of charging more than the buyer signed for.
                 "args": [str(request.listing_id), str(request.quantity), str(unit_price), str(total),
                          str(request.deadline)],
                 "append": ["v", "r", "s"]},
    }


def _decimal(message: dict) -> dict:
    """uint256 values as decimal strings in JSON (JavaScript numbers lose precision above 2**53)."""
    return {key: str(value) if isinstance(value, int) else value for key, value in message.items()}
