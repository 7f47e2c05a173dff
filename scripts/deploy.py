"""Deploy FitToken, ActivityRewards, FitItems and Marketplace, wire their roles, write the manifest.

    ape run deploy --network ethereum:local:foundry --account TEST::0

The manifest (chain id, addresses, deploy block, ABI files) is what the indexer and the backend read.
Running the script again on the same chain reports the existing deployment and changes nothing;
`--redeploy` deploys a fresh set on purpose. A manifest whose chain was reset (Anvil restarted) is
detected by its deploy block hash and replaced.
"""

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import click
from ape import chain, project
from ape.cli import ConnectedProviderCommand, account_option
from ape.logging import logger
from eth_account import Account

CONTRACT_NAMES = ("FitToken", "ActivityRewards", "FitItems", "Marketplace")
MANIFEST_VERSION = 1
FIT = 10**18


@dataclass(frozen=True)
class DeployParameters:
    supply_cap: int = 1_000_000_000 * FIT
    daily_cap: int = 1_000 * FIT
    epoch_duration: int = 86_400
    initial_epoch_budget: int = 1_000_000 * FIT
    halving_epochs: int = 365
    fee_bps: int = 250
    burn_bps: int = 250


@dataclass
class Deployment:
    chain_id: int
    deployer: str
    deploy_block: int
    deploy_block_hash: str
    contracts: dict[str, dict] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)
    parameters: dict[str, int] = field(default_factory=dict)
    version: int = MANIFEST_VERSION
    deployed_at: str = ""


def state_dir() -> Path:
    root = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("FITMINT_STATE_DIR", root / ".state"))


def default_manifest_path(chain_id: int) -> Path:
    return state_dir() / "deployments" / f"{chain_id}.json"


def dev_attestor_address() -> str:
    """The address of the attestor key file, generating a dev key (mode 0600) on first use.

    The key lives outside git (FITMINT_ATTESTOR_KEY_FILE or <state>/secrets/attestor.key); the
    fitness backend signs vouchers with it.
    """
    key_file = Path(os.environ.get("FITMINT_ATTESTOR_KEY_FILE", state_dir() / "secrets" / "attestor.key"))
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("0x" + secrets.token_hex(32) + "\n")
        logger.info(f"Generated a dev attestor key at {key_file}")
    return Account.from_key(key_file.read_text().strip()).address


def existing_deployment(manifest_path: Path) -> Deployment | None:
    """The manifest's deployment if it is still live on the connected chain, else None."""
    if not manifest_path.exists():
        return None
    data = json.loads(manifest_path.read_text())
    if data.get("chain_id") != chain.chain_id or data.get("deploy_block", 0) > chain.blocks.height:
        return None
    if chain.blocks[data["deploy_block"]].hash.to_0x_hex() != data.get("deploy_block_hash"):
        return None
    if any(not chain.provider.get_code(entry["address"]) for entry in data["contracts"].values()):
        return None
    return Deployment(**data)


def export_abis(abi_dir: Path) -> dict[str, str]:
    """Writes each contract's ABI from the compiled artifacts; returns name -> file name."""
    abi_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in CONTRACT_NAMES:
        contract_type = getattr(project, name).contract_type
        abi = [entry.model_dump(mode="json", by_alias=True) for entry in contract_type.abi]
        path = abi_dir / f"{name}.json"
        path.write_text(json.dumps(abi, indent=2) + "\n")
        files[name] = f"abi/{path.name}"
    return files


