"""The platform's signing keys: the attestor's (reward vouchers) and the operator's (catalog listings,
item metadata, Merkle roots). `ape run deploy` grants their addresses roles and the API signs with them;
no other process reads them (a module of its own, so the indexer's settings do not carry them)."""

from pathlib import Path

from fitmint import secrets
from fitmint.settings import StateSettings


class KeySettings(StateSettings):
    """The keys `ape run deploy` grants roles to and the API signs with (dev keys generated on first use):
    what the deploy script and the API read, and nothing else does."""
    fitmint_attestor_key_file: Path | None = None  # default: <state>/secrets/attestor.key (reward vouchers)
    fitmint_operator_key_file: Path | None = None  # default: <state>/secrets/operator.key (catalog listings)

    @property
    def attestor_key_file(self) -> Path:
        return self.secret_file("attestor.key", self.fitmint_attestor_key_file)

    @property
    def operator_key_file(self) -> Path:
        return self.secret_file("operator.key", self.fitmint_operator_key_file)

    def attestor_key(self) -> str:
        """The attestor's private key (0x-hex): signs reward vouchers; the deploy grants it ATTESTOR_ROLE."""
        return "0x" + secrets.read_or_generate(self.attestor_key_file)

    def operator_key(self) -> str:
        """The operator's private key (0x-hex): lists catalog items, sets their metadata, posts Merkle roots."""
        return "0x" + secrets.read_or_generate(self.operator_key_file)
