"""Gasless purchases: the buyer signs an EIP-712 PurchaseIntent and an EIP-2612 permit; the platform checks
them and has the transaction queue send Marketplace.executePurchaseIntentWithPermit (the contract pays from
and delivers to the signer only, once per intent nonce, until its deadline: the relayer pays the gas only).

Checked before anything is spent, each with a clear answer: the buyer is one of the member's wallets (403),
the signature recovers to the buyer (422: tampered or signed by another key), the intent and the permit are
not past their deadlines (422), the intent's nonce is the buyer's current one of its key (409: replayed or
cancelled), the listing exists (404), is open with enough left (409), at a price within the intent's
maxUnitPrice (409), and the whole call goes through as an eth_call (409 with the decoded revert: a balance
or a permit short of the total). Idempotent per (buyer, intent nonce): the same intent again returns the
same relay; another intent with that nonce is refused (409). A new relay is counted against the daily
sponsorship and submitted to the queue in one transaction.
"""

import json
from dataclasses import dataclass

from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import to_checksum_address

from backend.app.core.config import Settings
from backend.app.core.db import from_jsonb
from backend.app.relayer import sponsorship, store
from backend.app.relayer.chain import RelayerChain
from fitmint.chain.errors import ChainReverted
from fitmint.chain.intents import PurchaseIntent, recover_signer
from fitmint.txqueue.submit import TransactionRequest, submit

REQUESTER = "relayer"


class PurchaseRefused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class SignedPurchase:
    intent: PurchaseIntent
    signature: bytes
    permit: dict  # value, deadline (decimal strings), v, r, s (0x-hex 32 bytes)

    def as_json(self) -> dict:
        i = self.intent
        return {"intent": {"buyer": i.buyer, "listing_id": str(i.listing_id), "quantity": str(i.quantity),
                           "max_unit_price": str(i.max_unit_price), "nonce": str(i.nonce), "deadline": str(i.deadline)},
                "signature": "0x" + self.signature.hex(),
                "permit": {"value": str(self.permit["value"]), "deadline": str(self.permit["deadline"]),
                           "v": int(self.permit["v"]), "r": self.permit["r"].lower(), "s": self.permit["s"].lower()}}


async def request_purchase(pool, chain: RelayerChain, settings: Settings, *, tenant_id: str, user_id: str,
                           wallets: list[str], signed: SignedPurchase) -> tuple[dict, bool]:
    intent = signed.intent
    buyer = intent.buyer.lower()
    if buyer not in wallets:
        raise PurchaseRefused(403, "the intent's buyer must be one of your linked wallets")
    existing = await pool.fetchrow("SELECT id, intent FROM relays WHERE buyer = $1 AND intent_nonce = $2",
                                   buyer, intent.nonce)
    if existing is not None:
        return _same_or_refused(await store.by_id(pool, existing["id"]), existing["intent"], signed), False
    _check_signed(signed, chain, settings)
    await _check_chain(signed, chain)
    args = chain.purchase_args(intent, signed.signature, signed.permit)
    payload = signed.as_json()
    async with pool.acquire() as connection, connection.transaction():
        relay_id = await connection.fetchval(
            "INSERT INTO relays (kind, tenant_id, user_id, buyer, intent_nonce, intent) "
            "VALUES ('purchase', $1::uuid, $2::uuid, $3, $4, $5::jsonb) ON CONFLICT (buyer, intent_nonce) DO NOTHING "
            "RETURNING id", tenant_id, user_id, buyer, intent.nonce, _json(payload))
        if relay_id is None:  # the same intent asked twice at once: the other request made the relay
            raced = await connection.fetchrow("SELECT id, intent FROM relays WHERE buyer = $1 AND intent_nonce = $2",
                                              buyer, intent.nonce)
            relay = await store.by_id(connection, raced["id"])
            return _same_or_refused(relay, raced["intent"], signed), False
        await sponsorship.charge(connection, sponsorship.Limits.of(settings), day=settings.now().date(),
                                 tenant_id=tenant_id, user_id=user_id)
        batch_id = await connection.fetchval("SELECT nextval(pg_get_serial_sequence('relay_batches', 'id'))")
        request_id = await submit(connection, TransactionRequest(
            f"relayer:purchase:{settings.chain_id}:{buyer}:{intent.nonce}", REQUESTER, chain.market,
            chain.purchase_calldata(args), tenant_id=tenant_id))
        await connection.execute("INSERT INTO relay_batches (id, kind, request_id, size) "
                                 "VALUES ($1, 'purchase', $2, 1)", batch_id, request_id)
        await connection.execute("UPDATE relays SET state = 'batched', batch_id = $1 WHERE id = $2", batch_id, relay_id)
        relay = await store.by_id(connection, relay_id)
    return store.public_state(relay), True


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _same_or_refused(relay, stored, signed: SignedPurchase) -> dict:
    if from_jsonb(stored) != signed.as_json():
        raise PurchaseRefused(409, f"intent nonce {signed.intent.nonce} of {signed.intent.buyer.lower()} was already "
                                   f"relayed with another intent (relay {relay['id']})")
    return store.public_state(relay)


def _check_signed(signed: SignedPurchase, chain: RelayerChain, settings: Settings) -> None:
    intent = signed.intent
    try:
        signer = recover_signer(intent, signed.signature, chain_id=settings.chain_id, verifying_contract=chain.market)
    except (ValueError, BadSignature, ValidationError) as exc:  # bytes no key signed
        raise PurchaseRefused(422, f"the intent's signature does not recover: {exc}") from exc
    if signer.lower() != intent.buyer.lower():
        raise PurchaseRefused(422, f"the intent is not signed by its buyer {to_checksum_address(intent.buyer)} "
                                   f"(it recovers to {signer}): tampered, or signed by another key")
    now = int(settings.now().timestamp())
    if intent.deadline <= now:
        raise PurchaseRefused(422, f"the intent expired at {intent.deadline} (unix time; now {now})")
    if int(signed.permit["deadline"]) <= now:
        raise PurchaseRefused(422, f"the permit expired at {signed.permit['deadline']} (unix time; now {now})")


async def _check_chain(signed: SignedPurchase, chain: RelayerChain) -> None:
    intent = signed.intent
    current = await chain.current_nonce(intent.buyer, intent.nonce)
    if current != intent.nonce:
        raise PurchaseRefused(409, f"intent nonce {intent.nonce} is not the buyer's current one ({current}): "
                                   "already used (a replay) or cancelled")
    try:
        _, unit_price, _, remaining, _ = await chain.listing(intent.listing_id)
    except ChainReverted as exc:
        if exc.name == "MarketUnknownListing":
            raise PurchaseRefused(404, f"no listing {intent.listing_id} on the chain") from exc
        raise
    if remaining == 0:
        raise PurchaseRefused(409, f"listing {intent.listing_id} is closed (sold out or cancelled)")
    if intent.quantity > remaining:
        raise PurchaseRefused(409, f"listing {intent.listing_id} has {remaining} left; the intent asks for "
                                   f"{intent.quantity}")
    if unit_price > intent.max_unit_price:
        raise PurchaseRefused(409, f"listing {intent.listing_id} now costs {unit_price} FIT wei each, above the "
                                   f"intent's maxUnitPrice {intent.max_unit_price}")
    try:
        await chain.simulate_purchase(chain.purchase_args(intent, signed.signature, signed.permit))
    except ChainReverted as exc:
        raise PurchaseRefused(409, f"the purchase would fail: {exc.error or exc.reason}") from exc
