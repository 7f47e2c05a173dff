"""The two ways talking to the chain fails, for every caller: the chain is not there (retry later), or
it said no (what it said, decoded from the ABI)."""

from dataclasses import dataclass
from typing import Any


class ChainUnavailable(Exception):
    """No deployment manifest, no answer from the node, no contract at the manifest's address, or a
    transaction not mined in time: the chain is not there to ask (a service answers 503)."""


@dataclass(frozen=True)
class DecodedError:
    """A revert's reason from the ABI: a custom error with its arguments (None when the data does not
    decode against the error's inputs), or Solidity's built-in Error(string) / Panic(uint256)."""

    name: str
    args: dict[str, Any] | None

    def __str__(self) -> str:
        if self.args is None:
            return f"{self.name}(?)"
        if self.name == "Error":
            return f"Error({self.args['message']!r})"
        if self.name == "Panic":
            return f"Panic({self.args['code']:#x})"
        return f"{self.name}({', '.join(f'{name}={_shown(value)}' for name, value in self.args.items())})"


def _shown(value) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_shown(v) for v in value) + ")"
    return str(value)  # eth_abi decodes addresses EIP-55 checksummed


class ChainReverted(Exception):
    """The chain refused `action` ("Contract.function"): a call or transaction reverted (`error`: the
    decoded custom error when the node returned its data) or the node refused the transaction (`reason`)."""

    def __init__(self, action: str, error: DecodedError | None = None, reason: str = ""):
        self.action, self.error, self.reason = action, error, reason
        super().__init__(f"the chain refused {action}: {error if error is not None else reason}")

    @property
    def name(self) -> str | None:
        """The custom error's name, e.g. "EnforcedPause"; None when the reason is not a decoded error."""
        return self.error.name if self.error is not None else None
