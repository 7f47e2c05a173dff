"""Closing reward epochs: the scheduled job that pays the epoch-mode tenants' accruals with one Merkle root
per epoch of ActivityRewards (`postEpochRoot`, through the transaction queue).

Once the chain's current epoch is past n (block time, `currentEpoch()`), epoch n is closed, in one
transaction under an advisory lock per deployment:
- its accruals: every pending one accrued before the epoch's end (by the platform's clock). One accrued
  after an epoch was closed but dated before its end (a clock a little behind the chain's, a transaction
  committed late) goes to the next epoch closed: late, never lost, never in two epochs;
- aggregated per account (one leaf per account, across tenants: one root per epoch for the deployment),
  leaves in account order, so the same accruals always give the same root;
- kept within what the contract accepts, `epochBudget(n) - epochEmitted(n)` (final once n has ended: a
  voucher is charged to the epoch it is claimed in). The excess is **scaled**: every leaf is cut in the same
  proportion (floor), so the root never exceeds the budget and nobody is served first; `accrued` and each
  leaf's `accrued` keep what was asked. With nothing left of the budget, nothing is posted: the epoch is
  `carried` and its accruals wait for the next epoch;
- the tree, every leaf and its proof, the accruals' assignment and the `postEpochRoot` request to the queue
  (idempotency key `epoch-root:<chain>:<contract>:<epoch>`) are written together: a crash leaves either
  nothing (the next run builds the same root from the same accruals) or all of it (the queue sends it).
An epoch without accruals is skipped: nothing posted, no row. Each run first follows the submitted epochs'
requests: mined -> `posted` (transaction, block), failed or replaced -> `failed` (the queue's reason).

Several workers may run it at once: the advisory lock serialises closings and an epoch's row is written
once (primary key), so a second run finds it closed and sends nothing.
"""

import logging
from collections import defaultdict
from datetime import datetime

import asyncpg

from backend.app.core.config import Settings
from backend.app.rewards.chain import EpochSchedule, RewardsChain
from fitmint.chain.errors import ChainUnavailable
from fitmint.rewards.merkle import Entry, MerkleDistribution
from fitmint.txqueue.submit import TransactionRequest, status, submit

log = logging.getLogger("rewards.epochs")

REQUESTER = "rewards.epochs"


def idempotency_key(chain_id: int, contract: str, epoch: int, attempt: int = 0) -> str:
    """The queue's key of an epoch's root; a retry of a failed root (`retry_epoch`) is attempt 1, 2..."""
    return f"epoch-root:{chain_id}:{contract}:{epoch}" + (f":retry-{attempt}" if attempt else "")


