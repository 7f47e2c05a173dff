"""A member asks the platform to claim their voucher for them: a relay record, waiting for the batcher.

Idempotent by claim id: asking again returns the same relay and counts nothing. A voucher the chain already
paid, or that expires before a batch could carry it, is refused at once (409) and costs no sponsorship; a
new relay is counted against the member's and the tenant's daily sponsorship in the transaction that
creates it (429 when either is used up: nothing is written)."""

from dataclasses import dataclass

from backend.app.core.config import Settings
from backend.app.relayer import sponsorship, store
from backend.app.relayer.chain import RelayerChain


class NotRelayable(Exception):
    """409: the voucher cannot be claimed any more (paid, expired)."""


@dataclass(frozen=True)
class Requested:
    relay: dict
    created: bool


async def request_claim(pool, chain: RelayerChain, settings: Settings, voucher: dict) -> Requested:
    claim_id = voucher["claim_id"]
    existing = await pool.fetchval("SELECT id FROM relays WHERE claim_id = $1", claim_id)
    if existing is not None:
        return Requested(store.public_state(await store.by_id(pool, existing)), created=False)
    now = settings.now()
    if voucher["deadline"] <= now.timestamp() + settings.relayer_voucher_margin_seconds:
        raise NotRelayable(f"voucher {claim_id} expires at {voucher['deadline']} (unix time): too soon to relay")
    if await chain.paid([claim_id]):
        raise NotRelayable(f"voucher {claim_id} is already claimed on the chain")
    async with pool.acquire() as connection, connection.transaction():
        relay_id = await connection.fetchval(
            "INSERT INTO relays (kind, tenant_id, user_id, claim_id) VALUES ('claim', $1::uuid, $2::uuid, $3) "
            "ON CONFLICT (claim_id) DO NOTHING RETURNING id", voucher["tenant_id"], voucher["user_id"], claim_id)
        created = relay_id is not None
        if created:  # counted once, with the relay it pays for (a refusal rolls the relay back)
            await sponsorship.charge(connection, sponsorship.Limits.of(settings), day=now.date(),
                                     tenant_id=voucher["tenant_id"], user_id=voucher["user_id"])
        else:  # asked twice at once: the other request created it
            relay_id = await connection.fetchval("SELECT id FROM relays WHERE claim_id = $1", claim_id)
    return Requested(store.public_state(await store.by_id(pool, relay_id)), created)
