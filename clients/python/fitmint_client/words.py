"""The contracts' custom errors in words a member understands, from the error's name and decoded arguments
(names and argument names are the compiled ABIs'; see contracts/interfaces/*.sol). The sentences are the
TypeScript SDK's (clients/ts/src/errors.ts), so both clients say the same thing."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from eth_utils import to_checksum_address

from fitmint_client.units import format_fit

PANICS = {0x01: "an assertion failed", 0x11: "an arithmetic overflow or underflow", 0x12: "a division by zero",
          0x21: "an invalid enum value", 0x31: "pop on an empty array", 0x32: "an array index out of bounds",
          0x41: "too much memory allocated", 0x51: "a call to an uninitialised function"}
NOT_GENUINE = "the voucher was altered or is not genuine."


def fit(wei) -> str:
    return f"{format_fit(int(wei))} FIT"


def when(unix_seconds) -> str:
    """ISO 8601 in UTC, e.g. 2026-11-30T12:00:00Z."""
    return datetime.fromtimestamp(int(unix_seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(unix_day) -> str:
    return datetime.fromtimestamp(int(unix_day) * 86400, UTC).strftime("%Y-%m-%d")


def address(value) -> str:
    return to_checksum_address(value)


TEMPLATES: dict[str, Callable[[dict[str, Any]], str]] = {
    # Marketplace
    "MarketPriceAboveLimit": lambda a: (
        f"The price went up since your quote: listing {a['listingId']} now costs {fit(a['unitPrice'])} each and "
        f"the quote allowed at most {fit(a['maxUnitPrice'])}. Ask for a new quote."),
    "MarketInsufficientSupply": lambda a: (
        f"Listing {a['listingId']} has only {a['remaining']} left and {a['requested']} were asked for."),
    "MarketListingClosed": lambda a: f"Listing {a['listingId']} is closed: it sold out or was cancelled.",
    "MarketUnknownListing": lambda a: f"There is no listing {a['listingId']}.",
    "MarketZeroQuantity": lambda a: "Buy or list at least one item.",
    "MarketZeroPrice": lambda a: "A price must be more than 0 FIT.",
    "MarketNotListingOwner": lambda a: (
        f"Only the seller may change listing {a['listingId']}; {address(a['caller'])} is not."),
    "MarketNotPrimaryListing": lambda a: (
        f"Listing {a['listingId']} is a resale: only primary listings can change supply."),
    "MarketInvalidAddress": lambda a: f"{address(a['account'])} cannot be used here.",
    "MarketUnexpectedTransfer": lambda a: "The marketplace only accepts items it is escrowing for a listing.",
    "MarketIntentExpired": lambda a: (
        f"This signed purchase expired at {when(a['deadline'])}: ask for a new quote and sign again."),
    "MarketInvalidIntentSignature": lambda a: (
        f"The purchase was not signed by {address(a['buyer'])}: it was altered or is not genuine."),
    # ActivityRewards
    "RewardsVoucherExpired": lambda a: (
        f"This reward voucher expired at {when(a['deadline'])}: it can no longer be claimed."),
    "RewardsVoucherDayOutOfRange": lambda a: (
        f"This voucher is for {day(a['day'])} (UTC) and can be claimed only on that day or the next; today is "
        f"{day(a['today'])}."),
    "RewardsClaimAlreadyPaid": lambda a: "This reward was already claimed: its FIT were paid once.",
    "RewardsUnauthorizedAttestor": lambda a: (
        f"The voucher's signature is not a fitmint attestor's (it recovers to {address(a['signer'])}): "
        + NOT_GENUINE),
    "RewardsDailyCapExceeded": lambda a: (
        f"The daily reward cap of {address(a['account'])} is reached: this voucher pays {fit(a['requested'])} but "
        f"only {fit(a['available'])} may still be claimed for its day."),
    "RewardsEpochBudgetExceeded": lambda a: (
        f"The reward budget of epoch {a['epoch']} is spent: {fit(a['requested'])} asked, {fit(a['available'])} left."),
    "RewardsInvalidAccount": lambda a: "The voucher names no account to pay.",
    "RewardsZeroAmount": lambda a: "The voucher pays nothing.",
    "ECDSAInvalidSignature": lambda a: "The signature is malformed: " + NOT_GENUINE,
    "ECDSAInvalidSignatureLength": lambda a: "The signature has the wrong length: " + NOT_GENUINE,
    "ECDSAInvalidSignatureS": lambda a: "The signature is malformed: " + NOT_GENUINE,
    # FitToken (through a purchase) and FitItems (through a resale)
    "ERC20InsufficientBalance": lambda a: (
        f"Not enough FIT: the wallet holds {fit(a['balance'])} and this needs {fit(a['needed'])}."),
    "ERC20InsufficientAllowance": lambda a: (
        f"The marketplace may spend only {fit(a['allowance'])} of your FIT and this needs {fit(a['needed'])}."),
    "ERC2612ExpiredSignature": lambda a: f"The permit expired at {when(a['deadline'])}: ask for a new quote.",
    "ERC2612InvalidSigner": lambda a: (
        "The permit was not signed by the buying wallet (or the quote is stale): ask for a new quote."),
    "InvalidAccountNonce": lambda a: (
        "The permit or signed purchase was already used (or cancelled), or another is still ahead of it: "
        "ask for a new quote."),
    "ERC1155MissingApprovalForAll": lambda a: (
        "The marketplace may not move your items yet: approve it for FitItems first."),
    "ERC1155InsufficientBalance": lambda a: (
        f"You hold {a['balance']} of item {a['tokenId']} and this needs {a['needed']}."),
    "ERC20ExceededCap": lambda a: (
        f"FIT's supply cap of {fit(a['cap'])} would be exceeded (to {fit(a['increasedSupply'])})."),
    "EnforcedPause": lambda a: "The contract is paused: try again later.",
    "AccessControlUnauthorizedAccount": lambda a: f"{address(a['account'])} is not allowed to do this.",
    # Solidity's own
    "Error": lambda a: f"The contract refused: {a['message']}",
    "Panic": lambda a: (f"The contract failed: {PANICS.get(int(a['code']), 'a panic')} "
                        f"(panic code {int(a['code']):#x})."),
}


def describe(error_name: str, args: dict[str, Any] | None) -> str:
    """Words for a decoded error; its name and arguments when no sentence fits."""
    template = TEMPLATES.get(error_name)
    if template is not None and args is not None:
        try:
            return template(args)
        except (KeyError, ValueError, TypeError):  # an ABI whose argument names moved on: say it plainly
            pass
    return f"The contract refused: {error_name}({', '.join(str(value) for value in (args or {}).values())})."
