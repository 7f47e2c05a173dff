"""The contracts' custom errors in words a member understands, from the error's name and decoded
arguments (the names and argument names are the compiled ABIs'; see contracts/interfaces/*.sol)."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fitmint_client.units import format_fit

PANICS = {0x01: "an assertion failed", 0x11: "an arithmetic overflow or underflow", 0x12: "a division by zero",
          0x21: "an invalid enum value", 0x31: "pop on an empty array", 0x32: "an array index out of bounds",
          0x41: "too much memory allocated", 0x51: "a call to an uninitialised function"}


def fit(wei) -> str:
    return f"{format_fit(int(wei))} FIT"


def when(unix_seconds) -> str:
    return datetime.fromtimestamp(int(unix_seconds), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def day(unix_day) -> str:
    return datetime.fromtimestamp(int(unix_day) * 86400, UTC).strftime("%Y-%m-%d")


TEMPLATES: dict[str, Callable[[dict[str, Any]], str]] = {
    # Marketplace
    "MarketPriceAboveLimit": lambda a: (
        f"The price went up since your quote: listing {a['listingId']} now costs {fit(a['unitPrice'])} each and "
        f"the quote allowed at most {fit(a['maxUnitPrice'])}. Ask for a new quote."),
    "MarketInsufficientSupply": lambda a: (
        f"Listing {a['listingId']} has only {a['remaining']} left and {a['requested']} were asked for."),
    "MarketListingClosed": lambda a: f"Listing {a['listingId']} is closed: sold out or cancelled.",
    "MarketUnknownListing": lambda a: f"There is no listing {a['listingId']}.",
    "MarketZeroQuantity": lambda a: "The quantity must be at least 1.",
    "MarketZeroPrice": lambda a: "The price must be more than 0 FIT.",
    "MarketNotListingOwner": lambda a: (
        f"Only the seller of listing {a['listingId']} may change it, and {a['caller']} is not its seller."),
    "MarketNotPrimaryListing": lambda a: f"Listing {a['listingId']} is a resale listing: its supply is fixed.",
    "MarketInvalidAddress": lambda a: f"{a['account']} is not a valid address here.",
    "EnforcedPause": lambda a: "The contract is paused: nothing can be bought or claimed until it is unpaused.",
    # ActivityRewards
    "RewardsClaimAlreadyPaid": lambda a: (
        f"This voucher was already claimed: claim {a['claimId']} has been paid, and a voucher pays only once."),
    "RewardsVoucherExpired": lambda a: (
        f"This voucher expired at {when(a['deadline'])} (claim {a['claimId']}): it can no longer be claimed."),
    "RewardsVoucherDayOutOfRange": lambda a: (
        f"This voucher counts for {day(a['day'])} and can be claimed only that day or the next; today is "
        f"{day(a['today'])}."),
    "RewardsZeroAmount": lambda a: f"This voucher pays nothing (claim {a['claimId']}).",
    "RewardsInvalidAccount": lambda a: f"This voucher names no account to pay (claim {a['claimId']}).",
    "RewardsUnauthorizedAttestor": lambda a: (
        f"This voucher's signature is not from an attestor the contract trusts (it recovers to {a['signer']})."),
    "RewardsDailyCapExceeded": lambda a: (
        f"The daily reward cap of {a['account']} is reached: this voucher pays {fit(a['requested'])} and only "
        f"{fit(a['available'])} can still be paid for that day."),
    "RewardsEpochBudgetExceeded": lambda a: (
        f"This epoch's reward budget is spent: {fit(a['requested'])} asked, {fit(a['available'])} left."),
    # FitToken (its errors surface through the marketplace's transfers)
    "ERC20InsufficientBalance": lambda a: (
        f"The wallet {a['sender']} holds {fit(a['balance'])} and {fit(a['needed'])} are needed."),
    "ERC20InsufficientAllowance": lambda a: (
        f"{a['spender']} may spend {fit(a['allowance'])} of your FIT and needs {fit(a['needed'])}: the permit was "
        "not applied (expired, or signed for another amount or nonce). Ask for a new quote."),
    "ERC2612ExpiredSignature": lambda a: f"The permit expired at {when(a['deadline'])}. Ask for a new quote.",
    "ERC2612InvalidSigner": lambda a: (
        f"The permit was signed by {a['signer']}, not by the wallet that pays ({a['owner']})."),
    # FitItems
    "ERC1155MissingApprovalForAll": lambda a: (
        f"{a['owner']} has not allowed {a['operator']} to move its items: call FitItems.setApprovalForAll first."),
    "ERC1155InsufficientBalance": lambda a: (
        f"{a['sender']} holds {a['balance']} of item {a['tokenId']} and {a['needed']} are needed."),
    "AccessControlUnauthorizedAccount": lambda a: f"{a['account']} does not have the role this needs.",
    # Solidity's own
    "Error": lambda a: f"The contract refused: {a['message']}",
    "Panic": lambda a: (f"The contract failed: {PANICS.get(int(a['code']), 'panic')} "
                        f"(panic code {int(a['code']):#x})."),
}


def describe(error_name: str, args: dict[str, Any] | None, action: str) -> str:
    """Words for a decoded error raised by `action` ("Contract.function")."""
    template = TEMPLATES.get(error_name)
    if template is not None and args is not None:
        try:
            return template(args)
        except (KeyError, ValueError, TypeError):  # an ABI whose argument names moved on: say it plainly
            pass
    shown = ", ".join(f"{name}={value}" for name, value in (args or {}).items())
    return f"The chain refused {action}: {error_name}({shown})."
