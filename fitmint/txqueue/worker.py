"""The queue's worker: for each signing key it holds (signer_locks), one pass of `run_once` settles what
was mined, recovers what was not, then takes waiting requests.

Per in-flight request (lowest nonce first), every recorded attempt's receipt is looked for:
- a receipt: mined (status 1) or failed (reverted on chain), the other attempts 'replaced';
- no receipt, and the chain's mined nonce is past it: another transaction took the nonce -> 'replaced';
- an attempt recorded but never broadcast (a crash between recording and sending): its recorded bytes
  are broadcast, never a new signature;
- not mined `mine_within_seconds` after its broadcast: a replacement at the same nonce with fees bumped
  (>= +10% on both, the node's rule) under the policy's cap, recorded, then broadcast;
- unknown to the node (dropped from its pool): the recorded bytes are broadcast again.
Before that, a settled request whose nonce the chain has not mined (the chain went back: a restart from
older state, a reorg) is reopened, and its recorded transaction broadcast again.
Then a nonce below the highest given that no request holds, and the node has nothing pending at, is
filled with an empty transfer (a request of the queue's own), or every later one would wait behind it.
A waiting request is simulated (a revert fails it with its decoded error and no nonce is spent), given
the next nonce (our records reconciled with the chain's pending count), signed, recorded, then broadcast.
"""

import asyncio
import logging
from collections.abc import Callable

import asyncpg
import httpx
from eth_account import Account
from eth_utils import to_checksum_address

from fitmint.chain.rpc import Rpc, RpcError
from fitmint.resilience import describe, sleep_unless
from fitmint.txqueue import store
from fitmint.txqueue.fees import FeeCapReached, FeePolicy, Fees
from fitmint.txqueue.signer_locks import SignerLocks
from fitmint.txqueue.simulation import RevertDecoder, SimulationReverted, simulate

log = logging.getLogger("fitmint.txqueue")

DEFAULT_PRIORITY_FEE = 10**9
GAP_FILLER_GAS = 21_000
# Answers to eth_sendRawTransaction that mean the transaction (or one at its nonce) is already with the node.
_ALREADY_THERE = ("already known", "already imported", "nonce too low", "replacement transaction underpriced")


