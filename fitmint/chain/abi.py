"""A contract's ABI as a codec: call data and results, event logs and revert data, each encoded or
decoded from the ABI entries themselves (eth-abi, with eth-utils and web3 picking the entries and
computing selectors and topics). No I/O: `fitmint.chain.gateway` talks to the node."""

from collections import Counter
from dataclasses import dataclass
from typing import Any

from eth_abi import decoding, encode
from eth_abi.codec import ABICodec
from eth_abi.exceptions import DecodingError
from eth_abi.grammar import TupleType, parse
from eth_abi.registry import registry as eth_abi_registry
from eth_utils import to_bytes, to_checksum_address
from eth_utils.abi import (
    collapse_if_tuple,
    event_abi_to_log_topic,
    filter_abi_by_type,
    function_abi_to_4byte_selector,
    get_abi_input_types,
    get_abi_output_types,
)
from web3.utils.abi import get_abi_element_info

from fitmint.chain.errors import DecodedError

# Solidity's own revert reasons, valid for every contract.
BUILTIN_ERRORS = (
    {"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
)


class _ChecksumAddressDecoder(decoding.AddressDecoder):
    decoder_fn = staticmethod(to_checksum_address)


def _checksumming_registry():
    registry = eth_abi_registry.copy()
    registry.unregister_decoder("address")
    registry.register_decoder("address", _ChecksumAddressDecoder, label="address")
    return registry


# Decoded addresses come back EIP-55 checksummed (as web3 returns them); eth-abi's own are lowercase.
decode = ABICodec(_checksumming_registry()).decode


@dataclass(frozen=True)
class DecodedLog:
    contract: str
    event: str
    args: dict[str, Any]  # an indexed reference type (string, bytes, array, struct) is only its keccak hash
    address: str  # lowercase
    log_index: int
    tx_hash: str
    block_number: int


def _hashed_when_indexed(abi_type: str) -> bool:
    """Solidity stores an indexed reference type as the keccak hash of its encoding, not the value."""
    parsed = parse(abi_type)
    return parsed.is_dynamic or parsed.is_array or isinstance(parsed, TupleType)


class ContractAbi:
    def __init__(self, name: str, abi: list[dict]):
        self.name = name
        self._functions = filter_abi_by_type("function", abi)
        # A function with one entry and no tuple inputs: its selector and input types once (web3 looking the entry
        # up and validating the arguments costs ~0.4 ms a call); eth-abi still checks each argument as it encodes.
        overloads = Counter(entry["name"] for entry in self._functions)
        self._plain = {entry["name"]: (entry, function_abi_to_4byte_selector(entry), get_abi_input_types(entry))
                       for entry in self._functions
                       if overloads[entry["name"]] == 1 and not any("tuple" in i["type"] for i in entry["inputs"])}
        self._events = {"0x" + event_abi_to_log_topic(entry).hex(): entry
                        for entry in filter_abi_by_type("event", abi) if not entry.get("anonymous")}
        self.errors = {function_abi_to_4byte_selector(entry): entry
                       for entry in [*filter_abi_by_type("error", abi), *BUILTIN_ERRORS]}

    # --- calls ------------------------------------------------------------------------------------------
    def function(self, name: str, args: tuple) -> tuple[dict, bytes]:
        """(ABI entry, call data) of `name` with `args` (an overload picked by the arguments)."""
        plain = self._plain.get(name)
        if plain is not None and len(plain[2]) == len(args):
            entry, selector, types = plain
            return entry, selector + encode(types, args)
        info = get_abi_element_info(self._functions, name, *args)
        entry = info["abi"]
        return entry, function_abi_to_4byte_selector(entry) + encode(get_abi_input_types(entry), info["arguments"])

    def entry(self, name: str) -> dict:
        """The ABI entry of function `name` (one that is not overloaded)."""
        entries = [entry for entry in self._functions if entry["name"] == name]
        if len(entries) != 1:
            raise KeyError(f"{self.name} has {len(entries)} functions named {name}")
        return entries[0]

    @staticmethod
    def result(entry: dict, data: bytes):
        """A call's decoded result: the value of a single output, a tuple of several, None of none."""
        values = decode(get_abi_output_types(entry), data)
        return values[0] if len(values) == 1 else (values or None)

    # --- logs -------------------------------------------------------------------------------------------
    def topic(self, event: str) -> str:
        for topic, entry in self._events.items():
            if entry["name"] == event:
                return topic
        raise ValueError(f"{self.name} ABI has no event {event}")

    def log(self, log: dict) -> DecodedLog | None:
        """A raw log (JSON-RPC form) of this contract decoded by its event's ABI; None for an event the ABI
        does not have. A log that does not fit its event raises eth_abi's DecodingError."""
        topics = log["topics"]
        entry = self._events.get(topics[0]) if topics else None
        if entry is None:
            return None
        indexed = [i for i in entry["inputs"] if i["indexed"]]
        if len(topics) != len(indexed) + 1:
            raise DecodingError(f"{self.name}.{entry['name']}: {len(topics) - 1} indexed topics, "
                                f"expected {len(indexed)}")
        args = {}
        for parameter, topic in zip(indexed, topics[1:], strict=True):
            abi_type = collapse_if_tuple(parameter)
            raw = to_bytes(hexstr=topic)
            args[parameter["name"]] = raw if _hashed_when_indexed(abi_type) else decode([abi_type], raw)[0]
        data = [i for i in entry["inputs"] if not i["indexed"]]
        values = decode([collapse_if_tuple(i) for i in data], to_bytes(hexstr=log["data"]))
        args |= {parameter["name"]: value for parameter, value in zip(data, values, strict=True)}
        # In the ABI's order, as the event declares them.
        args = {parameter["name"]: args[parameter["name"]] for parameter in entry["inputs"]}
        return DecodedLog(self.name, entry["name"], args, log["address"].lower(), int(log["logIndex"], 16),
                          log["transactionHash"], int(log["blockNumber"], 16))

    # --- reverts ----------------------------------------------------------------------------------------
    def error(self, data: bytes) -> DecodedError | None:
        """The custom (or built-in) error in revert `data`; None for a selector this ABI does not declare."""
        entry = self.errors.get(bytes(data[:4]))
        if entry is None:
            return None
        try:
            values = decode(get_abi_input_types(entry), bytes(data[4:]))
        except DecodingError:  # named, even when its arguments are cut short
            return DecodedError(entry["name"], None)
        return DecodedError(entry["name"], {p["name"]: v for p, v in zip(entry["inputs"], values, strict=True)})
