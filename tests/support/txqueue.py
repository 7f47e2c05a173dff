"""The transaction queue's test helpers: a private Anvil (automine, or mining only when told) with a contract
that always reverts, funded keys, a started worker and a loop driving it."""

import asyncio
import subprocess
from contextlib import asynccontextmanager

import asyncpg
import httpx
from eth_account import Account

from fitmint.chain.abi import ContractAbi
from fitmint.chain.rpc import Rpc
from fitmint.txqueue.simulation import decoder_of
from fitmint.txqueue.worker import Worker
from tests.support.processes import free_port, spawn, stop_group
from tests.support.scenario import ANVIL
from tests.support.waiting import wait_until

# A contract that always reverts with Refused(uint256 code = 7), installed with anvil_setCode.
REFUSER = "0x000000000000000000000000000000000000f00d"
REFUSER_ABI = ContractAbi("Refuser", [{"type": "error", "name": "Refused", "inputs": [{"name": "code",
                                                                                         "type": "uint256"}]}])
_REFUSED_SELECTOR = next(iter(selector for selector, entry in REFUSER_ABI.errors.items() if entry["name"] == "Refused"))
# PUSH4 selector, PUSH1 0xe0, SHL, PUSH1 0, MSTORE, PUSH1 7, PUSH1 4, MSTORE, PUSH1 0x24, PUSH1 0, REVERT
REFUSER_CODE = "0x63" + _REFUSED_SELECTOR.hex() + "60e01b60005260076004526024" + "6000fd"
ETH = 10**18


class Anvil:
    def __init__(self, *flags: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = spawn([str(ANVIL), "--host", "127.0.0.1", "--port", str(self.port), "--chain-id", "31337",
                              *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._up, timeout=20, interval=0.05, what="anvil up")
        self.rpc("anvil_setCode", REFUSER, REFUSER_CODE)

    def _up(self) -> bool:
        try:
            self.rpc("eth_chainId")
            return True
        except httpx.HTTPError:
            return False

    def rpc(self, method: str, *params):
        answer = httpx.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                            timeout=10).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def funded_key(self) -> str:
        account = Account.create()
        self.rpc("anvil_setBalance", account.address, hex(100 * ETH))
        return account.key.to_0x_hex()

    def nonce(self, address: str, block: str = "latest") -> int:
        return int(self.rpc("eth_getTransactionCount", address, block), 16)

    def mine(self) -> None:
        self.rpc("evm_mine")

    def stop(self) -> None:
        stop_group(self.process)


@asynccontextmanager
async def queue(postgres: dict, anvil: Anvil, keys: list[str], **options):
    """A started worker for `keys`, and a connection to submit and read with."""
    rpc = Rpc(anvil.url)
    worker = Worker(postgres, rpc, keys, decoder_of([REFUSER_ABI]), **options)
    connection = await asyncpg.connect(**postgres)
    await worker.start()
    try:
        yield worker, connection
    finally:
        await worker.close()
        await connection.close()
        await rpc.close()


async def drive(worker: Worker, connection, request_id: int, states=("mined", "failed", "replaced"),
                passes: int = 50) -> dict:
    """Runs the worker pass after pass until the request reaches one of `states`; its row."""
    for _ in range(passes):
        await worker.run_once()
        row = await connection.fetchrow("SELECT * FROM txqueue_request WHERE id = $1", request_id)
        if row["state"] in states:
            return dict(row)
        await asyncio.sleep(0.02)
    raise AssertionError(f"request {request_id} still {dict(row)}")


async def attempts(connection, request_id: int) -> list[dict]:
    return [dict(row) for row in await connection.fetch(
        "SELECT * FROM txqueue_attempt WHERE request_id = $1 ORDER BY recorded_at", request_id)]