def scaled(amounts: dict[str, int], available: int) -> dict[str, int]:
    """Each account's amount cut in one proportion so the total fits `available` (floor: never above it);
    accounts cut to nothing are left out."""
    asked = sum(amounts.values())
    if asked <= available:
        return dict(amounts)
    cut = {account: amount * available // asked for account, amount in amounts.items()}
    return {account: amount for account, amount in cut.items() if amount > 0}


async def close_epochs(pool: asyncpg.Pool, settings: Settings, now: datetime | None = None, *,
                       chain: RewardsChain | None = None) -> dict | None:
    """The job: follows the submitted roots, then closes every ended epoch with pending accruals, oldest
    first. Returns what it did (None when nothing), as the scheduler logs it."""
    own = chain is None
    chain = chain or RewardsChain(settings)
    try:
        try:
            contract = chain.contract
        except ChainUnavailable as exc:  # no deployment (yet): nothing to close against
            log.warning("reward epochs not closed: %s", exc)
            return None
        settled = await settle(pool, settings.chain_id, contract)
        if not await pool.fetchval("SELECT EXISTS (SELECT 1 FROM epoch_accruals WHERE epoch IS NULL)"):
            return {"settled": settled} if settled else None  # no chain read while no tenant accrues
        schedule = await chain.schedule()
        current = await chain.current_epoch()
        closed = []
        while (epoch := await _next_to_close(pool, settings.chain_id, contract, schedule)) is not None:
            if epoch >= current:
                break
            outcome = await close_epoch(pool, chain, settings.chain_id, contract, schedule, epoch,
                                        await chain.remaining_budget(epoch))
            if outcome["state"] == "empty":  # its accruals were taken meanwhile: the next run looks again
                break
            closed.append(outcome)
        return {"settled": settled, "closed": closed} if settled or closed else None
    finally:
        if own:
            await chain.close()


async def _next_to_close(pool, chain_id: int, contract: str, schedule: EpochSchedule) -> int | None:
    """The epoch of the oldest pending accrual, but after the last closed epoch (None: nothing pending)."""
    row = await pool.fetchrow(
        "SELECT (SELECT min(accrued_at) FROM epoch_accruals WHERE epoch IS NULL) AS oldest, "
        "(SELECT max(epoch) FROM reward_epochs WHERE chain_id = $1 AND contract = $2) AS last", chain_id, contract)
    if row["oldest"] is None:
        return None
    natural = schedule.epoch_at(row["oldest"])
    return natural if row["last"] is None else max(natural, row["last"] + 1)


async def close_epoch(pool: asyncpg.Pool, chain: RewardsChain, chain_id: int, contract: str,
                      schedule: EpochSchedule, epoch: int, available: int) -> dict:
    """Closes `epoch` (ended) in one transaction; returns its summary. Another process that closed it first,
    or a later epoch, makes this a no-op."""
    key = (chain_id, contract, epoch)
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"reward-epochs:{chain_id}:{contract}")
        last = await connection.fetchval("SELECT max(epoch) FROM reward_epochs WHERE chain_id = $1 AND contract = $2",
                                         chain_id, contract)
        if last is not None and last >= epoch:
            return {"epoch": epoch, "state": "closed by another run"}
        accruals = await connection.fetch(
            "SELECT workout_id, account, amount FROM epoch_accruals WHERE epoch IS NULL AND accrued_at < $1 "
            "ORDER BY workout_id FOR UPDATE", schedule.ends_at(epoch))
        asked: dict[str, int] = defaultdict(int)
        for accrual in accruals:
            asked[accrual["account"]] += int(accrual["amount"])
        accrued = sum(asked.values())
        common = (*key, schedule.starts_at(epoch), schedule.ends_at(epoch))
        if not accruals:
            return {"epoch": epoch, "state": "empty"}
        paid = scaled(asked, available)
        if not paid:
            await connection.execute(
                "INSERT INTO reward_epochs (chain_id, contract, epoch, starts_at, ends_at, state, reason, total, "
                "accrued, available, leaves, accruals) VALUES ($1, $2, $3, $4, $5, 'carried', $6, 0, $7, $8, 0, $9)",
                *common, f"epoch {epoch}'s budget was spent: its accruals wait for the next epoch",
                accrued, available, len(accruals))
            log.warning("epoch %d: budget spent, %d accruals carried to the next epoch", epoch, len(accruals))
            return {"epoch": epoch, "state": "carried", "accruals": len(accruals)}
        accounts = sorted(paid)
        tree = MerkleDistribution([Entry(account, paid[account]) for account in accounts])
        await connection.execute(
            "UPDATE epoch_accruals SET chain_id = $1, contract = $2, epoch = $3 WHERE workout_id = ANY($4::uuid[])",
            *key, [a["workout_id"] for a in accruals])
        request_id = await submit(connection, TransactionRequest(
            idempotency_key=idempotency_key(*key), requester=REQUESTER, target=contract,
            calldata=chain.post_root_calldata(epoch, tree.root, tree.total)))
        root = "0x" + tree.root.hex()
        reason = (None if accrued <= available else
                  f"accruals of {accrued} wei scaled to the {available} wei left of the epoch's budget")
        await connection.execute(
            "INSERT INTO reward_epochs (chain_id, contract, epoch, starts_at, ends_at, state, reason, root, total, "
            "accrued, available, leaves, accruals, tx_request_id) "
            "VALUES ($1, $2, $3, $4, $5, 'submitted', $6, $7, $8, $9, $10, $11, $12, $13)",
            *common, reason, root, tree.total, accrued, available, len(accounts), len(accruals), request_id)
        await connection.copy_records_to_table(
            "reward_epoch_leaves",
            columns=("chain_id", "contract", "epoch", "leaf_index", "account", "amount", "accrued", "proof"),
            records=[(*key, index, account, paid[account], asked[account], ["0x" + p.hex() for p in tree.proof(index)])
                     for index, account in enumerate(accounts)])
    log.info("epoch %d closed: root %s, %d leaves, %d wei (%d accruals); postEpochRoot queued as request %d",
             epoch, root, len(accounts), tree.total, len(accruals), request_id)
    return {"epoch": epoch, "state": "submitted", "root": root, "total": str(tree.total), "leaves": len(accounts),
            "request": request_id}


