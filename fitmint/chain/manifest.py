"""The deployment manifest: what `ape run deploy` deployed and wired on a chain, in one typed model that
the deploy script writes and every reader (indexer, API, benchmarks, tests) loads.

On disk (`KernelSettings.manifest_path()`, format version 1) it is JSON beside an `abi/` folder holding
each contract's ABI as compiled; addresses are written EIP-55 checksummed. In memory a contract's
`address` is lowercase, as logs and the indexer's tables carry it (`checksum_address` for calls).
"""

import json
from pathlib import Path

from eth_utils import is_address, to_checksum_address
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

MANIFEST_VERSION = 1
TIMELOCK_NAME = "AdminTimelock"  # the compiled contract (contracts/governance/AdminTimelock.sol)


class ManifestError(Exception):
    """No manifest, or one that does not parse: the deployment it should describe is unknown."""


def _address(value: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise ValueError(f"not an address: {value!r}")
    return value.lower()


class DeployedContract(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(exclude=True)  # the manifest's key for it
    address: str  # lowercase
    block: int  # the block of its deployment
    abi_file: str = Field(alias="abi")  # relative to the manifest's folder
    tx: str | None = None  # its deployment transaction
    code_hash: str | None = None  # keccak256 of the compiled creation code (scripts/deploy.py: code_hash)
    _abi: list[dict] | None = PrivateAttr(default=None)

    _lowercase = field_validator("address", mode="before")(_address)

    @field_serializer("address")
    def _checksummed(self, address: str) -> str:
        return to_checksum_address(address)

    @property
    def checksum_address(self) -> str:
        return to_checksum_address(self.address)

    @property
    def abi(self) -> list[dict]:
        """The contract's ABI (a manifest from `Manifest.load`; `Manifest.read` leaves the files unread)."""
        if self._abi is None:
            raise ManifestError(f"{self.name}: the ABI was not loaded (Manifest.load reads it)")
        return self._abi


# (contract, role) each operator holds: ActivityRewards posts Merkle roots, Marketplace lists catalog items,
# FitItems sets their metadata. The deploy script wires them; tests grant them to a key of their own.
OPERATOR_ROLES = (("ActivityRewards", "OPERATOR_ROLE"), ("Marketplace", "LISTER_ROLE"), ("FitItems", "METADATA_ROLE"))


class Roles(BaseModel):
    """Who the deploy script gave which powers (EIP-55 addresses, in the order they were granted)."""

    admin: list[str] = []  # DEFAULT_ADMIN_ROLE on every contract: the timelock (before it, the deployer)
    governor: list[str] = []  # the timelock's proposer and canceller: schedules admin changes (a multisig)
    guardian: list[str] = []  # PAUSER_ROLE on the pausable contracts: pauses at once, nothing else
    attestors: list[str] = []  # ActivityRewards ATTESTOR_ROLE: sign reward vouchers
    operator: list[str] = []  # Merkle roots, catalog listings and item metadata (OPERATOR_ROLES)
    treasury: list[str] = []  # Marketplace fee recipient and the catalog's listings' seller

    @field_validator("*", mode="before")
    @classmethod
    def _checksummed(cls, addresses: list[str]) -> list[str]:
        return [to_checksum_address(_address(address)) for address in addresses]


class Manifest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    chain_id: int
    deployer: str | None = None
    deploy_block: int  # the first block of the deployment: where indexing starts
    deploy_block_hash: str  # tells a reset chain (same chain id, another history) from the deployed one
    contracts: dict[str, DeployedContract]
    # The admin timelock (scripts/deploy.py: deploy_timelock): beside the platform's contracts, not among
    # them (nothing indexes it; the admin CLI reads its operations from the chain). None: a deployment
    # from before it, administered by the deployer.
    timelock: DeployedContract | None = None
    roles: Roles = Roles()
    parameters: dict[str, int] = {}  # the constructor parameters (scripts/deploy.py: DeployParameters)
    version: int = MANIFEST_VERSION
    deployed_at: str = ""  # ISO 8601, UTC

    @model_validator(mode="before")
    @classmethod
    def _name_contracts(cls, data):
        if isinstance(data, dict) and isinstance(data.get("contracts"), dict):
            data = {**data, "contracts": {
                name: {**entry, "name": name} if isinstance(entry, dict) else entry
                for name, entry in data["contracts"].items()}}
        if isinstance(data, dict) and isinstance(data.get("timelock"), dict):
            data = {**data, "timelock": {"name": TIMELOCK_NAME, **data["timelock"]}}
        return data

    @field_validator("version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version > MANIFEST_VERSION:
            raise ValueError(f"format version {version} is newer than this code reads ({MANIFEST_VERSION})")
        return version

    # --- files ----------------------------------------------------------------------------------------
    @classmethod
    def read(cls, path: Path) -> "Manifest":
        """The manifest at `path` without its ABI files (what the deploy script checks)."""
        path = Path(path)
        if not path.exists():
            raise ManifestError(f"no deployment manifest at {path}: run `make up` (or `ape run deploy`) first")
        try:
            return cls.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            raise ManifestError(f"the deployment manifest {path} does not parse: {exc}") from exc

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        """The manifest at `path` with each contract's ABI read from the file it names."""
        path = Path(path)
        manifest = cls.read(path)
        for contract in [*manifest.contracts.values(), *([manifest.timelock] if manifest.timelock else [])]:
            abi_path = path.parent / contract.abi_file
            if not abi_path.exists():
                raise ManifestError(f"{contract.name}: ABI file {abi_path} named by the manifest is missing")
            try:
                contract._abi = json.loads(abi_path.read_text())
            except ValueError as exc:
                raise ManifestError(f"{contract.name}: ABI file {abi_path} is not JSON: {exc}") from exc
        return manifest

    def write(self, path: Path) -> None:
        """Writes the manifest (whole or not at all); the ABI files it names are the writer's to put there."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.model_dump(mode="json", by_alias=True), indent=2) + "\n")
        tmp.replace(path)

    # --- what readers ask -------------------------------------------------------------------------------
    @property
    def addresses(self) -> list[str]:
        """Every deployed contract's address, lowercase."""
        return [contract.address for contract in self.contracts.values()]

    def contract(self, name: str) -> DeployedContract:
        try:
            return self.contracts[name]
        except KeyError:
            raise ManifestError(f"the deployment manifest has no {name} (it has {', '.join(self.contracts)})") from None

    @property
    def treasury(self) -> str:
        """The Marketplace's fee recipient, EIP-55."""
        if not self.roles.treasury:
            raise ManifestError("the deployment manifest names no treasury")
        return self.roles.treasury[0]
