"""The client's exceptions: refused input (before anything is sent), an API refusal (status and reason),
a chain refusal (the decoded custom error, in words), and waiting that ran out."""

from typing import Any


class FitmintError(Exception):
    """Base of every error the client raises on purpose."""


class FitmintInputError(FitmintError, ValueError):
    """The input was refused by the client itself, before any request (a malformed address, a quantity of 0)."""


class FitmintApiError(FitmintError):
    """The API answered with an error status.

    `detail` is its reason in words; `reasons` lists each reason when there are several (a refused
    workout's anti-cheat findings, each field a validation error names)."""

    def __init__(self, status: int, detail: str, reasons: list[str] | None = None, body: Any = None):
        self.status = status
        self.detail = detail
        self.reasons = list(reasons or [])
        self.body = body
        super().__init__(f"{status}: {detail}")


class FitmintChainError(FitmintError):
    """The chain refused a call or a transaction.

    `error_name` is the contract's custom error (e.g. "MarketPriceAboveLimit"; None when the node gave a
    reason that is not one), `error_args` its decoded arguments by name (`args` is Python's own exception
    tuple), `message` what happened in words, `tx_hash` the transaction when one was mined and reverted."""

    def __init__(self, message: str, error_name: str | None = None, error_args: dict[str, Any] | None = None,
                 tx_hash: str | None = None):
        self.message = message
        self.error_name = error_name
        self.error_args = dict(error_args or {})
        self.tx_hash = tx_hash
        super().__init__(message)


class FitmintTimeout(FitmintError, TimeoutError):
    """Something the client waits for (a receipt, the indexer, a notification) did not come in time."""