class NotRetryable(Exception):
    pass


async def retry_epoch(pool: asyncpg.Pool, chain_id: int, contract: str, epoch: int) -> int:
    """Submits a failed epoch's root again (the same root, total and leaves: its proofs stay valid) under the
    next retry's idempotency key, once what made it fail is fixed (say, the operator's role or its gas).
    The contract refuses a second root for an epoch, so a retry can never pay an epoch twice. Returns the
    new request's id."""
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(
            "SELECT e.state, r.calldata, r.target FROM reward_epochs e "
            "JOIN txqueue_request r ON r.id = e.tx_request_id "
            "WHERE e.chain_id = $1 AND e.contract = $2 AND e.epoch = $3 FOR UPDATE OF e", chain_id, contract, epoch)
        if row is None or row["state"] != "failed":
            raise NotRetryable(f"epoch {epoch} is {row['state'] if row else 'not closed'}: only a failed root is "
                               "submitted again")
        attempts = await connection.fetchval("SELECT count(*) FROM txqueue_request WHERE idempotency_key LIKE $1",
                                             idempotency_key(chain_id, contract, epoch) + ":retry-%")
        request_id = await submit(connection, TransactionRequest(
            idempotency_key=idempotency_key(chain_id, contract, epoch, attempts + 1), requester=REQUESTER,
            target=row["target"], calldata=bytes(row["calldata"])))
        await connection.execute(
            "UPDATE reward_epochs SET state = 'submitted', reason = NULL, tx_request_id = $4, tx_hash = NULL, "
            "settled_at = NULL WHERE chain_id = $1 AND contract = $2 AND epoch = $3", chain_id, contract, epoch,
            request_id)
    log.warning("epoch %d: root submitted again as request %d", epoch, request_id)
    return request_id


async def settle(pool: asyncpg.Pool, chain_id: int, contract: str) -> list[dict]:
    """Follows each submitted root's request: mined -> posted, failed or replaced -> failed (with its reason)."""
    settled = []
    async with pool.acquire() as connection:
        for row in await connection.fetch(
                "SELECT epoch, tx_request_id FROM reward_epochs WHERE chain_id = $1 AND contract = $2 "
                "AND state = 'submitted' ORDER BY epoch", chain_id, contract):
            request = await status(connection, row["tx_request_id"])
            if request["state"] == "mined":
                await connection.execute(
                    "UPDATE reward_epochs SET state = 'posted', tx_hash = $4, block_number = $5, settled_at = now() "
                    "WHERE chain_id = $1 AND contract = $2 AND epoch = $3 AND state = 'submitted'",
                    chain_id, contract, row["epoch"], request["mined_hash"], request["block_number"])
            elif request["state"] in ("failed", "replaced"):
                reason = f"postEpochRoot {request['state']}: {request['reason'] or 'no reason given'}"
                await connection.execute(
                    "UPDATE reward_epochs SET state = 'failed', reason = $4, tx_hash = $5, settled_at = now() "
                    "WHERE chain_id = $1 AND contract = $2 AND epoch = $3 AND state = 'submitted'",
                    chain_id, contract, row["epoch"], reason, request["mined_hash"])
                log.error("epoch %d: %s", row["epoch"], reason)
            else:
                continue
            settled.append({"epoch": row["epoch"], "state": "posted" if request["state"] == "mined" else "failed"})
    return settled
