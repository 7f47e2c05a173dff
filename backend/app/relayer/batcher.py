"""The batcher: gathers waiting voucher relays into claimBatch transactions, submitted to the transaction
queue, and applies each batch's outcome to its relays.

Every API and worker process runs it; the relays of a pass are taken with SELECT ... FOR UPDATE SKIP LOCKED
and the batch is submitted in the same transaction that marks them batched, so a relay is in at most one
live batch and a crash leaves it waiting (nothing half-written: the queue's request and the batch commit
together, and the queue sends one transaction per batch, its idempotency key). A batch goes when
`relayer_batch_size` relays wait or the oldest has waited `relayer_batch_interval_seconds`.

One bad voucher reverts a whole claimBatch, so none goes into one unchecked: those expiring within the
margin and those the chain already paid (a claim the member sent themselves) are failed with their reason;
then the batch is simulated (eth_call), and a revert naming a claim id of the batch drops that voucher with
the decoded error, until the rest goes through. A revert that names no voucher (a daily cap, the epoch's
budget, shared by several) is narrowed by simulating each voucher alone; if each goes through alone, the
first half is sent now and the rest waits for the next pass. A batch that still fails in the queue (a
voucher paid between the check and the send, a revert on chain) puts its relays back to waiting, where the
checks above drop the culprit; after `relayer_claim_attempts` failed batches a relay fails for good.
"""

import asyncio
import logging

import asyncpg

from backend.app.core.background import pause
from backend.app.core.config import Settings
from backend.app.relayer.chain import RelayerChain
from backend.app.rewards.service import voucher_of
from fitmint.chain.errors import ChainReverted, ChainUnavailable
from fitmint.resilience import Retrier
from fitmint.txqueue.submit import TransactionRequest, submit

log = logging.getLogger("api.relayer")
REQUESTER = "relayer"


