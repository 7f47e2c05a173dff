"""FIT amounts: integers of the token's smallest unit (18 decimals) in the client, text for people."""

import re

from fitmint_client.errors import FitmintInputError

DECIMALS = 18
FIT = 10**DECIMALS
_AMOUNT = re.compile(r"^(\d+)(?:\.(\d+))?$")


def format_fit(wei: int) -> str:
    """`1500000000000000000` -> "1.5" (exact: no float, no trailing zeros)."""
    sign, wei = ("-", -wei) if wei < 0 else ("", wei)
    whole, fraction = divmod(wei, FIT)
    digits = f"{fraction:0{DECIMALS}d}".rstrip("0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


def parse_fit(text: str) -> int:
    """"1.5" -> 1500000000000000000; refuses what is not a plain non-negative decimal with at most 18 decimals."""
    match = _AMOUNT.match(str(text).strip())
    if match is None or len(match.group(2) or "") > DECIMALS:
        raise FitmintInputError(f"{text!r} is not an amount of FIT (digits, optionally a point and at most "
                                f"{DECIMALS} decimals, e.g. 1.5)")
    whole, fraction = match.group(1), (match.group(2) or "")
    return int(whole) * FIT + int(fraction.ljust(DECIMALS, "0"))
