"""Deploy FitToken, ActivityRewards, FitItems and Marketplace, wire their roles, write the manifest.

    ape run deploy --network ethereum:local:foundry --account TEST::0

The manifest (chain id, addresses, deploy block, ABI files) is what the indexer and the backend read.
Running the script again on the same chain reports the existing deployment and only makes sure the
operator holds its roles (and, on a local chain, some ETH), sending nothing when it does;
`--redeploy` deploys a fresh set on purpose. A manifest whose chain was reset (Anvil restarted) is
detected by its deploy block hash and replaced. The manifest records a hash of each contract's compiled
code: when the sources changed since the deployment, a local chain gets the new contracts deployed (its
chain survives restarts), any other chain is refused until `--redeploy` says so.

The operator (default: the dev operator key file's address) posts Merkle roots (ActivityRewards
OPERATOR_ROLE), lists catalog items (Marketplace LISTER_ROLE) and sets their metadata CIDs (FitItems
METADATA_ROLE); the backend sends those transactions with that key.
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
from eth_utils import keccak

CONTRACT_NAMES = ("FitToken", "ActivityRewards", "FitItems", "Marketplace")
MANIFEST_VERSION = 1
FIT = 10**18
ETH = 10**18
LOCAL_CHAIN_ID = 31337
OPERATOR_MIN_BALANCE = 1 * ETH  # on a local chain, top the operator up to OPERATOR_FUNDING below this
OPERATOR_FUNDING = 10 * ETH


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


def _dev_key_address(variable: str, name: str) -> str:
    """The address of the key file `$variable` or <state>/secrets/<name>.key, generating a dev key
    ("0x<64 hex>", mode 0600 from the first byte) on first use. The backend reads the same file (with or
    without the 0x)."""
    key_file = Path(os.environ.get(variable, state_dir() / "secrets" / f"{name}.key"))
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: if the backend just created it, use theirs
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write("0x" + secrets.token_hex(32) + "\n")
            logger.info(f"Generated a dev {name} key at {key_file}")
    return Account.from_key("0x" + key_file.read_text().strip().removeprefix("0x")).address


def dev_attestor_address() -> str:
    """The attestor key (FITMINT_ATTESTOR_KEY_FILE or <state>/secrets/attestor.key): the fitness backend
    signs vouchers with it."""
    return _dev_key_address("FITMINT_ATTESTOR_KEY_FILE", "attestor")


def dev_operator_address() -> str:
    """The operator key (FITMINT_OPERATOR_KEY_FILE or <state>/secrets/operator.key): the catalog lists items
    and sets their metadata with it."""
    return _dev_key_address("FITMINT_OPERATOR_KEY_FILE", "operator")


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


def code_hash(name: str) -> str:
    """keccak256 of the contract's compiled creation code (constructor arguments aside)."""
    return keccak(hexstr=getattr(project, name).contract_type.deployment_bytecode.bytecode).hex()


