"""What the API reads from ActivityRewards before it signs a voucher: the daily cap, what an account
may still receive for a UTC day, and what the current epoch may still emit; and what the epoch closing job
reads and sends: the epoch schedule, an epoch's remaining budget, `postEpochRoot` call data (through the
chain gateway)."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backend.app.core.config import Settings
from fitmint.chain.coalesce import CoalescedReads
from fitmint.chain.gateway import ChainGateway

CONTRACT = "ActivityRewards"


@dataclass(frozen=True)
class EpochSchedule:
    """Epoch n runs [genesis + n * duration, genesis + (n + 1) * duration) in block time."""
    genesis: int
    duration: int

    def epoch_at(self, when: datetime) -> int:
        """The epoch `when` falls in (0 before genesis: nothing is earlier)."""
        return max(0, (int(when.timestamp()) - self.genesis) // self.duration)

    def starts_at(self, epoch: int) -> datetime:
        return datetime.fromtimestamp(self.genesis, UTC) + timedelta(seconds=epoch * self.duration)

    def ends_at(self, epoch: int) -> datetime:
        return self.starts_at(epoch + 1)


@dataclass(frozen=True)
class VoucherLimits:
    daily_cap: int
    # Of the account's cap for the day asked about (unix time // 86400); the contract answers 0 for any day but
    # today and yesterday (the days a voucher can be redeemed on).
    daily_remaining: int
    epoch_remaining: int  # of the current epoch's budget


class RewardsChain:
    def __init__(self, settings: Settings):
        self.gateway = ChainGateway.from_settings(settings, timeout=5)
        self.reads = CoalescedReads(self.gateway)  # the voucher endpoint's guard reads, batched across requests
        self._epoch: int | None = None  # the current epoch as last read: its budget is asked with the rest

    @property
    def contract(self) -> str:
        """The ActivityRewards address, lowercase (as vouchers record it); ChainUnavailable without a deployment."""
        return self.gateway.address(CONTRACT).lower()

    async def voucher_limits(self, account: str, day: int) -> VoucherLimits:
        """What a voucher for `account` on UTC `day` may still be: the daily cap, what is left of the account's cap
        for the day, what is left of the current epoch's budget. Read now, in the batch that carries the reads
        of every voucher in flight (CoalescedReads); the budget and emission of the epoch last seen go with
        them, and are read again only when the current epoch turns out to be another one."""
        read = self.reads.call
        guessed = self._epoch
        asked = [read(CONTRACT, "dailyCap"), read(CONTRACT, "dailyRemaining", account, day),
                 read(CONTRACT, "currentEpoch")]
        if guessed is not None:
            asked += [read(CONTRACT, "epochBudget", guessed), read(CONTRACT, "epochEmitted", guessed)]
        daily_cap, daily_remaining, epoch, *budget_emitted = await asyncio.gather(*asked)
        if epoch != guessed:
            self._epoch = epoch
            budget_emitted = await asyncio.gather(read(CONTRACT, "epochBudget", epoch),
                                                  read(CONTRACT, "epochEmitted", epoch))
        budget, emitted = budget_emitted
        return VoucherLimits(daily_cap, daily_remaining, max(0, budget - emitted))

    async def claim_paid(self, claim_id: str) -> bool:
        """Whether the contract has paid claim id `claim_id` (0x + 64 hex digits), read now (batched)."""
        return await self.reads.call(CONTRACT, "isClaimPaid", bytes.fromhex(claim_id[2:]))

    async def schedule(self) -> EpochSchedule:
        genesis, duration, _, _ = await self.gateway.call(CONTRACT, "schedule")
        return EpochSchedule(genesis, duration)

    async def current_epoch(self) -> int:
        return await self.gateway.call(CONTRACT, "currentEpoch")

    async def remaining_budget(self, epoch: int) -> int:
        """What a root posted for `epoch` may still total (the contract refuses more)."""
        budget = await self.gateway.call(CONTRACT, "epochBudget", epoch)
        return max(0, budget - await self.gateway.call(CONTRACT, "epochEmitted", epoch))

    def post_root_calldata(self, epoch: int, root: bytes, total: int) -> bytes:
        return self.gateway.abi(CONTRACT).function("postEpochRoot", (epoch, root, total))[1]

    async def close(self) -> None:
        await self.gateway.close()
