"""ABI -> typed events, without web3's per-log formatters (they cap near 10k logs/s).

Each event of the deployed contracts gets a decoder built once from its ABI entry. Indexed values and
static data words (address, uintN, intN, bool, bytesN) are sliced straight out of the hex strings;
only events with dynamic data (string, arrays) go through eth_abi.
"""

from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_utils.abi import event_abi_to_log_topic

from fitmint.chain.manifest import Manifest
from fitmint.chain.rpc import Log


class DecodeError(ValueError):
    """A log of one of our contracts that does not match its event's ABI."""


@dataclass(slots=True)
class Event:
    block_number: int
    block_hash: str
    block_timestamp: int
    tx_hash: str
    log_index: int
    contract: str
    name: str
    args: dict
    address: str = ""
    topics: tuple = ()
    data: str = ""


def _word_decoder(abi_type: str):
    """How to read one 32-byte word (64 hex chars, no 0x) of a static type."""
    if abi_type == "address":
        return lambda word: "0x" + word[24:]
    if abi_type.startswith("uint"):
        return lambda word: int(word, 16)
    if abi_type.startswith("int"):
        bits = 256

        def signed(word):
            value = int(word, 16)
            return value - (1 << bits) if value >> (bits - 1) else value

        return signed
    if abi_type == "bool":
        return lambda word: word[-1] != "0"
    if abi_type.startswith("bytes") and abi_type != "bytes":
        size = int(abi_type[5:])
        return lambda word: "0x" + word[: 2 * size]
    return None  # dynamic


def _topic_decoder(abi_type: str):
    static = _word_decoder(abi_type)
    if static:
        return lambda topic: static(topic[2:])
    return lambda topic: topic  # indexed dynamic values are only their hash


def _python_value(value):
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_python_value(v) for v in value]
    return value


class EventDecoder:
    def __init__(self, contract: str, abi_entry: dict):
        self.contract = contract
        self.name = abi_entry["name"]
        inputs = abi_entry["inputs"]
        self.topic0 = "0x" + event_abi_to_log_topic(abi_entry).hex()
        self.indexed = [(i["name"], _topic_decoder(i["type"])) for i in inputs if i["indexed"]]
        self.topic_plan = tuple((name, decode, position + 1) for position, (name, decode) in enumerate(self.indexed))
        data_inputs = [i for i in inputs if not i["indexed"]]
        self.data_names = [i["name"] for i in data_inputs]
        self.data_types = [i["type"] for i in data_inputs]
        words = [_word_decoder(t) for t in self.data_types]
        # Static data words are sliced by position; anything dynamic goes through eth_abi.
        self.data_plan = None
        if all(words):
            self.data_plan = tuple((name, decode, 2 + 64 * i, 66 + 64 * i)
                                   for i, (name, decode) in enumerate(zip(self.data_names, words, strict=True)))
        self.data_length = 2 + 64 * len(data_inputs)

    def decode_args(self, topics: list[str], data: str) -> dict:
        if len(topics) != len(self.indexed) + 1:
            raise DecodeError(f"{self.contract}.{self.name}: {len(topics) - 1} indexed topics, "
                              f"expected {len(self.indexed)}")
        args = {}
        for name, decode, position in self.topic_plan:
            args[name] = decode(topics[position])
        if self.data_plan is not None:
            if len(data) != self.data_length:
                raise DecodeError(f"{self.contract}.{self.name}: data of {(len(data) - 2) // 2} bytes, "
                                  f"expected {(self.data_length - 2) // 2}")
            for name, decode, start, end in self.data_plan:
                args[name] = decode(data[start:end])
        else:
            payload = data[2:]
            try:
                values = abi_decode(self.data_types, bytes.fromhex(payload))
            except Exception as exc:  # eth_abi raises several types for malformed data
                raise DecodeError(f"{self.contract}.{self.name}: {exc}") from exc
            for name, abi_type, value in zip(self.data_names, self.data_types, values, strict=True):
                args[name] = value.lower() if abi_type == "address" else _python_value(value)
        return args


class LogDecoder:
    """Decodes raw `eth_getLogs` entries of the manifest's contracts."""

    def __init__(self, manifest: Manifest):
        self.token_address = manifest.contracts["FitToken"].address
        self._decoders: dict[tuple[str, str], EventDecoder] = {}
        for contract in manifest.contracts.values():
            for entry in contract.abi:
                if entry.get("type") == "event" and not entry.get("anonymous"):
                    decoder = EventDecoder(contract.name, entry)
                    self._decoders[(contract.address, decoder.topic0)] = decoder
        # The FIT Transfer's topic: the backfill's hot path (Projector.add_token_transfer) matches it.
        self.transfer_topic = next(topic for (address, topic), decoder in self._decoders.items()
                                   if address == self.token_address and decoder.name == "Transfer")

    def decoder_for(self, address: str, topics: list[str]) -> EventDecoder:
        if not topics:
            raise DecodeError("anonymous log")
        decoder = self._decoders.get((address, topics[0]))
        if decoder is None:
            raise DecodeError(f"unknown event topic {topics[0]} at {address}")
        return decoder

    def decode(self, log: Log) -> Event:
        """Raises DecodeError for a log that is not a known event or does not fit its ABI."""
        topics, address = log.topics, log.address.lower()
        decoder = self.decoder_for(address, topics)
        return Event(
            block_number=int(log.blockNumber, 16),
            block_hash=log.blockHash,
            block_timestamp=int(log.blockTimestamp or "0x0", 16),
            tx_hash=log.transactionHash,
            log_index=int(log.logIndex, 16),
            contract=decoder.contract,
            name=decoder.name,
            args=decoder.decode_args(topics, log.data),
            address=address,
            topics=topics,
            data=log.data,
        )
