"""The platform's signing keys: the attestor's (reward vouchers) and the operator pool's (catalog listings,
item metadata, Merkle roots, relayed transactions). `ape run deploy` grants their addresses roles; the API
signs vouchers with the attestor key, and the transaction queue (fitmint/txqueue) signs with the operator
pool, the only process that does (a key's nonces belong to one sender). A module of its own, so the
indexer's settings do not carry them."""

from pathlib import Path

from fitmint import secrets
from fitmint.settings import StateSettings
from fitmint.signers import KeySigner, RemoteSigner, Signer


class KeySettings(StateSettings):
    """The keys `ape run deploy` grants roles to (dev keys generated on first use): what the deploy script,
    the API (the attestor's) and the stack's transaction queue (the operator pool) read, and nothing else."""
    fitmint_attestor_key_file: Path | None = None  # default: <state>/secrets/attestor.key (reward vouchers)
    # Or a remote signer holding the attestor key (fitmint/signers.py: Ethereum JSON-RPC, eth_signTypedData_v4)
    # and the address it signs as: the key never enters the API's processes.
    fitmint_attestor_signer_url: str | None = None
    fitmint_attestor_address: str | None = None
    fitmint_operator_key_file: Path | None = None  # default: <state>/secrets/operator.key (the pool's first)
    # The operator pool: the transaction queue sends from every key at once (each key's nonces are
    # sequential, so more keys, more transactions in flight). Either name the files (JSON list:
    # FITMINT_OPERATOR_KEY_FILES='["/run/secrets/operator-0.key", ...]') or let the pool be the operator key
    # plus FITMINT_OPERATOR_POOL_SIZE - 1 dev keys beside it (operator-1.key, operator-2.key, ...).
    fitmint_operator_key_files: list[Path] = []
    fitmint_operator_pool_size: int = 3

    @property
    def attestor_key_file(self) -> Path:
        return self.secret_file("attestor.key", self.fitmint_attestor_key_file)

    @property
    def operator_key_file(self) -> Path:
        return self.secret_file("operator.key", self.fitmint_operator_key_file)

    @property
    def operator_key_files(self) -> list[Path]:
        """The operator pool's key files, the operator key first."""
        if self.fitmint_operator_key_files:
            return list(self.fitmint_operator_key_files)
        if self.fitmint_operator_pool_size < 1:
            raise ValueError("FITMINT_OPERATOR_POOL_SIZE must be at least 1")
        extra = [self.secret_file(f"operator-{index}.key", None) for index in range(1, self.fitmint_operator_pool_size)]
        return [self.operator_key_file, *extra]

    def secret_files(self) -> list[Path]:
        # The attestor's only (unless a remote signer holds it): of the processes, the API signs with it; the
        # operator pool is the transaction queue's (TxQueueSettings.txqueue_key_files), read by the deploy too.
        own = [] if self.fitmint_attestor_signer_url else [self.attestor_key_file]
        return [*super().secret_files(), *own]

    def attestor_signer(self) -> Signer:
        """Who signs reward vouchers: the remote signer when FITMINT_ATTESTOR_SIGNER_URL is set, else the key file."""
        if self.fitmint_attestor_signer_url:
            if not self.fitmint_attestor_address:
                raise ValueError("FITMINT_ATTESTOR_SIGNER_URL is set without FITMINT_ATTESTOR_ADDRESS (the address "
                                 "the signer signs vouchers as)")
            return RemoteSigner(self.fitmint_attestor_signer_url, self.fitmint_attestor_address)
        return KeySigner(self.attestor_key())

    def attestor_key(self) -> str:
        """The attestor's private key (0x-hex): signs reward vouchers; the deploy grants it ATTESTOR_ROLE."""
        return "0x" + secrets.read_or_generate(self.attestor_key_file)

    def operator_keys(self) -> list[str]:
        """The operator pool's private keys (0x-hex), dev keys generated on first use: the deploy grants each
        the operator roles (and, on a local chain, ETH); the transaction queue signs with them."""
        return ["0x" + secrets.read_or_generate(path) for path in self.operator_key_files]
