"""Role changes through the admin timelock (OpenZeppelin's TimelockController, `contracts/governance/
AdminTimelock.sol`), the one admin of every deployed contract: what the admin CLI (`python -m
scripts.admin`), the deploy script and the tests schedule, execute and cancel. No I/O here: each caller
sends the timelock calls with its own client (web3, Ape).

An operation is one call of the timelock to one contract, `grantRole` or `revokeRole(role, account)`,
encoded with that contract's ABI from the deployment manifest. Its salt is derived from what it does and
a generation number, so the id of a change is deterministic: scheduling the same change twice finds the
pending one (instead of the timelock's bare `TimelockUnexpectedOperationState`), and the same change
can be made again after the last one was done (the next generation: grant, revoke, grant again).
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum

from eth_abi import decode, encode
from eth_utils import function_abi_to_4byte_selector, keccak, to_checksum_address
from eth_utils.abi import filter_abi_by_type, get_abi_input_types

from fitmint.chain.abi import ContractAbi

DEFAULT_ADMIN_ROLE = "DEFAULT_ADMIN_ROLE"
ROLE_ACTIONS = ("grant", "revoke")
OPEN_EXECUTION = "0x0000000000000000000000000000000000000000"  # an executor of address(0): anyone executes
NO_PREDECESSOR = bytes(32)
SALT_DOMAIN = "fitmint.admin.role-change.v1"


class State(IntEnum):
    """TimelockController.OperationState, in its order."""
    UNSET = 0  # never scheduled, or cancelled
    WAITING = 1  # scheduled, the delay not over
    READY = 2  # the delay is over: anyone (open execution) may execute it
    DONE = 3  # executed


def role_id(name: str) -> bytes:
    """The bytes32 of a role constant: keccak256 of its name, 0x00..00 for DEFAULT_ADMIN_ROLE."""
    return bytes(32) if name == DEFAULT_ADMIN_ROLE else keccak(text=name)


def role_names(abi: list[dict]) -> list[str]:
    """The role constants a contract's ABI declares (`X_ROLE()` views), DEFAULT_ADMIN_ROLE first."""
    names = [entry["name"] for entry in abi if entry.get("type") == "function" and entry["name"].endswith("_ROLE")
             and not entry.get("inputs") and entry.get("stateMutability") in ("view", "pure")]
    return sorted(set(names), key=lambda name: (name != DEFAULT_ADMIN_ROLE, name))


@dataclass(frozen=True)
class RoleChange:
    """Grant or revoke `role` of `account` on the manifest's contract `contract`."""
    action: str  # "grant" | "revoke"
    contract: str  # the manifest's name for it, e.g. "ActivityRewards"
    role: str  # the role constant's name, e.g. "ATTESTOR_ROLE"
    account: str

    def __post_init__(self):
        if self.action not in ROLE_ACTIONS:
            raise ValueError(f"a role change grants or revokes, not {self.action!r}")
        object.__setattr__(self, "account", to_checksum_address(self.account))

    def __str__(self) -> str:
        return f"{self.action} {self.contract}.{self.role} {'to' if self.action == 'grant' else 'from'} {self.account}"


@dataclass(frozen=True)
class Operation:
    """A timelock operation: TimelockController.schedule/execute's arguments, and what it does in words."""
    target: str
    value: int
    data: bytes
    predecessor: bytes
    salt: bytes
    description: str

    @property
    def id(self) -> bytes:
        """TimelockController.hashOperation."""
        return keccak(encode(["address", "uint256", "bytes", "bytes32", "bytes32"],
                             [self.target, self.value, self.data, self.predecessor, self.salt]))

    @property
    def call(self) -> tuple:
        """(target, value, data, predecessor, salt): `execute`'s arguments; `schedule` adds the delay."""
        return self.target, self.value, self.data, self.predecessor, self.salt


def role_change_operation(change: RoleChange, target: str, abi: list[dict], generation: int = 0) -> Operation:
    """The operation making `change` on the contract at `target` whose ABI is `abi`."""
    if change.role not in role_names(abi):
        raise ValueError(f"{change.contract} has no role {change.role} (it has {', '.join(role_names(abi))})")
    _, data = ContractAbi(change.contract, abi).function(f"{change.action}Role",
                                                          (role_id(change.role), change.account))
    salt = keccak(text=f"{SALT_DOMAIN}:{change.action}:{change.contract}:{change.role}:{change.account}:{generation}")
    return Operation(to_checksum_address(target), 0, data, NO_PREDECESSOR, salt, str(change))


def current_operation(change: RoleChange, target: str, abi: list[dict],
                      state_of: Callable[[bytes], State]) -> tuple[Operation, State]:
    """The first generation of `change` that is not done, and its state: UNSET (schedule it), WAITING or
    READY (already scheduled). `state_of(id)` reads TimelockController.getOperationState."""
    for generation in itertools.count():
        operation = role_change_operation(change, target, abi, generation)
        state = State(state_of(operation.id))
        if state != State.DONE:
            return operation, state
    raise AssertionError("unreachable")


def describe_call(data: bytes, contract: str | None, abi: list[dict] | None) -> str:
    """A scheduled call in words: "grant ActivityRewards.ATTESTOR_ROLE to 0x..." for a role change (the
    role named from the contract's ABI), else the function and its arguments."""
    if contract is None or abi is None:
        return f"call 0x{bytes(data).hex()} to a contract the manifest does not name"
    entry = next((entry for entry in filter_abi_by_type("function", abi)
                  if function_abi_to_4byte_selector(entry) == bytes(data[:4])), None)
    if entry is None:
        return f"{contract}: a call its ABI does not declare (0x{bytes(data).hex()})"
    values = decode(get_abi_input_types(entry), bytes(data[4:]))
    if entry["name"] in ("grantRole", "revokeRole"):
        roles = {role_id(role): role for role in role_names(abi)}
        role = roles.get(values[0], "0x" + values[0].hex())
        return str(RoleChange(entry["name"].removesuffix("Role"), contract, role, values[1]))
    return f"{contract}.{entry['name']}({', '.join(map(str, values))})"


def readiness(ready_at: int, now: int) -> str:
    """"ready at 2026-11-30 19:40:12 UTC, in 27 s" (or "ready since ...")."""
    when = datetime.fromtimestamp(ready_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if ready_at <= now:
        return f"ready since {when}"
    return f"ready at {when}, in {_duration(ready_at - now)}"


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7_200:
        return f"{seconds // 60} min {seconds % 60} s"
    if seconds < 2 * 86_400:
        return f"{seconds // 3_600} h {seconds % 3_600 // 60} min"
    return f"{seconds // 86_400} d {seconds % 86_400 // 3_600} h"
