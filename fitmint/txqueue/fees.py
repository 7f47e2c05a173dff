"""The EIP-1559 fee policy: what a first attempt offers, and the bump a replacement offers, under a cap."""

from dataclasses import dataclass

GWEI = 10**9


class FeeCapReached(Exception):
    """The policy's cap leaves no fee that would be included (or, for a replacement, accepted by the node)."""


@dataclass(frozen=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


def _raised(amount: int, percent: int) -> int:
    return -(-amount * (100 + percent) // 100)  # rounded up


@dataclass(frozen=True)
class FeePolicy:
    max_fee_cap: int = 500 * GWEI           # never offer more per gas than this
    max_priority_fee_cap: int = 50 * GWEI
    base_fee_headroom: int = 2              # max fee = headroom x base fee + tip: rides out base fee rises
    bump_percent: int = 13                  # nodes refuse a replacement under +10% on both fees (geth, Anvil)
    replacement_minimum_percent: int = 10

    def initial(self, base_fee: int, suggested_tip: int) -> Fees:
        tip = min(suggested_tip, self.max_priority_fee_cap)
        max_fee = min(self.base_fee_headroom * base_fee + tip, self.max_fee_cap)
        if max_fee < base_fee:
            raise FeeCapReached(f"the base fee {base_fee} is above the cap {self.max_fee_cap}")
        return Fees(max_fee, min(tip, max_fee))

    def bump(self, previous: Fees, base_fee: int, suggested_tip: int) -> Fees:
        """A replacement's fees: at least +bump_percent on both, and enough for today's base fee."""
        tip = min(max(_raised(previous.max_priority_fee_per_gas, self.bump_percent), suggested_tip),
                  self.max_priority_fee_cap)
        max_fee = min(max(_raised(previous.max_fee_per_gas, self.bump_percent),
                          self.base_fee_headroom * base_fee + tip), self.max_fee_cap)
        tip = min(tip, max_fee)
        minimum = self.replacement_minimum_percent
        if tip < _raised(previous.max_priority_fee_per_gas, minimum) or max_fee < _raised(previous.max_fee_per_gas,
                                                                                          minimum):
            raise FeeCapReached(f"a replacement needs +{minimum}% on {previous}, the cap allows {max_fee}/{tip}")
        return Fees(max_fee, tip)
