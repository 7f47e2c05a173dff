"""Reward vouchers: one per accepted workout (idempotent by workout), signed with the attestor key.

Claim ids are issued in sequence (`voucher_claim_ids`, migration 0018), as 32-byte big-endian numbers: the
contract records paid ids in a bitmap of 256 ids a storage slot, so consecutive ids share one and a claim
writes an existing slot instead of creating one (~17,000 gas less; reports/gas.md). An id the contract has
already paid (a database restored from a backup hands ids out again) is skipped before signing.

The voucher names the UTC day it is issued on (the platform's clock): the contract charges it to that
day's cap and redeems it on that day or the next, so no other voucher of the member, whoever submits
it, can use up the cap this one was issued against. Its deadline never outlives the next day. The amount
is the reward policy's, cut to what the contract will still pay: the account's daily cap less what the
API already issued for that day (and what the chain says is left of it), and the current epoch's
remaining budget. The voucher and its FitnessRewardIssued event are written in one transaction (the
outbox): an event is published if and only if the voucher exists. A workout accepted while its tenant paid
rewards by epochs gets no voucher (EpochRewarded, a 409): its reward is in an epoch (rewards/modes.py).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

import asyncpg
from eth_utils import to_checksum_address

from backend.app.core.config import Settings
from backend.app.core.pages import decode_cursor, page
from backend.app.fitness.service import WORKOUT_COLUMNS, workout_dict
from backend.app.rewards.chain import RewardsChain
from backend.app.rewards.modes import epoch_accrual
from backend.app.rewards.policy import FIT, reward_wei
from fitmint import events as ev
from fitmint.outbox.append import Outgoing, insert_arguments, insert_statement
from fitmint.rewards.vouchers import RewardVoucher, VoucherMessage
from fitmint.signers import Signer
from fitmint.telemetry import tracer


class NotRewardable(Exception):
    """409: the workout cannot earn (now): rejected, nothing to reward, cap reached."""


class EpochRewarded(NotRewardable):
    """409: the workout was accepted while its tenant paid by epochs: its reward is in an epoch, no voucher."""

    def __init__(self, accrual):
        epoch = accrual["epoch"] if accrual is not None else None
        where = f"epoch {epoch}" if epoch is not None else "the current reward epoch (not closed yet)"
        super().__init__(f"this workout was accepted while your tenant paid rewards by epochs: its reward accrues "
                         f"to {where} and is claimed with that epoch's Merkle proof "
                         "(GET /rewards/epochs/{epoch}/proofs/{address}), not with a voucher")


UNIX_EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    """A UTC date as the contract counts days: unix time // 86400."""
    return (day - UNIX_EPOCH).days


def voucher_deadline(now: datetime, ttl_seconds: int) -> int:
    """`ttl_seconds` from now, but never past the end of the next UTC day: the contract no longer redeems
    the voucher after that, and its status must say `expired` when it no longer can be claimed."""
    last_redeemable = datetime.combine(now.date() + timedelta(days=2), time(0, tzinfo=UTC)) - timedelta(
        seconds=1)
    return int(min(now + timedelta(seconds=ttl_seconds), last_redeemable).timestamp())


def claim_id_of(sequence_number: int) -> str:
    """The claim id of the `sequence_number`th voucher: the number as a 32-byte big-endian word, in hex."""
    return "0x" + sequence_number.to_bytes(32, "big").hex()


@dataclass(frozen=True)
class Asked:
    """What a voucher request finds: the workout (None: there is none), its voucher if it has one, and whether
    it accrued to an epoch instead."""
    workout: dict | None
    voucher: dict | None
    accrued: bool


@dataclass(frozen=True)
class Issued:
    voucher: dict
    created: bool


def voucher_of(row: asyncpg.Record) -> dict:
    """A `vouchers` row as the API shows and the contract takes it (amount as a string, `day` as a number)."""
    voucher = dict(row)
    for name in ("tenant_id", "user_id", "workout_id"):
        voucher[name] = str(row[name])
    voucher["amount"] = str(int(row["amount"]))  # numeric comes back as Decimal: str() may say 5.000E+19
    voucher["day"] = day_number(row["issued_day"])  # the day the voucher is charged to (it signs it)
    return voucher


