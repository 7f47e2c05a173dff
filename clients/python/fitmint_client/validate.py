"""Client-side checks of what a caller passes in, refused with a message saying what is wrong before
anything is sent."""

import re

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_checksum_address, to_checksum_address

from fitmint_client.errors import FitmintInputError

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_PRIVATE_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_CLAIM_ID = re.compile(r"^0x[0-9a-fA-F]{64}$")


def address(value, what: str = "address") -> str:
    """An Ethereum address, EIP-55 checksummed. All-lowercase or all-uppercase hex is accepted as it
    carries no checksum; mixed case must be a valid checksum (a typo otherwise)."""
    if not isinstance(value, str) or not _HEX_ADDRESS.match(value):
        raise FitmintInputError(f"{what} {value!r} is not an Ethereum address (0x followed by 40 hex digits)")
    digits = value[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(value):
        raise FitmintInputError(f"{what} {value} has mixed case that is not its EIP-55 checksum: a typo? "
                                f"(the checksummed form is {to_checksum_address(value)})")
    return to_checksum_address(value)


def whole_number(value, what: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    """An int (not a bool, a float or text) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FitmintInputError(f"{what} must be a whole number, not {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise FitmintInputError(f"{what} must be {bounds}, not {value}")
    return value


def claim_id(value) -> str:
    """A voucher's claim id: 0x and 32 bytes in hex."""
    if not isinstance(value, str) or not _CLAIM_ID.match(value):
        raise FitmintInputError(f"claim id {value!r} is not 0x followed by 64 hex digits")
    return value.lower()


def quantity(value) -> int:
    return whole_number(value, "quantity", minimum=1, maximum=2**64 - 1)


def listing_id(value) -> int:
    return whole_number(value, "listing id", minimum=1, maximum=2**256 - 1)


def page_size(value) -> int:
    return whole_number(value, "limit", minimum=1, maximum=200)


def account(value) -> LocalAccount:
    """The member's signing key: an eth_account LocalAccount, or a 32-byte private key in hex."""
    if isinstance(value, LocalAccount):
        return value
    if isinstance(value, str) and _PRIVATE_KEY.match(value):
        return Account.from_key(value)
    raise FitmintInputError("the wallet must be an eth_account LocalAccount (Account.from_key(...)) or a private "
                            f"key as 64 hex digits, not a {type(value).__name__}")