class Worker:
    def __init__(self, postgres: dict, rpc: Rpc, keys: list[str], decode_revert: RevertDecoder, *,
                 fees: FeePolicy | None = None, mine_within_seconds: float = 30.0, max_in_flight: int = 64):
        self._postgres, self._rpc, self._decode = postgres, rpc, decode_revert  # postgres: asyncpg.connect's
        self._pool: asyncpg.Pool | None = None
        self._accounts = {account.address.lower(): account for account in map(Account.from_key, keys)}
        self._fees, self._mine_within, self._max_in_flight = fees or FeePolicy(), mine_within_seconds, max_in_flight
        self._locks: SignerLocks | None = None
        self._chain_id: int | None = None

    @property
    def managed(self) -> set[str]:
        return set(self._locks.held) if self._locks else set()

    async def start(self) -> None:
        self._chain_id = await self._rpc.chain_id()
        self._pool = await asyncpg.create_pool(**self._postgres, min_size=1, max_size=4)
        self._locks = SignerLocks(self._postgres)
        await self._acquire_signers()

    async def close(self) -> None:
        if self._locks is not None:
            await self._locks.close()
            self._locks = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def run(self, stop: asyncio.Event, interval: float = 0.2,
                  after_pass: Callable[[int], None] | None = None) -> None:
        """Passes until `stop`; `after_pass(keys held)` after each one that completed (a health signal)."""
        await self.start()
        try:
            while not stop.is_set():
                try:
                    await self.run_once()
                except (httpx.HTTPError, OSError, asyncpg.PostgresConnectionError) as exc:
                    log.warning("txqueue pass failed, retrying: %s", describe(exc))
                else:
                    if after_pass is not None:
                        after_pass(len(self.managed))
                await sleep_unless(stop, interval)
        finally:
            await self.close()

    async def run_once(self) -> None:
        await self._locks.confirm()
        await self._acquire_signers()
        for signer in sorted(self._locks.held):
            async with self._pool.acquire() as connection:
                await self._settle_and_recover(connection, signer)
                await self._send_waiting(connection, signer)

    async def _acquire_signers(self) -> None:
        for signer in self._accounts:
            await self._locks.try_acquire(signer)

    # --- in flight ----------------------------------------------------------------------------------------
    async def _settle_and_recover(self, connection, signer: str) -> None:
        mined_nonce = await self._rpc.transaction_count(signer, "latest")  # read before the receipts: see below
        await self._resync(connection, signer, mined_nonce)
        for request in await store.in_flight(connection, signer):
            attempts = await store.attempts(connection, request["id"])
            if await self._settled(connection, request, attempts):
                continue
            if request["nonce"] < mined_nonce:  # mined before our receipts were read, and none of them is ours
                await store.settle(connection, request["id"], "replaced",
                                   f"nonce {request['nonce']} was taken by a transaction this queue did not sign")
                continue
            await self._recover(connection, signer, request, attempts[-1])
        await self._fill_gaps(connection, signer, mined_nonce)

    async def _fill_gaps(self, connection, signer: str, mined_nonce: int) -> None:
        """A nonce below our highest that no request of ours holds and the node has nothing pending at (a
        transaction sent from the key outside the queue, then dropped): an empty transfer takes it."""
        holes = await store.unheld_nonces(connection, signer, mined_nonce)
        if not holes:
            return
        pending = await self._rpc.transaction_count(signer, "pending")  # the node's next gapless nonce
        for nonce in holes:
            if nonce < pending:
                continue
            base_fee, tip = await self._fee_market()
            try:
                fees = self._fees.initial(base_fee, tip)
            except FeeCapReached as capped:
                log.warning("nonce gap %s of %s left for now: %s", nonce, signer, capped)
                return
            tx_hash, raw = self._sign(signer, nonce, GAP_FILLER_GAS, signer, b"", 0, fees)
            request_id = await store.record_gap_filler(connection, f"txqueue:nonce-gap:{self._chain_id}:{signer}:"
                                                                   f"{nonce}", signer, nonce, GAP_FILLER_GAS, tx_hash,
                                                       raw, fees)
            log.warning("filling nonce gap %s of %s with %s (request %s)", nonce, signer, tx_hash, request_id)
            await self._broadcast(connection, request_id, tx_hash, raw)

    async def _resync(self, connection, signer: str, mined_nonce: int) -> None:
        """Settled requests whose nonce the chain has not mined: the chain went back (a restart from older
        state, a reorg). Each is reopened and its recorded transaction broadcast again: the same bytes at the
        same nonce, so it can be mined again but never twice."""
        for request in await store.settled_at_or_after(connection, signer, mined_nonce):
            if request["mined_hash"] is not None and await self._rpc.receipt(request["mined_hash"]) is not None:
                continue  # mined after the nonce was read
            log.warning("the chain lost request %s (nonce %s of %s, was %s): broadcasting it again", request["id"],
                        request["nonce"], signer, request["state"])
            await store.reopen(connection, request["id"], f"the chain no longer has nonce {request['nonce']} "
                                                          f"(was {request['state']}): broadcast again")

    async def _settled(self, connection, request, attempts: list[store.Attempt]) -> bool:
        for attempt in attempts:
            receipt = await self._rpc.receipt(attempt.tx_hash)
            if receipt is None:
                continue
            block = int(receipt["blockNumber"], 16)
            if int(receipt["status"], 16) == 1:
                await store.settle(connection, request["id"], "mined", f"mined in block {block}", attempt.tx_hash,
                                   block)
            else:
                await store.settle(connection, request["id"], "failed", f"reverted on chain in block {block}",
                                   attempt.tx_hash, block)
            return True
        return False

    async def _recover(self, connection, signer: str, request, latest: store.Attempt) -> None:
        if latest.state == "signed":  # recorded, then the worker stopped before (or while) broadcasting it
            await self._broadcast(connection, request["id"], latest.tx_hash, latest.raw)
            return
        mine_within = request["mine_within_seconds"] or self._mine_within
        if latest.seconds_since_broadcast is not None and latest.seconds_since_broadcast > mine_within:
            await self._replace(connection, signer, request, latest)
        elif await self._rpc.transaction(latest.tx_hash) is None:  # dropped from the node's pool
            log.info("re-broadcasting dropped transaction %s (request %s)", latest.tx_hash, request["id"])
            await self._broadcast(connection, request["id"], latest.tx_hash, latest.raw)

    async def _replace(self, connection, signer: str, request, latest: store.Attempt) -> None:
        base_fee, tip = await self._fee_market()
        try:
            fees = self._fees.bump(latest.fees, base_fee, tip)
        except FeeCapReached as capped:
            await store.note(connection, request["id"], f"stuck at the fee cap: {capped}")
            return
        tx_hash, raw = self._sign(signer, request["nonce"], request["gas_limit"], request["target"],
                                  bytes(request["calldata"]), int(request["value"]), fees)
        await store.record_replacement(connection, request["id"], signer, request["nonce"], tx_hash, raw, fees)
        log.info("replacing %s with %s at nonce %s (%s)", latest.tx_hash, tx_hash, request["nonce"], fees)
        await self._broadcast(connection, request["id"], tx_hash, raw)

    # --- waiting ------------------------------------------------------------------------------------------
    async def _send_waiting(self, connection, signer: str) -> None:
        room = self._max_in_flight - await store.count_in_flight(connection, signer)
        try:
            while room > 0 and (request := await store.claim_waiting(connection, signer)) is not None:
                if await self._send_new(connection, signer, request):
                    room -= 1
        except _StopTaking:
            pass

    async def _send_new(self, connection, signer: str, request) -> bool:
        target, calldata, value = request["target"], bytes(request["calldata"]), int(request["value"])
        try:
            gas = await simulate(self._rpc, self._decode, to_checksum_address(signer), to_checksum_address(target),
                                 calldata, value)
            base_fee, tip = await self._fee_market()
            fees = self._fees.initial(base_fee, tip)
        except SimulationReverted as reverted:
            await store.fail_unsent(connection, request["id"], reverted.reason)
            return False
        except FeeCapReached as capped:
            await store.release(connection, request["id"], f"waiting: {capped}")
            raise _StopTaking from None
        nonce = max(await self._rpc.transaction_count(signer, "pending"),
                    await store.next_recorded_nonce(connection, signer))
        gas_limit = gas * 12 // 10 + 10_000
        tx_hash, raw = self._sign(signer, nonce, gas_limit, target, calldata, value, fees)
        try:
            await store.record_first_attempt(connection, request["id"], signer, nonce, gas_limit, tx_hash, raw, fees)
        except store.NonceTaken as taken:
            log.warning("%s: nothing sent; another worker manages %s", taken, signer)
            raise _StopTaking from None
        await self._broadcast(connection, request["id"], tx_hash, raw)
        return True

    # --- the node -----------------------------------------------------------------------------------------
    def _sign(self, signer: str, nonce: int, gas_limit: int, target: str, calldata: bytes, value: int,
              fees: Fees) -> tuple[str, str]:
        signed = self._accounts[signer].sign_transaction({
            "type": 2, "chainId": self._chain_id, "nonce": nonce, "to": to_checksum_address(target),
            "data": calldata, "value": value, "gas": gas_limit, "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas})
        return signed.hash.to_0x_hex(), signed.raw_transaction.to_0x_hex()

    async def broadcast(self, raw: str) -> None:
        """Sends recorded bytes (a seam: tests stop a worker here, after recording and before sending)."""
        await self._rpc.send_raw_transaction(raw)

    async def _broadcast(self, connection, request_id: int, tx_hash: str, raw: str) -> None:
        try:
            await self.broadcast(raw)
        except RpcError as refused:
            if not any(answer in refused.message.lower() for answer in _ALREADY_THERE):
                await store.note(connection, request_id, f"the node refused {tx_hash}: {refused.message}")
                return  # stays recorded: the next pass broadcasts it again
        await store.mark_broadcast(connection, request_id, tx_hash)

    async def _fee_market(self) -> tuple[int, int]:
        base_fee = await self._rpc.base_fee()
        try:
            tip = await self._rpc.max_priority_fee()
        except RpcError:
            tip = DEFAULT_PRIORITY_FEE
        return base_fee, tip


class _StopTaking(Exception):
    """No new request can be sent on this pass (the fee market is above the cap)."""