class Vouchers:
    """`pool` may skip the reset query on release (core/db.py transaction_scoped_reset): every statement here
    leaves nothing behind past its transaction (the advisory lock is pg_advisory_xact_lock); keep it so."""

    def __init__(self, pool: asyncpg.Pool, chain: RewardsChain, settings: Settings):
        self.pool = pool
        self.chain = chain
        self.settings = settings

    @cached_property
    def _signer(self) -> Signer:
        """The attestor (its key file read, or generated for dev, on the first voucher; or a remote signer)."""
        return self.settings.attestor_signer()

    async def existing(self, claim_id: str) -> dict | None:
        row = await self.pool.fetchrow("SELECT * FROM vouchers WHERE claim_id = $1", claim_id)
        return voucher_of(row) if row else None

    async def asked(self, workout_id: str) -> Asked:
        """What a voucher request for `workout_id` starts from, in one round trip: the workout, its voucher if
        it has one, and whether it accrued to an epoch instead."""
        row = await self.pool.fetchrow(
            f"SELECT {WORKOUT_COLUMNS}, (SELECT v FROM vouchers v WHERE v.workout_id = workouts.id) AS voucher, "
            "EXISTS (SELECT 1 FROM epoch_accruals a WHERE a.workout_id = workouts.id) AS accrued "
            "FROM workouts WHERE id = $1::uuid", workout_id)
        if row is None:
            return Asked(None, None, False)
        workout = workout_dict(row)
        voucher, accrued = workout.pop("voucher"), workout.pop("accrued")
        return Asked(workout, voucher_of(voucher) if voucher is not None else None, accrued)

    async def issue(self, asked: Asked, account: str) -> Issued:
        workout = asked.workout
        if asked.voucher is not None:
            return Issued(asked.voucher, created=False)
        if workout["status"] != "accepted":
            raise NotRewardable("this workout was refused by the anti-cheat checks; it earns nothing")
        if asked.accrued:
            raise EpochRewarded(await epoch_accrual(self.pool, workout["id"]))
        wanted = reward_wei(workout)
        if wanted <= 0:
            raise NotRewardable(f"a {workout['activity']} without distance earns nothing under the reward policy")
        account = account.lower()
        now = self.settings.now()
        day = now.date()
        limits = await self.chain.voucher_limits(to_checksum_address(account), day_number(day))
        contract = self.chain.contract
        async with self.pool.acquire() as connection, connection.transaction():
            # One issuer per account at a time: the daily sum below cannot be raced past the cap.
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"vouchers:{account}")
            # The amount: the policy's, cut to the daily cap less what was issued for the day, to what the chain
            # says is left of it and to the epoch's budget; and a claim id from the sequence only when it is
            # positive (a refusal does not use one up).
            raced, amount, sequence_number = await connection.fetchrow(
                "SELECT raced, amount, CASE WHEN NOT raced AND amount > 0 THEN nextval('voucher_claim_ids') END "
                "FROM (SELECT EXISTS (SELECT 1 FROM vouchers WHERE workout_id = $1::uuid) AS raced, "
                "least($4::numeric, $5::numeric - (SELECT coalesce(sum(amount), 0) FROM vouchers "
                "WHERE account = $2 AND issued_day = $3), $6::numeric, $7::numeric) AS amount) AS ask",
                workout["id"], account, day, wanted, limits.daily_cap, limits.daily_remaining, limits.epoch_remaining)
            if raced:
                return Issued(await self._voucher_for(connection, workout["id"]), created=False)
            amount = int(amount)
            if amount <= 0:
                if limits.epoch_remaining <= 0:
                    raise NotRewardable("the current reward epoch's budget is spent: try again next epoch")
                raise NotRewardable(f"daily reward cap of {limits.daily_cap / FIT:g} FIT reached for {account}: "
                                    "try again tomorrow (UTC)")
            deadline = voucher_deadline(now, self.settings.voucher_ttl_seconds)
            claim_id = await self._unpaid_claim_id(connection, sequence_number)
            voucher = RewardVoucher(account=account, amount=amount, claim_id=bytes.fromhex(claim_id[2:]),
                                    day=day_number(day), deadline=deadline)
            with tracer().start_as_current_span("sign voucher", attributes={
                    "fitmint.voucher.claim_id": claim_id, "fitmint.voucher.amount": str(amount)}):
                signature = "0x" + (await self._signer.sign_message(VoucherMessage(
                    voucher, chain_id=self.settings.chain_id, verifying_contract=contract))).hex()
            issued = ev.RewardIssued(
                claim_id=claim_id, account=account, amount=str(amount), day=day_number(day), deadline=deadline,
                workout_id=str(workout["id"]), user_id=str(workout["user_id"]), tenant_id=str(workout["tenant_id"]),
                contract=contract, chain_id=self.settings.chain_id)
            event = Outgoing(ev.voucher_issued_id(claim_id), ev.REWARD_ISSUED, issued, now)
            # The workout's one reward (migration 0014), the voucher and its event (the outbox) in one statement. A
            # workout accrued to an epoch has its workout_rewards row already: no voucher, and the transaction
            # (with the event) is undone.
            row = await connection.fetchrow(
                "WITH reward AS (INSERT INTO workout_rewards (workout_id, mode) VALUES ($4::uuid, 'voucher') "
                "ON CONFLICT (workout_id) DO NOTHING RETURNING workout_id), "
                f"event AS ({insert_statement(first=14)}) "
                "INSERT INTO vouchers (claim_id, tenant_id, user_id, workout_id, account, amount, deadline, chain_id, "
                "contract, attestor, signature, issued_at, issued_day) SELECT $1, $2::uuid, $3::uuid, workout_id, $5, "
                "$6, $7, $8, $9, $10, $11, $12, $13 FROM reward RETURNING *",
                claim_id, workout["tenant_id"], workout["user_id"], workout["id"], account, amount, deadline,
                self.settings.chain_id, contract, self._signer.address, signature, now, day,
                *insert_arguments([event]))
            if row is None:
                raise EpochRewarded(await connection.fetchrow(
                    "SELECT * FROM epoch_accruals WHERE workout_id = $1::uuid", workout["id"]))
        return Issued(voucher_of(row), created=True)

    async def _unpaid_claim_id(self, connection: asyncpg.Connection, sequence_number: int) -> str:
        """The claim id of `sequence_number`, or of the next number in sequence the contract has not paid yet."""
        while await self.chain.claim_paid(claim_id := claim_id_of(sequence_number)):
            sequence_number = await connection.fetchval("SELECT nextval('voucher_claim_ids')")
        return claim_id

    @staticmethod
    async def _voucher_for(connection: asyncpg.Connection, workout_id: str) -> dict:
        return voucher_of(await connection.fetchrow("SELECT * FROM vouchers WHERE workout_id = $1::uuid", workout_id))

    async def list_for_user(self, user_id: str, *, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
        before, before_claim = decode_cursor(cursor)
        rows = await self.pool.fetch(
            "SELECT * FROM vouchers WHERE user_id = $1::uuid AND (issued_at, claim_id) < ($2, $3) "
            "ORDER BY issued_at DESC, claim_id DESC LIMIT $4", user_id, before, before_claim, limit + 1)
        return page(rows, limit, "issued_at", "claim_id", voucher_of)


async def claim_states(indexer_pool: asyncpg.Pool | None, vouchers: list[dict],
                       now: datetime) -> tuple[dict[str, dict], int | None]:
    """Each voucher's status from the indexed chain: claimed (with its block and tx), expired (deadline
    passed unclaimed) or issued; and the block the answer is consistent at (None: no indexer data)."""
    claimed, block = {}, None
    if indexer_pool is not None and vouchers:
        try:
            # One statement is one snapshot: the claims and the head agree (one round trip, no transaction).
            rows = await indexer_pool.fetch(
                "SELECT h.block_number AS head, c.claim_id, c.block_number, c.tx_hash FROM (VALUES (1)) AS one "
                "LEFT JOIN indexed_head_v1 h ON true "
                "LEFT JOIN wallet_claims_v1 c ON c.claim_id = ANY($1::text[])", [v["claim_id"] for v in vouchers])
        except asyncpg.UndefinedTableError:  # the indexer has not started on this database yet
            rows = []
        block = rows[0]["head"] if rows else None
        claimed = {r["claim_id"]: r for r in rows if r["claim_id"] is not None}
    states = {}
    for voucher in vouchers:
        row = claimed.get(voucher["claim_id"])
        if row is not None:
            states[voucher["claim_id"]] = {"status": "claimed", "claimed_block": row["block_number"],
                                           "claimed_tx": row["tx_hash"]}
        elif voucher["deadline"] < now.timestamp():
            states[voucher["claim_id"]] = {"status": "expired"}
        else:
            states[voucher["claim_id"]] = {"status": "issued"}
    return states, block
