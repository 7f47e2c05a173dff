"""The deployment manifest written by `ape run deploy`: addresses, start block, ABI files."""

import json
from dataclasses import dataclass
from pathlib import Path


class ManifestError(Exception):
    pass


@dataclass(frozen=True)
class DeployedContract:
    name: str
    address: str  # lowercase hex, as logs carry it
    block: int
    abi: list[dict]


@dataclass(frozen=True)
class Manifest:
    chain_id: int
    deploy_block: int
    deploy_block_hash: str
    contracts: dict[str, DeployedContract]

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        if not path.exists():
            raise ManifestError(f"no deployment manifest at {path}: run `make up` (or `ape run deploy`) first")
        data = json.loads(path.read_text())
        contracts = {}
        for name, entry in data["contracts"].items():
            abi_path = path.parent / entry["abi"]
            if not abi_path.exists():
                raise ManifestError(f"{name}: ABI file {abi_path} named by the manifest is missing")
            contracts[name] = DeployedContract(name, entry["address"].lower(), entry["block"],
                                               json.loads(abi_path.read_text()))
        return cls(data["chain_id"], data["deploy_block"], data["deploy_block_hash"], contracts)

    @property
    def addresses(self) -> list[str]:
        return [contract.address for contract in self.contracts.values()]
