"""The transaction queue's settings (environment variables, like every service's; see fitmint/settings.py):
where its tables are, the node, the pool of operator keys it signs with, the fee caps and how long a sent
transaction may wait before a replacement with higher fees."""

from pathlib import Path

from fitmint import secrets
from fitmint.settings import KernelSettings, default
from fitmint.signers import KeySigner, RemoteSigner, Signer
from fitmint.txqueue.fees import GWEI, FeePolicy


class TxQueueSettings(KernelSettings):
    # The database holding the queue's tables and the outbox its outcomes go to: the API's (its migrations
    # create both; its relay publishes the outcomes).
    txqueue_database: str = default("BACKEND_DATABASE")
    txqueue_rpc_url: str | None = None  # default: fitmint_rpc_url
    # The pool: files each holding one private key (hex). No default: a key the queue signs with must be
    # the queue's alone (a key another process also sends from shares its nonces), and funded.
    # As JSON: TXQUEUE_KEY_FILES='["/run/secrets/txqueue-0.key", "/run/secrets/txqueue-1.key"]'.
    txqueue_key_files: list[Path] = []
    # Or a remote signer holding the pool (fitmint/signers.py: Ethereum JSON-RPC, eth_signTransaction), and
    # the addresses it signs as: TXQUEUE_SIGNER_ADDRESSES='["0x...", ...]'. The keys never enter this process.
    txqueue_signer_url: str | None = None
    txqueue_signer_addresses: list[str] = []
    txqueue_max_fee_per_gas: int = 500 * GWEI  # never offered per gas (wei), base fee + tip included
    txqueue_max_priority_fee_per_gas: int = 50 * GWEI
    txqueue_mine_within_seconds: float = 30.0  # not mined this long after sending: replaced with higher fees
    txqueue_max_in_flight: int = 64  # per key: sent and not yet mined
    txqueue_interval_seconds: float = 0.2  # between two passes of the worker
    # Prometheus (health: the last pass's time; each key's balance); 0: none. make up: TXQUEUE_METRICS_PORT.
    txqueue_metrics_port: int = 0
    txqueue_metrics_host: str = "127.0.0.1"
    # A key holding less ETH than this is reported (a log warning, a gauge, a `make status` line).
    txqueue_min_balance_wei: int = 10**17
    txqueue_balance_check_seconds: float = 30.0
    txqueue_chunk_size: int = 100  # waiting requests a key takes at once: one simulation batch, one broadcast
    # Keys one worker process holds at most (default: every key it can lock). Several processes sharing one
    # pool each set it, so the first to start does not take every key; leave room for a process's keys
    # to be taken over when it stops.
    txqueue_max_keys: int | None = None
    # Blocks a settled request is watched for a reorg taking its transaction out (it is then reopened).
    txqueue_confirmations: int = 2

    @property
    def rpc_url(self) -> str:
        return self.txqueue_rpc_url or self.fitmint_rpc_url

    def fee_policy(self) -> FeePolicy:
        return FeePolicy(max_fee_cap=self.txqueue_max_fee_per_gas,
                         max_priority_fee_cap=self.txqueue_max_priority_fee_per_gas)

    def keys(self) -> list[str]:
        """The pool's private keys (0x-hex), read from txqueue_key_files (never generated: they must be funded)."""
        return ["0x" + secrets.read(path).removeprefix("0x") for path in self.txqueue_key_files]

    def signers(self) -> list[Signer]:
        """The pool: the remote signer's addresses when TXQUEUE_SIGNER_URL is set, else the key files'."""
        if self.txqueue_signer_url:
            if self.txqueue_key_files:
                raise ValueError("set TXQUEUE_SIGNER_URL or TXQUEUE_KEY_FILES, not both: one pool, one signer")
            return [RemoteSigner(self.txqueue_signer_url, address) for address in self.txqueue_signer_addresses]
        return [KeySigner(key) for key in self.keys()]

    def secret_files(self) -> list[Path]:
        return [*super().secret_files(), *self.txqueue_key_files]