class ClaimBatcher:
    def __init__(self, pool: asyncpg.Pool, chain: RelayerChain, settings: Settings):
        self.pool, self.chain, self.settings = pool, chain, settings

    async def run(self, stop: asyncio.Event) -> None:
        health = Retrier("relayer", ("postgres", "rpc"), log=log)
        while not stop.is_set():
            try:
                await self.run_once()
                health.progressed()
            except Exception as exc:  # the batcher must go on: an outage is said once, a bug with its traceback
                dependency = "rpc" if isinstance(exc, ChainUnavailable) else health.classify(exc)
                if dependency is not None:
                    health.down(dependency, exc)
                else:
                    log.exception("relayer pass failed; retrying")
                await pause(stop, 1.0)
            await pause(stop, self.settings.relayer_poll_seconds)

    async def run_once(self) -> int:
        """One pass: outcomes applied, then batches made while full ones wait. Returns the batches submitted."""
        await self.apply_outcomes()
        submitted = 0
        while True:
            made, more = await self._batch_once()
            submitted += made
            if not more:
                return submitted

    # --- outcomes -----------------------------------------------------------------------------------------
    async def apply_outcomes(self) -> None:
        """Settled batches: a mined one is done (its relays read mined through the queue); a failed or replaced
        one puts its claims back to waiting (or fails them after their last attempt) and fails its purchase."""
        async with self.pool.acquire() as connection, connection.transaction():
            batches = await connection.fetch(
                """SELECT b.id, q.state, q.reason FROM relay_batches b JOIN txqueue_request q ON q.id = b.request_id
                   WHERE NOT b.settled AND q.state IN ('mined', 'failed', 'replaced')
                   ORDER BY b.id LIMIT 200 FOR UPDATE OF b SKIP LOCKED""")
            for batch in batches:
                if batch["state"] != "mined":
                    await self._failed(connection, batch)
            await connection.execute("UPDATE relay_batches SET settled = true WHERE id = ANY($1::bigint[])",
                                     [batch["id"] for batch in batches])

    async def _failed(self, connection, batch) -> None:
        attempts = self.settings.relayer_claim_attempts
        reason = f"its transaction (batch {batch['id']}) {batch['state']}: {batch['reason']}"
        retried = await connection.execute(
            """UPDATE relays SET state = 'waiting', batch_id = NULL, failed_batches = failed_batches + 1,
                      reason = $2 || '; waiting for another batch', updated_at = now()
               WHERE batch_id = $1 AND state = 'batched' AND kind = 'claim' AND failed_batches + 1 < $3""",
            batch["id"], reason, attempts)
        failed = await connection.execute(
            """UPDATE relays SET state = 'failed', failed_batches = failed_batches + 1, reason = $2, updated_at = now()
               WHERE batch_id = $1 AND state = 'batched'""", batch["id"], reason)
        log.warning("relay batch %s %s (%s): %s relays back to waiting, %s failed", batch["id"], batch["state"],
                    batch["reason"], retried.split()[-1], failed.split()[-1])

    # --- batching -----------------------------------------------------------------------------------------
    async def _batch_once(self) -> tuple[int, bool]:
        """(batches submitted: 0 or 1, whether a full batch was taken: more may wait)."""
        size = self.settings.relayer_batch_size
        async with self.pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                """SELECT r.id AS relay_id, extract(epoch FROM now() - r.created_at)::float8 AS waited, v.*
                   FROM relays r JOIN vouchers v ON v.claim_id = r.claim_id
                   WHERE r.state = 'waiting' AND r.kind = 'claim' ORDER BY r.id LIMIT $1
                   FOR UPDATE OF r SKIP LOCKED""", size)
            full = len(rows) == size
            waited = max((row["waited"] for row in rows), default=0.0)
            if not rows or (not full and waited < self.settings.relayer_batch_interval_seconds):
                return 0, False
            relay_of = {row["claim_id"]: row["relay_id"] for row in rows}
            candidates, excluded = await self._checked([voucher_of(row) for row in rows])
            for claim_id, reason in excluded.items():
                await connection.execute("UPDATE relays SET state = 'failed', reason = $2, updated_at = now() "
                                         "WHERE id = $1", relay_of[claim_id], reason)
            if not candidates:
                return 0, full
            batch_id = await connection.fetchval("SELECT nextval(pg_get_serial_sequence('relay_batches', 'id'))")
            request_id = await submit(connection, TransactionRequest(
                f"relayer:claims:{self.settings.chain_id}:{batch_id}", REQUESTER, self.chain.rewards,
                self.chain.batch_calldata(candidates)))
            await connection.execute("INSERT INTO relay_batches (id, kind, request_id, size) "
                                     "VALUES ($1, 'claim', $2, $3)", batch_id, request_id, len(candidates))
            await connection.execute(
                "UPDATE relays SET state = 'batched', batch_id = $1, reason = NULL, updated_at = now() "
                "WHERE id = ANY($2::bigint[])", batch_id, [relay_of[v["claim_id"]] for v in candidates])
        log.info("relay batch %s: %s vouchers in queue request %s (%s excluded)", batch_id, len(candidates),
                 request_id, len(excluded))
        return 1, full

    async def _checked(self, vouchers: list[dict]) -> tuple[list[dict], dict[str, str]]:
        """The vouchers that go through together, and the reason of each one that cannot go at all. Vouchers
        held back for the next batch are in neither (they stay waiting)."""
        excluded: dict[str, str] = {}
        horizon = self.settings.now().timestamp() + self.settings.relayer_voucher_margin_seconds
        for voucher in vouchers:
            if voucher["deadline"] <= horizon:
                excluded[voucher["claim_id"]] = f"the voucher expired (deadline {voucher['deadline']}) before a batch"
        for claim_id in await self.chain.paid([v["claim_id"] for v in vouchers if v["claim_id"] not in excluded]):
            excluded[claim_id] = "already claimed on the chain (by another transaction)"
        candidates = [v for v in vouchers if v["claim_id"] not in excluded]
        while candidates:
            try:
                await self.chain.simulate_batch(candidates)
                return candidates, excluded
            except ChainReverted as reverted:
                culprit = _claim_named(reverted)
                if culprit in {v["claim_id"] for v in candidates}:
                    excluded[culprit] = f"the chain refuses it: {reverted.error}"
                    candidates = [v for v in candidates if v["claim_id"] != culprit]
                    continue
                alone = await self._refused_alone(candidates)
                if alone:
                    excluded |= alone
                    candidates = [v for v in candidates if v["claim_id"] not in alone]
                elif len(candidates) > 1:  # each goes alone, not all together: half now, the rest next pass
                    candidates = candidates[:len(candidates) // 2]
                else:
                    excluded[candidates[0]["claim_id"]] = f"the chain refuses it: {reverted}"
                    candidates = []
        return candidates, excluded

    async def _refused_alone(self, vouchers: list[dict]) -> dict[str, str]:
        async def refusal(voucher):
            try:
                await self.chain.simulate_claim(voucher)
                return None
            except ChainReverted as reverted:
                return f"the chain refuses it: {reverted.error or reverted.reason}"

        answers = await asyncio.gather(*(refusal(v) for v in vouchers))
        return {v["claim_id"]: reason for v, reason in zip(vouchers, answers, strict=True) if reason is not None}


def _claim_named(reverted: ChainReverted) -> str | None:
    """The claim id a decoded revert names (RewardsClaimAlreadyPaid(claimId), RewardsVoucherExpired(claimId, ..)),
    lowercase 0x-hex; None for an error that names none (a daily cap, the epoch budget)."""
    args = reverted.error.args if reverted.error is not None else None
    claim_id = (args or {}).get("claimId")
    return "0x" + claim_id.hex() if isinstance(claim_id, bytes) else None
