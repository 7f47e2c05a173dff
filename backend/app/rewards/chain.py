"""What the API reads from ActivityRewards before it signs a voucher: the daily cap, what an account
may still receive for a UTC day, and what the current epoch may still emit. Address from the deployment
manifest; calls by selector through the indexer's JSON-RPC client."""

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector

from backend.app.core.config import Settings
from fitmint.chain.manifest import Manifest
from fitmint.chain.rpc import Rpc


class ChainUnavailable(Exception):
    pass


def _calldata(signature: str, types: list[str] | None = None, values: list | None = None) -> str:
    selector = function_signature_to_4byte_selector(signature)
    return "0x" + (selector + (encode(types, values) if types else b"")).hex()


class RewardsChain:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._rpc: Rpc | None = None
        self._contract: str | None = None

    @property
    def contract(self) -> str:
        """The ActivityRewards address (lowercase) from the manifest; ChainUnavailable if there is none."""
        if self._contract is None:
            try:
                manifest = Manifest.load(self.settings.manifest_path())
                self._contract = manifest.contracts["ActivityRewards"].address
            except Exception as exc:  # noqa: BLE001 - no manifest / malformed: no vouchers, a clear 503
                raise ChainUnavailable(f"no ActivityRewards deployment: {exc}") from exc
        return self._contract

    async def _uint(self, signature: str, types=None, values=None) -> int:
        if self._rpc is None:
            self._rpc = Rpc(self.settings.fitmint_rpc_url, timeout=5)
        contract = self.contract
        try:
            result = await self._rpc.call("eth_call", {"to": contract, "data": _calldata(signature, types, values)},
                                          "latest")
        except Exception as exc:  # noqa: BLE001 - node down or contract missing: a clear 503
            raise ChainUnavailable(f"cannot read ActivityRewards at {self.settings.fitmint_rpc_url}: {exc}") from exc
        if result in ("0x", None):
            raise ChainUnavailable(f"no ActivityRewards contract at {contract} on this chain")
        return decode(["uint256"], bytes.fromhex(result[2:]))[0]

    async def daily_cap(self) -> int:
        return await self._uint("dailyCap()")

    async def daily_remaining(self, account: str, day: int) -> int:
        """What vouchers may still charge to `account`'s cap for UTC `day` (unix time // 86400); the
        contract answers 0 for any day but today and yesterday (the days a voucher can be redeemed on)."""
        return await self._uint("dailyRemaining(address,uint256)", ["address", "uint256"], [account, day])

    async def epoch_remaining(self) -> int:
        epoch = await self._uint("currentEpoch()")
        budget = await self._uint("epochBudget(uint256)", ["uint256"], [epoch])
        emitted = await self._uint("epochEmitted(uint256)", ["uint256"], [epoch])
        return max(0, budget - emitted)

    async def close(self) -> None:
        if self._rpc is not None:
            await self._rpc.close()
