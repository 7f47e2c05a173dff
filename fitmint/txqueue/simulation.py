"""Simulating a transaction before it is signed: a revert is decoded, and nothing is sent."""

from collections.abc import Callable, Iterable

from eth_utils import to_bytes

from fitmint.chain.abi import ContractAbi
from fitmint.chain.errors import DecodedError
from fitmint.chain.rpc import Rpc, RpcError

RevertDecoder = Callable[[str | bytes | None], DecodedError | None]  # e.g. ChainGateway.decode_revert


class SimulationReverted(Exception):
    def __init__(self, error: DecodedError | None, reason: str):
        self.error, self.reason = error, reason
        super().__init__(reason)


def decoder_of(abis: Iterable[ContractAbi]) -> RevertDecoder:
    """A revert decoder from ABIs (a service with a deployment uses its ChainGateway's decode_revert)."""
    by_selector = {selector: abi for abi in abis for selector in abi.errors}

    def decode(data):
        if isinstance(data, str):
            data = to_bytes(hexstr=data) if data.startswith("0x") else None
        if not data or len(data) < 4:
            return None
        abi = by_selector.get(bytes(data[:4]))
        return abi.error(data) if abi is not None else None

    return decode


def revert_of(failure: RpcError, decode: RevertDecoder) -> SimulationReverted:
    data = failure.data.get("data") if isinstance(failure.data, dict) else failure.data  # some nodes nest it
    error = decode(data)
    if error is not None:
        return SimulationReverted(error, f"simulation reverted: {error}")
    if isinstance(data, str) and len(data) >= 10:
        return SimulationReverted(None, f"simulation reverted: unknown custom error {data}")
    return SimulationReverted(None, f"simulation reverted: {failure.message}")


async def simulate(rpc: Rpc, decode: RevertDecoder, sender: str, target: str, calldata: bytes, value: int) -> int:
    """The gas the call needs from `sender`; SimulationReverted if it reverts."""
    gas = gas_or_revert(*await rpc.batch(simulation_calls(sender, target, calldata, value)), decode)
    if isinstance(gas, SimulationReverted):
        raise gas
    return gas


def simulation_calls(sender: str, target: str, calldata: bytes, value: int) -> list[tuple]:
    """`simulate`'s node call, for a JSON-RPC batch (Rpc.batch) simulating a chunk at once: eth_estimateGas
    alone, which executes the call as eth_call would and answers a revert with the same error and revert
    data (geth, Anvil, reth); an eth_call beside it doubled the node's work for no more certainty."""
    call = {"from": sender, "to": target, "data": "0x" + calldata.hex(), "value": hex(value)}
    return [("eth_estimateGas", call, "latest")]


def gas_or_revert(estimate_answer, decode: RevertDecoder) -> int | SimulationReverted:
    """The batch's answer to `simulation_calls`: the gas, or the decoded revert (never raised: one
    reverting request of a chunk does not stop the others)."""
    if isinstance(estimate_answer, RpcError):
        return revert_of(estimate_answer, decode)
    return int(estimate_answer, 16)
