"""What the API reads from ActivityRewards before it signs a voucher: the daily cap, what an account
may still receive for a UTC day, and what the current epoch may still emit; and what the epoch closing job
reads and sends: the epoch schedule, an epoch's remaining budget, `postEpochRoot` call data (through the
chain gateway)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backend.app.core.config import Settings
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


class RewardsChain:
    def __init__(self, settings: Settings):
        self.gateway = ChainGateway.from_settings(settings, timeout=5)

    @property
    def contract(self) -> str:
        """The ActivityRewards address, lowercase (as vouchers record it); ChainUnavailable without a deployment."""
        return self.gateway.address(CONTRACT).lower()

    async def daily_cap(self) -> int:
        return await self.gateway.call(CONTRACT, "dailyCap")

    async def daily_remaining(self, account: str, day: int) -> int:
        """What vouchers may still charge to `account`'s cap for UTC `day` (unix time // 86400); the
        contract answers 0 for any day but today and yesterday (the days a voucher can be redeemed on)."""
        return await self.gateway.call(CONTRACT, "dailyRemaining", account, day)

    async def claim_paid(self, claim_id: str) -> bool:
        """Whether the contract has paid claim id `claim_id` (0x + 64 hex digits)."""
        return await self.gateway.call(CONTRACT, "isClaimPaid", bytes.fromhex(claim_id[2:]))

    async def epoch_remaining(self) -> int:
        epoch = await self.gateway.call(CONTRACT, "currentEpoch")
        budget = await self.gateway.call(CONTRACT, "epochBudget", epoch)
        emitted = await self.gateway.call(CONTRACT, "epochEmitted", epoch)
        return max(0, budget - emitted)

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
