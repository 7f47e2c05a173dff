"""A contract's ABI (as the API serves it, compiled) as a codec: call data from a function's inputs, call
results, event logs, and revert data as a named custom error with its arguments. No I/O."""

from typing import Any

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils import (
    event_abi_to_log_topic,
    function_abi_to_4byte_selector,
    to_bytes,
    to_checksum_address,
)
from eth_utils.abi import collapse_if_tuple

# Solidity's own revert reasons, valid for every contract.
BUILTIN_ERRORS = (
    {"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
)


class ContractAbi:
    def __init__(self, name: str, entries: list[dict]):
        self.name = name
        self.entries = entries
        self.functions = {entry["name"]: entry for entry in entries if entry.get("type") == "function"}
        self.events = {"0x" + event_abi_to_log_topic(entry).hex(): entry
                       for entry in entries if entry.get("type") == "event" and not entry.get("anonymous")}
        self.errors = {function_abi_to_4byte_selector(entry): entry
                       for entry in [*(e for e in entries if e.get("type") == "error"), *BUILTIN_ERRORS]}

    def function(self, name: str) -> dict:
        if name not in self.functions:
            raise KeyError(f"{self.name} has no function {name}")
        return self.functions[name]

    def call_data(self, name: str, args: tuple | list) -> bytes:
        """Selector and encoded arguments. Arguments may be given loosely: ints or decimal strings for
        integers, hex strings for bytes, any-case addresses, mappings (by component name) for structs."""
        entry = self.function(name)
        inputs = entry["inputs"]
        if len(args) != len(inputs):
            raise TypeError(f"{self.name}.{name} takes {len(inputs)} arguments, {len(args)} given")
        values = [_coerce(parameter, value) for parameter, value in zip(inputs, args, strict=True)]
        return function_abi_to_4byte_selector(entry) + encode([collapse_if_tuple(p) for p in inputs], values)

    def result(self, name: str, data: bytes):
        """A call's decoded result: the value of a single output, a tuple of several, None of none."""
        outputs = self.function(name)["outputs"]
        values = decode([collapse_if_tuple(p) for p in outputs], data)
        return values[0] if len(values) == 1 else (tuple(values) or None)

    def log(self, log: dict) -> tuple[str, dict[str, Any]] | None:
        """(event name, arguments by name) of a raw JSON-RPC log; None for an event this ABI does not declare.
        An indexed reference type comes back as its topic (the hash Solidity stores)."""
        topics = log.get("topics") or []
        entry = self.events.get(topics[0].lower()) if topics else None
        if entry is None:
            return None
        indexed = [p for p in entry["inputs"] if p.get("indexed")]
        plain = [p for p in entry["inputs"] if not p.get("indexed")]
        args: dict[str, Any] = {}
        for parameter, topic in zip(indexed, topics[1:], strict=True):
            abi_type = collapse_if_tuple(parameter)
            raw = to_bytes(hexstr=topic)
            hashed = abi_type in ("string", "bytes") or abi_type.endswith("]") or abi_type.startswith("(")
            args[parameter["name"]] = raw if hashed else decode([abi_type], raw)[0]
        values = decode([collapse_if_tuple(p) for p in plain], to_bytes(hexstr=log["data"]))
        args |= {parameter["name"]: value for parameter, value in zip(plain, values, strict=True)}
        return entry["name"], {p["name"]: args[p["name"]] for p in entry["inputs"]}

    def error(self, data: bytes) -> tuple[str, dict[str, Any] | None] | None:
        """(error name, arguments by name) of revert data; None for a selector this ABI does not declare.
        The arguments are None when they do not decode (the name is still known)."""
        entry = self.errors.get(bytes(data[:4]))
        if entry is None:
            return None
        try:
            values = decode([collapse_if_tuple(p) for p in entry["inputs"]], bytes(data[4:]))
        except DecodingError:
            return entry["name"], None
        return entry["name"], {p["name"]: _plain(v) for p, v in zip(entry["inputs"], values, strict=True)}


def _coerce(parameter: dict, value):
    abi_type: str = parameter["type"]
    if abi_type.endswith("]"):
        inner = {**parameter, "type": abi_type[:abi_type.rindex("[")]}
        return [_coerce(inner, item) for item in value]
    if abi_type == "tuple":
        components = parameter["components"]
        if isinstance(value, dict):
            value = [_by_name(value, component["name"]) for component in components]
        return tuple(_coerce(c, v) for c, v in zip(components, value, strict=True))
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.startswith(("uint", "int")):
        return int(value)
    if abi_type.startswith("bytes"):
        return to_bytes(hexstr=value) if isinstance(value, str) else bytes(value)
    if abi_type == "bool":
        return bool(value)
    return value


def _by_name(values: dict, name: str):
    """A struct member from a mapping keyed by the ABI's name (claimId) or its snake_case (claim_id)."""
    if name in values:
        return values[name]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name)
    if snake in values:
        return values[snake]
    raise KeyError(f"no value for struct member {name!r} (or {snake!r})")


def _plain(value):
    """Decoded values as a caller prints them: addresses checksummed, bytes as 0x-hex."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
