"""The queue's worker: for each signing key it holds (signer_locks), one pass of `run_once` settles what
was mined, recovers what was not, then takes waiting requests. The keys' passes run concurrently (a task
each, a database connection each); within a key's pass the node is asked in JSON-RPC batches and the
records written a chunk per transaction, so a pass costs a handful of round trips whatever its size.

Per in-flight request (lowest nonce first) whose nonce the chain's mined count is past, every recorded
attempt's receipt is looked for (one batch; a nonce the chain has not mined cannot have a receipt yet):
- a receipt: mined (status 1) or failed (reverted on chain), the other attempts 'replaced';
- no receipt, and the chain's mined nonce was past it already at the key's previous pass: another
  transaction took the nonce -> 'replaced' (a node may count a block's nonces a moment before it serves
  the block's receipts: one pass of patience tells the two apart);
- an attempt recorded but never broadcast (a crash between recording and sending): its recorded bytes
  are broadcast, never a new signature;
- not mined `mine_within_seconds` after its broadcast: a replacement at the same nonce with fees bumped
  (>= +10% on both, the node's rule) under the policy's cap, recorded, then broadcast;
- unknown to the node (dropped from its pool): the recorded bytes are broadcast again. The lowest one is
  asked about every pass, the others only when it is missing (a node that lost its pool): a dropped one
  higher up holds nothing back until it is the lowest, and is found then.
Before that, a settled request whose nonce the chain has not mined (the chain went back: a restart from
older state, a reorg) is reopened, and its recorded transaction broadcast again; and until a settled
request's block is `confirmations` deep, a change of that block's hash has its receipt read again: a
transaction a reorg took out is reopened the same way (even when another transaction took its nonce).
Then a nonce below the highest given that no request holds, and the node has nothing pending at, is
filled with an empty transfer (a request of the queue's own), or every later one would wait behind it.
Waiting requests are taken a chunk at a time: simulated (one batch; a revert fails its request with its
decoded error and no nonce is spent), given the next nonces (our records reconciled with the chain's
pending count), signed, recorded in one transaction, then broadcast as one batch.
"""

import asyncio
import logging
from collections.abc import Callable

import asyncpg
import httpx

from fitmint.chain.rpc import Rpc, RpcError
from fitmint.resilience import POSTGRES_ERRORS, describe, sleep_unless
from fitmint.signers import KeySigner, SignerRefused
from fitmint.txqueue import store
from fitmint.txqueue.fees import FeeCapReached, FeePolicy
from fitmint.txqueue.signer_locks import SignerLocks
from fitmint.txqueue.signing import Transaction
from fitmint.txqueue.simulation import RevertDecoder, SimulationReverted, gas_or_revert, simulation_calls

log = logging.getLogger("fitmint.txqueue")

DEFAULT_PRIORITY_FEE = 10**9
GAP_FILLER_GAS = 21_000
STOP_GRACE_SECONDS = 10  # for the passes under way when the worker is told to stop
STARTUP_RETRY_SECONDS = 0.5  # between attempts to start while PostgreSQL or the node is out of reach
# Answers to eth_sendRawTransaction that mean the transaction (or one at its nonce) is already with the node.
_ALREADY_THERE = ("already known", "already imported", "nonce too low", "replacement transaction underpriced")


