"""What the API reads from ActivityRewards before it signs a voucher: the daily cap, what an account
may still receive for a UTC day, and what the current epoch may still emit (through the chain gateway)."""

from backend.app.core.config import Settings
from fitmint.chain.gateway import ChainGateway

CONTRACT = "ActivityRewards"


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

    async def epoch_remaining(self) -> int:
        epoch = await self.gateway.call(CONTRACT, "currentEpoch")
        budget = await self.gateway.call(CONTRACT, "epochBudget", epoch)
        emitted = await self.gateway.call(CONTRACT, "epochEmitted", epoch)
        return max(0, budget - emitted)

    async def close(self) -> None:
        await self.gateway.close()
