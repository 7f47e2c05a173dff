"""Transactions the member's own key signs: encoded from the server's ABIs, estimated first (a revert is
refused before anything is sent, its custom error decoded), signed locally, sent raw, waited for. Reads
(eth_call) go the same way. The key never leaves the process."""

from eth_account.signers.local import LocalAccount

from fitmint_client.abi import ContractAbi
from fitmint_client.chaininfo import ChainDocuments
from fitmint_client.errors import FitmintChainError
from fitmint_client.rpc import NodeError, Rpc
from fitmint_client.words import describe

GAS_MARGIN = 1.25  # estimates are exact for the state they ran on; a block later it may cost a little more


class Transactor:
    def __init__(self, documents: ChainDocuments, rpc: Rpc):
        self.documents = documents
        self.rpc = rpc
        self._chain_checked = False

    def call(self, contract: str, function: str, *args, block: str = "latest"):
        """A read of `contract.function(*args)` (eth_call); its decoded result."""
        abi = self.documents.abi(contract)
        request = {"to": self.documents.address(contract), "data": "0x" + abi.call_data(function, args).hex()}
        try:
            result = self.rpc("eth_call", request, block)
        except NodeError as exc:
            raise self.refusal(f"{contract}.{function}", exc) from exc
        return abi.result(function, bytes.fromhex(result[2:]))

    def send(self, account: LocalAccount, contract: str, function: str, *args, timeout: float = 60) -> dict:
        """Sends `contract.function(*args)` from `account`, waits until mined; returns the receipt. A revert
        (estimated, or mined) raises FitmintChainError with the decoded error in words."""
        self._check_chain()
        action = f"{contract}.{function}"
        request = {"from": account.address, "to": self.documents.address(contract),
                   "data": "0x" + self.documents.abi(contract).call_data(function, args).hex()}
        try:
            gas = int(int(self.rpc("eth_estimateGas", request), 16) * GAS_MARGIN)
        except NodeError as exc:
            raise self.refusal(action, exc) from exc
        base_fee = int(self.rpc("eth_getBlockByNumber", "latest", False).get("baseFeePerGas") or "0x0", 16)
        try:
            tip = int(self.rpc("eth_maxPriorityFeePerGas"), 16)
        except NodeError:  # a node without EIP-1559 fee hints
            tip = 10**9
        transaction = {"type": 2, "chainId": self.documents.chain(revalidate=False).chain_id,
                       "nonce": int(self.rpc("eth_getTransactionCount", account.address, "pending"), 16),
                       "to": request["to"], "data": request["data"], "value": 0, "gas": gas,
                       "maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base_fee + tip}
        signed = account.sign_transaction(transaction)
        try:
            tx_hash = self.rpc("eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex())
        except NodeError as exc:
            raise self.refusal(action, exc) from exc
        receipt = self.rpc.wait_for_receipt(tx_hash, timeout=timeout)
        if int(receipt["status"], 16) != 1:
            raise self._mined_revert(action, request, receipt)
        return receipt

    def decode_logs(self, receipt: dict, contract: str, event: str) -> list[dict]:
        """The arguments of each `event` the receipt's logs hold from `contract`."""
        address, abi = self.documents.address(contract).lower(), self.documents.abi(contract)
        found = []
        for log in receipt["logs"]:
            decoded = abi.log(log) if log["address"].lower() == address else None
            if decoded is not None and decoded[0] == event:
                found.append(decoded[1])
        return found

    def refusal(self, action: str, error: NodeError, tx_hash: str | None = None) -> FitmintChainError:
        """The node's refusal in words: the custom error decoded from the ABIs (the called contract's
        first: errors of the token and the items bubble up through the marketplace), or the node's reason."""
        if error.data:
            contract = action.split(".")[0]
            for abi in self._abis_starting_with(contract):
                decoded = abi.error(error.data)
                if decoded is not None:
                    name, args = decoded
                    return FitmintChainError(describe(name, args), name, args, tx_hash)
            return FitmintChainError(f"The chain refused {action} with an error no contract of the platform "
                                     f"declares (data 0x{error.data.hex()}).", tx_hash=tx_hash)
        return FitmintChainError(f"The chain's node refused {action}: {error.message}", tx_hash=tx_hash)

    def _mined_revert(self, action: str, request: dict, receipt: dict) -> FitmintChainError:
        """Mined and reverted (the state changed between estimate and inclusion): the reason is read back
        by replaying the call on the state the transaction ran on."""
        tx_hash = receipt["transactionHash"]
        before = hex(int(receipt["blockNumber"], 16) - 1)
        try:
            self.rpc("eth_call", request, before)
        except NodeError as exc:
            return self.refusal(action, exc, tx_hash)
        return FitmintChainError(f"{action} was mined in block {int(receipt['blockNumber'], 16)} and reverted "
                                 f"(transaction {tx_hash}); replaying it gives no reason.", tx_hash=tx_hash)

    def _abis_starting_with(self, contract: str) -> list[ContractAbi]:
        abis = self.documents.abis()
        return sorted(abis, key=lambda abi: abi.name != contract)

    def _check_chain(self) -> None:
        """Refuses to sign for another chain than the platform's (a wallet pointed at the wrong node)."""
        if self._chain_checked:
            return
        expected = self.documents.chain(revalidate=False).chain_id
        actual = int(self.rpc("eth_chainId"), 16)
        if actual != expected:
            raise FitmintChainError(f"the node at {self.rpc.url} serves chain {actual}, and the platform is on chain "
                                    f"{expected}: point the client at the platform's chain (rpc_url)")
        self._chain_checked = True