def deploy_stack(
    deployer,
    attestors: list[str],
    operator: str,
    treasury: str,
    params: DeployParameters,
) -> tuple[Deployment, dict]:
    """Deploys and wires the four contracts; returns the deployment record and the contract objects."""
    token = deployer.deploy(project.FitToken, deployer, params.supply_cap)
    rewards = deployer.deploy(
        project.ActivityRewards,
        token,
        deployer,
        params.daily_cap,
        params.epoch_duration,
        params.initial_epoch_budget,
        params.halving_epochs,
    )
    items = deployer.deploy(project.FitItems, deployer)
    market = deployer.deploy(project.Marketplace, token, items, deployer, treasury, params.fee_bps, params.burn_bps)

    token.grantRole(token.MINTER_ROLE(), rewards, sender=deployer)
    for attestor in attestors:
        rewards.grantRole(rewards.ATTESTOR_ROLE(), attestor, sender=deployer)
    rewards.grantRole(rewards.OPERATOR_ROLE(), operator, sender=deployer)
    items.grantRole(items.MINTER_ROLE(), market, sender=deployer)
    items.grantRole(items.METADATA_ROLE(), market, sender=deployer)
    if operator != deployer.address:
        market.grantRole(market.LISTER_ROLE(), operator, sender=deployer)

    contracts = {"FitToken": token, "ActivityRewards": rewards, "FitItems": items, "Marketplace": market}
    blocks = {name: chain.get_receipt(contract.txn_hash).block_number for name, contract in contracts.items()}
    deploy_block = blocks["FitToken"]
    deployment = Deployment(
        chain_id=chain.chain_id,
        deployer=deployer.address,
        deploy_block=deploy_block,
        deploy_block_hash=chain.blocks[deploy_block].hash.to_0x_hex(),
        contracts={
            name: {"address": contract.address, "block": blocks[name], "tx": contract.txn_hash}
            for name, contract in contracts.items()
        },
        roles={
            "admin": [deployer.address],
            "attestors": list(attestors),
            "operator": [operator],
            "treasury": [treasury],
        },
        parameters=asdict(params),
        deployed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    return deployment, contracts


def write_manifest(deployment: Deployment, manifest_path: Path) -> None:
    abi_files = export_abis(manifest_path.parent / "abi")
    for name, entry in deployment.contracts.items():
        entry["abi"] = abi_files[name]
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = manifest_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(deployment), indent=2) + "\n")
    tmp.replace(manifest_path)


@click.command(cls=ConnectedProviderCommand)
@account_option()
@click.option("--attestor", "attestors", multiple=True, help="Address allowed to sign vouchers (repeatable). "
              "Default: the dev attestor key file's address.")
@click.option("--operator", default=None, help="Posts Merkle roots and lists items. Default: the deployer.")
@click.option("--treasury", default=None, help="Receives marketplace fees. Default: the deployer.")
@click.option("--fee-bps", type=click.IntRange(0, 5_000), default=DeployParameters.fee_bps, show_default=True)
@click.option("--burn-bps", type=click.IntRange(0, 5_000), default=DeployParameters.burn_bps, show_default=True)
@click.option("--manifest", "manifest_path", type=click.Path(path_type=Path), default=None,
              help="Where to write the manifest. Default: <state>/deployments/<chain id>.json")
@click.option("--redeploy", is_flag=True, help="Deploy a fresh set even if the manifest's is live.")
def cli(account, attestors, operator, treasury, fee_bps, burn_bps, manifest_path, redeploy):
    """Deploy and wire the fitmint contracts, then write the deployment manifest."""
    if fee_bps + burn_bps > 5_000:
        raise click.BadOptionUsage("fee_bps", f"--fee-bps + --burn-bps must be <= 5000, got {fee_bps + burn_bps}")
    manifest_path = manifest_path or default_manifest_path(chain.chain_id)

    live = existing_deployment(manifest_path)
    if live and not redeploy:
        logger.success(f"Already deployed on chain {live.chain_id} at block {live.deploy_block} ({manifest_path}):")
        for name, entry in live.contracts.items():
            click.echo(f"  {name:<16} {entry['address']}")
        click.echo("Pass --redeploy to deploy a fresh set.")
        return
    if manifest_path.exists() and not live:
        logger.info(f"{manifest_path} describes a chain that is gone (reset or other chain): replacing it")

    params = DeployParameters(fee_bps=fee_bps, burn_bps=burn_bps)
    deployment, _ = deploy_stack(
        account,
        attestors=list(attestors) or [dev_attestor_address()],
        operator=operator or account.address,
        treasury=treasury or account.address,
        params=params,
    )
    write_manifest(deployment, manifest_path)
    logger.success(f"Deployed on chain {deployment.chain_id} from block {deployment.deploy_block}; manifest: {manifest_path}")
    for name, entry in deployment.contracts.items():
        click.echo(f"  {name:<16} {entry['address']}")