def outdated_contracts(deployment: Deployment) -> list[str]:
    """The deployed contracts whose sources changed since (a manifest without code hashes: all of them)."""
    return [name for name, entry in deployment.contracts.items() if entry.get("code_hash") != code_hash(name)]


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
    items.grantRole(items.MINTER_ROLE(), market, sender=deployer)
    items.grantRole(items.METADATA_ROLE(), market, sender=deployer)
    # The admin keeps every operator power, as when it was the operator: it holds LISTER_ROLE and
    # METADATA_ROLE from the constructors and could grant itself OPERATOR_ROLE anyway (no added power).
    rewards.grantRole(rewards.OPERATOR_ROLE(), deployer, sender=deployer)
    contracts = {"FitToken": token, "ActivityRewards": rewards, "FitItems": items, "Marketplace": market}
    wire_operator(deployer, contracts, operator)

    blocks = {name: chain.get_receipt(contract.txn_hash).block_number for name, contract in contracts.items()}
    deploy_block = blocks["FitToken"]
    deployment = Deployment(
        chain_id=chain.chain_id,
        deployer=deployer.address,
        deploy_block=deploy_block,
        deploy_block_hash=chain.blocks[deploy_block].hash.to_0x_hex(),
        contracts={
            name: {"address": contract.address, "block": blocks[name], "tx": contract.txn_hash,
                   "code_hash": code_hash(name)}
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


def operator_roles(contracts: dict) -> list[tuple[str, object, bytes]]:
    """(name, contract, role) the operator needs."""
    rewards, market, items = contracts["ActivityRewards"], contracts["Marketplace"], contracts["FitItems"]
    return [("ActivityRewards.OPERATOR_ROLE", rewards, rewards.OPERATOR_ROLE()),
            ("Marketplace.LISTER_ROLE", market, market.LISTER_ROLE()),
            ("FitItems.METADATA_ROLE", items, items.METADATA_ROLE())]


def wire_operator(deployer, contracts: dict, operator: str) -> list[str]:
    """Grants the operator the roles it lacks and, on a local chain, ETH for gas; returns what it did
    (nothing when everything is in place, so running it again sends no transaction)."""
    done = []
    for name, contract, role in operator_roles(contracts):
        if not contract.hasRole(role, operator):
            contract.grantRole(role, operator, sender=deployer)
            done.append(f"granted {name}")
    if chain.chain_id == LOCAL_CHAIN_ID and operator != deployer.address:
        balance = chain.provider.get_balance(operator)
        if balance < OPERATOR_MIN_BALANCE:
            deployer.transfer(operator, OPERATOR_FUNDING - balance)
            done.append(f"funded with {(OPERATOR_FUNDING - balance) / ETH:g} ETH")
    return done


def wire_live(deployer, live: Deployment, manifest_path: Path, operator: str) -> list[str]:
    """The `wire_operator` step on an existing deployment (one deployed before the operator had its own key
    and roles); the manifest then names the operator too."""
    contracts = {name: getattr(project, name).at(entry["address"]) for name, entry in live.contracts.items()}
    done = wire_operator(deployer, contracts, operator)
    operators = live.roles.setdefault("operator", [])
    if operator not in operators:
        operators.append(operator)
        write_manifest(live, manifest_path)
        done.append("added to the manifest")
    return done


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
@click.option("--operator", default=None, help="Posts Merkle roots, lists items and sets their metadata. "
              "Default: the dev operator key file's address.")
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
    changed = outdated_contracts(live) if live and not redeploy else []
    if changed:
        if live.chain_id != LOCAL_CHAIN_ID:
            raise click.ClickException(
                f"the sources of {', '.join(changed)} changed since they were deployed on chain {live.chain_id} "
                f"({manifest_path}): pass --redeploy to deploy the new contracts, or deploy from the version "
                "that was deployed")
        logger.warning(f"The sources of {', '.join(changed)} changed since the deployment at block "
                       f"{live.deploy_block}: deploying the new contracts on this local chain")
    if live and not redeploy and not changed:
        operator = operator or dev_operator_address()
        done = wire_live(account, live, manifest_path, operator)
        logger.success(f"Already deployed on chain {live.chain_id} at block {live.deploy_block} ({manifest_path}):")
        for name, entry in live.contracts.items():
            click.echo(f"  {name:<16} {entry['address']}")
        click.echo(f"  operator {operator}: {', '.join(done) if done else 'roles and funds in place'}")
        click.echo("Pass --redeploy to deploy a fresh set.")
        return
    if manifest_path.exists() and not live:
        logger.info(f"{manifest_path} describes a chain that is gone (reset or other chain): replacing it")

    params = DeployParameters(fee_bps=fee_bps, burn_bps=burn_bps)
    deployment, _ = deploy_stack(
        account,
        attestors=list(attestors) or [dev_attestor_address()],
        operator=operator or dev_operator_address(),
        treasury=treasury or account.address,
        params=params,
    )
    write_manifest(deployment, manifest_path)
    logger.success(f"Deployed on chain {deployment.chain_id} from block {deployment.deploy_block}; manifest: {manifest_path}")
    for name, entry in deployment.contracts.items():
        click.echo(f"  {name:<16} {entry['address']}")