class Worker:
    def __init__(self, postgres: dict, rpc: Rpc, keys: list, decode_revert: RevertDecoder, *,
                 fees: FeePolicy | None = None, mine_within_seconds: float = 30.0, max_in_flight: int = 64,
                 chunk_size: int = 100, max_keys: int | None = None, confirmations: int = 2):
        self._postgres, self._rpc, self._decode = postgres, rpc, decode_revert  # postgres: asyncpg.connect's
        self._pool: asyncpg.Pool | None = None
        # keys: the pool's signers (fitmint/signers.py), or private keys (0x-hex) to sign with here.
        self._accounts = {signer.address: signer for signer in (KeySigner(key) if isinstance(key, str) else key
                                                                 for key in keys)}
        self._fees, self._mine_within, self._max_in_flight = fees or FeePolicy(), mine_within_seconds, max_in_flight
        self._chunk_size = chunk_size  # waiting requests taken (simulated, recorded, broadcast) at once
        self._max_keys = max_keys or len(self._accounts)  # held at most: room for other workers' passes
        self._locks: SignerLocks | None = None
        self._chain_id: int | None = None
        self._mined_nonces: dict[str, int] = {}  # per key, the chain's mined nonce count at its last pass
        # Blocks with a key's settled requests not yet `confirmations` deep: number -> the hash they were
        # settled in (None: to check, e.g. after a restart); a changed hash is a reorg to look into.
        self._confirmations = confirmations
        self._unconfirmed: dict[str, dict[int, str | None]] = {}

    @property
    def managed(self) -> set[str]:
        return set(self._locks.held) if self._locks else set()

    async def start(self) -> None:
        self._chain_id = await self._rpc.chain_id()
        self._pool = await asyncpg.create_pool(**self._postgres, min_size=1,
                                               max_size=max(2, min(self._max_keys, 16)))
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
        """Until `stop`: a task per key held, each running that key's passes `interval` apart, so a key
        with much to do holds no other back; every `interval` the locks are checked and keys taken up.
        `after_pass(keys held)` after each key's pass that completed (a health signal), and after each lock
        check while no key is held (a worker whose pool another process holds is idle, not stuck)."""
        if not await self._start_when_reachable(stop):
            return
        tasks: dict[str, asyncio.Task] = {}
        try:
            while not stop.is_set():
                try:
                    await self._locks.confirm()
                    await self._acquire_signers()
                except POSTGRES_ERRORS as exc:
                    log.warning("txqueue: cannot check the signer locks, retrying: %s", describe(exc))
                else:
                    if after_pass is not None and not self._locks.held:
                        after_pass(0)
                for signer in self._locks.held - tasks.keys():
                    tasks[signer] = asyncio.create_task(self._run_key(signer, stop, interval, after_pass))
                for signer, task in list(tasks.items()):
                    if signer not in self._locks.held or task.done():
                        task.cancel()
                        del tasks[signer]
                        if not task.cancelled() and task.done() and task.exception() is not None:
                            raise task.exception()
                await sleep_unless(stop, interval)
        finally:  # told to stop, passes under way end on their own; one that hangs (or a crash) is cancelled
            if tasks and stop.is_set():
                await asyncio.wait(tasks.values(), timeout=STOP_GRACE_SECONDS)
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            await self.close()

    async def _start_when_reachable(self, stop: asyncio.Event) -> bool:
        """`start`, again after a transient failure (PostgreSQL or the node cut off while starting) until it
        succeeds (True) or `stop` is set (False)."""
        while not stop.is_set():
            try:
                await self.start()
                return True
            except (httpx.HTTPError, *POSTGRES_ERRORS) as exc:
                log.warning("txqueue: cannot start yet, retrying: %s", describe(exc))
                await self.close()
                await sleep_unless(stop, STARTUP_RETRY_SECONDS)
        return False

    async def _run_key(self, signer: str, stop: asyncio.Event, interval: float,
                       after_pass: Callable[[int], None] | None) -> None:
        while not stop.is_set() and signer in self._locks.held:
            try:
                await self._pass(signer)
            # A lost connection surfaces as any of PostgreSQL's transient errors (asyncpg's InterfaceError too:
            # "connection has been released back to the pool" after a partition): retried, never a crash. So is
            # a remote signer's refusal (what it was asked to sign stays claimed, nothing was recorded or sent).
            except (httpx.HTTPError, SignerRefused, *POSTGRES_ERRORS) as exc:
                log.warning("txqueue pass of %s failed, retrying: %s", signer, describe(exc))
            else:
                if after_pass is not None:
                    after_pass(len(self._locks.held))
            await sleep_unless(stop, interval)

    async def run_once(self) -> None:
        """A pass over every key held, concurrently; the first failure is raised once all have finished
        (none is left running behind the caller's back)."""
        await self._locks.confirm()
        await self._acquire_signers()
        passes = await asyncio.gather(*(self._pass(signer) for signer in sorted(self._locks.held)),
                                      return_exceptions=True)
        for failure in passes:
            if isinstance(failure, BaseException):
                raise failure

    async def _pass(self, signer: str) -> None:
        async with self._pool.acquire() as connection:
            await self._settle_and_recover(connection, signer)
            await self._send_waiting(connection, signer)

    async def _acquire_signers(self) -> None:
        for signer in self._accounts:
            if len(self._locks.held) >= self._max_keys:
                return
            await self._locks.try_acquire(signer)

    # --- in flight ----------------------------------------------------------------------------------------
    async def _settle_and_recover(self, connection, signer: str) -> None:
        mined_nonce = await self._rpc.transaction_count(signer, "latest")  # read before the receipts: see below
        await self._resync(connection, signer, mined_nonce)
        await self._watch_unconfirmed(connection, signer)
        in_flight = await store.in_flight(connection, signer)
        past = [(request, attempts) for request, attempts in in_flight if request["nonce"] < mined_nonce]
        receipts = await self._receipts([attempt.tx_hash for _, attempts in past for attempt in attempts])
        # A node may count a block's nonces before it serves the block's receipts (Anvil does, for a few
        # milliseconds while it mines): a nonce without a receipt of ours is taken by someone else only
        # if it was mined already when the previous pass began, and our receipts are still missing.
        settled_before = self._mined_nonces.get(signer, 0)
        outcomes = [self._outcome(request, attempts, receipts) for request, attempts in past]
        outcomes = [outcome for outcome, (request, _) in zip(outcomes, past, strict=True)
                    if outcome.state != "replaced" or request["nonce"] < settled_before]
        await store.settle_many(connection, outcomes)
        self._note_blocks(signer, [receipts[outcome.mined_hash] for outcome in outcomes if outcome.mined_hash])
        self._mined_nonces[signer] = mined_nonce
        await self._recover(connection, signer, [(request, attempts[-1]) for request, attempts in in_flight
                                                 if request["nonce"] >= mined_nonce])
        await self._fill_gaps(connection, signer, mined_nonce)

    def _note_blocks(self, signer: str, receipts: list[dict]) -> None:
        if not self._confirmations:
            return
        watched = self._unconfirmed.setdefault(signer, {})
        for receipt in receipts:
            number = int(receipt["blockNumber"], 16)
            seen = watched.setdefault(number, receipt["blockHash"])
            if seen != receipt["blockHash"]:
                watched[number] = None  # two answers for one block: it changed in between, look again

    async def _watch_unconfirmed(self, connection, signer: str) -> None:
        """Until a settled request's block is `confirmations` deep, a reorg may take its transaction out
        (the key's mined nonce need not go back: another transaction may take the nonce). A block whose
        hash changed has its requests' receipts read again: gone, the request is reopened (its recorded
        transaction broadcast again, or found replaced); mined elsewhere, its block is updated."""
        if not self._confirmations:
            return
        watched = self._unconfirmed.get(signer)
        if watched is None:  # this worker's first pass of the key: what was settled before it, unchecked
            head = await self._rpc.block_number()
            watched = self._unconfirmed[signer] = {
                row["block_number"]: None for row in await store.settled_in_blocks(
                    connection, signer, head - self._confirmations + 1)}
        if not watched:
            return
        numbers = sorted(watched)
        answers = await self._rpc.batch([("eth_blockNumber",),
                                         *(("eth_getBlockByNumber", hex(number), False) for number in numbers)])
        for answer in answers:
            if isinstance(answer, RpcError):
                raise answer
        head = int(answers[0], 16)
        changed = [number for number, header in zip(numbers, answers[1:], strict=True)
                   if header is None or header["hash"] != watched[number]]
        for number in changed:
            del watched[number]
        if changed:
            await self._look_again(connection, signer, changed)
        for number in [number for number in watched if number <= head - self._confirmations]:
            del watched[number]  # final

    async def _look_again(self, connection, signer: str, blocks: list[int]) -> None:
        rows = await store.settled_in_blocks(connection, signer, min(blocks), blocks)
        receipts = await self._receipts([row["mined_hash"] for row in rows])
        moved = []
        for row in rows:
            receipt = receipts.get(row["mined_hash"])
            if receipt is None:
                log.warning("a reorg took %s (request %s, block %s) out of the chain: reopening it",
                            row["mined_hash"], row["id"], row["block_number"])
                await store.reopen(connection, row["id"], f"a reorg took {row['mined_hash']} out of block "
                                                          f"{row['block_number']}: broadcast again")
            elif int(receipt["blockNumber"], 16) != row["block_number"]:
                block = int(receipt["blockNumber"], 16)
                moved.append(store.Outcome(row["id"], row["state"], f"{row['state']} in block {block} (a reorg "
                                           f"moved it from block {row['block_number']})", row["mined_hash"], block))
        await store.settle_many(connection, moved)
        self._note_blocks(signer, list(receipts.values()))

    async def _receipts(self, tx_hashes: list[str]) -> dict[str, dict]:
        answers = await self._rpc.batch([("eth_getTransactionReceipt", tx_hash) for tx_hash in tx_hashes])
        for answer in answers:
            if isinstance(answer, RpcError):
                raise answer
        return {tx_hash: receipt for tx_hash, receipt in zip(tx_hashes, answers, strict=True) if receipt is not None}

    @staticmethod
    def _outcome(request, attempts: list[store.Attempt], receipts: dict[str, dict]) -> store.Outcome:
        for attempt in attempts:
            receipt = receipts.get(attempt.tx_hash)
            if receipt is None:
                continue
            block = int(receipt["blockNumber"], 16)
            if int(receipt["status"], 16) == 1:
                return store.Outcome(request["id"], "mined", f"mined in block {block}", attempt.tx_hash, block)
            return store.Outcome(request["id"], "failed", f"reverted on chain in block {block}", attempt.tx_hash,
                                 block)
        # the chain mined the nonce before our receipts were read, and none of them is ours
        return store.Outcome(request["id"], "replaced",
                             f"nonce {request['nonce']} was taken by a transaction this queue did not sign")

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
            try:
                fees = self._fees.initial(*await self._fee_market())
            except FeeCapReached as capped:
                log.warning("nonce gap %s of %s left for now: %s", nonce, signer, capped)
                return
            (signed,) = await self._accounts[signer].sign_transactions(
                [Transaction(self._chain_id, nonce, GAP_FILLER_GAS, signer, b"", 0, fees)])
            request_id = await store.record_gap_filler(connection, f"txqueue:nonce-gap:{self._chain_id}:{signer}:"
                                                                   f"{nonce}", signer, nonce, GAP_FILLER_GAS,
                                                       signed.tx_hash, signed.raw, fees)
            log.warning("filling nonce gap %s of %s with %s (request %s)", nonce, signer, signed.tx_hash, request_id)
            await self._broadcast(connection, [(request_id, signed.tx_hash, signed.raw)])

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

    async def _recover(self, connection, signer: str, unmined: list[tuple]) -> None:
        """`unmined`: (request, its latest attempt) at nonces the chain has not mined, lowest first."""
        again, stuck, watched = [], [], []
        for request, latest in unmined:
            if latest.state == "signed":  # recorded, then the worker stopped before (or while) broadcasting it
                again.append((request["id"], latest.tx_hash, latest.raw))
            elif (latest.seconds_since_broadcast is not None
                  and latest.seconds_since_broadcast > (request["mine_within_seconds"] or self._mine_within)):
                stuck.append((request, latest))
            else:
                watched.append((request, latest))
        for request, latest in await self._dropped(watched):
            log.info("re-broadcasting dropped transaction %s (request %s)", latest.tx_hash, request["id"])
            again.append((request["id"], latest.tx_hash, latest.raw))
        again += await self._replacements(connection, signer, stuck)
        await self._broadcast(connection, again)

    async def _dropped(self, watched: list[tuple]) -> list[tuple]:
        """The ones the node does not know (dropped from its pool): the lowest is asked about; the others
        only when it is missing."""
        if not watched or await self._rpc.transaction(watched[0][1].tx_hash) is not None:
            return []
        answers = await self._rpc.batch([("eth_getTransactionByHash", latest.tx_hash) for _, latest in watched[1:]])
        return [watched[0]] + [item for item, answer in zip(watched[1:], answers, strict=True) if answer is None]

    async def _replacements(self, connection, signer: str, stuck: list[tuple]) -> list[tuple]:
        """A replacement for each stuck request at its nonce, fees bumped, recorded: what to broadcast."""
        if not stuck:
            return []
        base_fee, tip = await self._fee_market()
        replacements = []
        for request, latest in stuck:
            try:
                fees = self._fees.bump(latest.fees, base_fee, tip)
            except FeeCapReached as capped:
                await store.note(connection, request["id"], f"stuck at the fee cap: {capped}")
                continue
            (signed,) = await self._accounts[signer].sign_transactions(
                [Transaction(self._chain_id, request["nonce"], request["gas_limit"], request["target"],
                             bytes(request["calldata"]), int(request["value"]), fees)])
            log.info("replacing %s with %s at nonce %s (%s)", latest.tx_hash, signed.tx_hash, request["nonce"], fees)
            replacements.append(store.NewAttempt(request["id"], request["nonce"], None, signed.tx_hash, signed.raw,
                                                 fees))
        await store.record_replacements(connection, signer, replacements)
        return [(attempt.request_id, attempt.tx_hash, attempt.raw) for attempt in replacements]

    # --- waiting ------------------------------------------------------------------------------------------
    async def _send_waiting(self, connection, signer: str) -> None:
        room = self._max_in_flight - await store.count_in_flight(connection, signer)
        try:
            while room > 0:
                chunk = await store.claim_waiting(connection, signer, min(room, self._chunk_size))
                if not chunk:
                    return
                room -= await self._send_chunk(connection, signer, chunk)
        except _StopTaking:
            pass

    async def _send_chunk(self, connection, signer: str, chunk: list) -> int:
        """Simulates the chunk, fails what reverts, gives the rest the next nonces, records then broadcasts
        them; how many were given a nonce."""
        answers = await self._rpc.batch([
            ("eth_getBlockByNumber", "latest", False), ("eth_maxPriorityFeePerGas",),
            ("eth_getTransactionCount", signer, "pending"),
            *(call for request in chunk for call in simulation_calls(
                signer, request["target"], bytes(request["calldata"]), int(request["value"])))])
        block, tip, pending = answers[:3]
        for answer in (block, pending):
            if isinstance(answer, RpcError):
                raise answer
        gases = [gas_or_revert(answer, self._decode) for answer in answers[3:]]
        sendable = [(request, gas) for request, gas in zip(chunk, gases, strict=True)
                    if not isinstance(gas, SimulationReverted)]
        try:
            return await self._send_simulated(connection, signer, sendable, block, tip, pending)
        finally:  # the reverted ones fail after the others are sent: a revert delays no one
            for request, gas in zip(chunk, gases, strict=True):
                if isinstance(gas, SimulationReverted):
                    await store.fail_unsent(connection, request["id"], gas.reason)

    async def _send_simulated(self, connection, signer: str, sendable: list[tuple], block: dict, tip,
                              pending: str) -> int:
        if not sendable:
            return 0
        try:
            fees = self._fees.initial(int(block.get("baseFeePerGas") or "0x0", 16),
                                      DEFAULT_PRIORITY_FEE if isinstance(tip, RpcError) else int(tip, 16))
        except FeeCapReached as capped:
            await store.release(connection, [request["id"] for request, _ in sendable], f"waiting: {capped}")
            raise _StopTaking from None
        nonce = max(int(pending, 16), await store.next_recorded_nonce(connection, signer))
        transactions = [Transaction(self._chain_id, nonce + offset, gas * 12 // 10 + 10_000, request["target"],
                                    bytes(request["calldata"]), int(request["value"]), fees)
                        for offset, (request, gas) in enumerate(sendable)]
        signed = await self._accounts[signer].sign_transactions(transactions)  # the chunk at once
        attempts = [store.NewAttempt(request["id"], transaction.nonce, transaction.gas_limit, one.tx_hash, one.raw,
                                     fees)
                    for (request, _), transaction, one in zip(sendable, transactions, signed, strict=True)]
        try:
            await store.record_first_attempts(connection, signer, attempts)
        except store.NonceTaken as taken:
            log.warning("%s: nothing sent; another worker manages %s", taken, signer)
            raise _StopTaking from None
        await self._broadcast(connection, [(attempt.request_id, attempt.tx_hash, attempt.raw) for attempt in attempts])
        return len(attempts)

    # --- the node -----------------------------------------------------------------------------------------
    async def broadcast(self, raws: list[str]) -> list[RpcError | None]:
        """Sends recorded transactions as one JSON-RPC batch; per transaction the node's refusal, or None
        (a seam: tests stop a worker here, after recording and before sending)."""
        answers = await self._rpc.batch([("eth_sendRawTransaction", raw) for raw in raws])
        return [answer if isinstance(answer, RpcError) else None for answer in answers]

    async def _broadcast(self, connection, sends: list[tuple[int, str, str]]) -> None:
        """Broadcasts (request id, tx hash, raw) each; what the node took is marked so, what it refused
        stays recorded with the reason noted: the next pass broadcasts it again."""
        if not sends:
            return
        taken = []
        refusals = await self.broadcast([raw for *_, raw in sends])
        for (request_id, tx_hash, _), refused in zip(sends, refusals, strict=True):
            if refused is None or any(answer in refused.message.lower() for answer in _ALREADY_THERE):
                taken.append((request_id, tx_hash))
            else:
                await store.note(connection, request_id, f"the node refused {tx_hash}: {refused.message}")
        await store.mark_broadcast(connection, taken)

    async def _fee_market(self) -> tuple[int, int]:
        base_fee = await self._rpc.base_fee()
        try:
            tip = await self._rpc.max_priority_fee()
        except RpcError:
            tip = DEFAULT_PRIORITY_FEE
        return base_fee, tip


class _StopTaking(Exception):
    """No new request can be sent on this pass (the fee market is above the cap, or another worker took a
    nonce of this key)."""
