"""The reward token's unit: FitToken has 18 decimals, so one FIT is 10**18 of its smallest unit (wei)."""

from decimal import Decimal

FIT = 10**18


def fit_text(wei) -> str:
    """A wei amount (int, decimal string or integral Decimal) as FIT, exact (no float on the way): "12.5", "0"."""
    amount = Decimal(int(wei)).scaleb(-18)
    return format(amount.normalize(), "f") if amount else "0"
