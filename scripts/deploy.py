"""Deploy FitToken, ActivityRewards, FitItems and Marketplace, wire their roles, write the manifest.

    ape run deploy --network ethereum:local:foundry --account TEST::0

The manifest (fitmint.chain.manifest.Manifest: chain id, addresses, deploy block, ABI files, roles) is
what the indexer and the backend read, at `StateSettings().manifest_path()`.
Running the script again on the same chain reports the existing deployment and only makes sure the
operators hold their roles (and, on a local chain, some ETH), sending nothing when they do;
`--redeploy` deploys a fresh set on purpose. A manifest whose chain was reset (Anvil restarted) is
detected by its deploy block hash and replaced. The manifest records a hash of each contract's compiled
code: when the sources changed since the deployment, a local chain gets the new contracts deployed (its
chain survives restarts), any other chain is refused until `--redeploy` says so.

The operators (default: the addresses of the dev operator pool's key files, KeySettings.operator_key_files)
post Merkle roots (ActivityRewards OPERATOR_ROLE), list catalog items (Marketplace LISTER_ROLE) and set their
metadata CIDs (FitItems METADATA_ROLE); the transaction queue sends those transactions from the pool.
Every operator is wired (roles, and ETH on a local chain) on a fresh deployment and on a live one, and the
manifest's roles.operator names them all.
"""

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
from ape import chain, project
from ape.cli import ConnectedProviderCommand, account_option
from ape.logging import logger
from eth_account import Account
from eth_utils import keccak

from fitmint.chain.manifest import DeployedContract, Manifest, ManifestError, Roles
from fitmint.keys import KeySettings
from fitmint.secrets import read_or_generate
from fitmint.settings import StateSettings
from fitmint.units import FIT

CONTRACT_NAMES = ("FitToken", "ActivityRewards", "FitItems", "Marketplace")
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


def _dev_key_address(name: str, key_file: Path) -> str:
    """The address of the key in `key_file`, a dev key generated there on first use (fitmint.secrets, the
    backend's generator: whichever comes first, the other reads it)."""
    if not key_file.exists():
        logger.info(f"Generating a dev {name} key at {key_file}")
    return Account.from_key("0x" + read_or_generate(key_file)).address


def dev_attestor_address() -> str:
    """The attestor key (FITMINT_ATTESTOR_KEY_FILE or <state>/secrets/attestor.key): the fitness backend
    signs vouchers with it."""
    return _dev_key_address("attestor", KeySettings().attestor_key_file)


def dev_operator_addresses() -> list[str]:
    """The operator pool (FITMINT_OPERATOR_KEY_FILES, or FITMINT_OPERATOR_KEY_FILE / <state>/secrets/operator.key
    and FITMINT_OPERATOR_POOL_SIZE - 1 dev keys beside it): the transaction queue signs with them."""
    return [_dev_key_address("operator", path) for path in KeySettings().operator_key_files]


def existing_deployment(manifest_path: Path) -> Manifest | None:
    """The manifest's deployment if it is still live on the connected chain, else None."""
    try:
        manifest = Manifest.read(manifest_path)
    except ManifestError as exc:
        if manifest_path.exists():
            logger.warning(f"{exc}: deploying afresh")
        return None
    if manifest.chain_id != chain.chain_id or manifest.deploy_block > chain.blocks.height:
        return None
    if chain.blocks[manifest.deploy_block].hash.to_0x_hex() != manifest.deploy_block_hash:
        return None
    if any(not chain.provider.get_code(contract.checksum_address) for contract in manifest.contracts.values()):
        return None
    return manifest


def code_hash(name: str) -> str:
    """keccak256 of the contract's compiled creation code (constructor arguments aside)."""
    return keccak(hexstr=getattr(project, name).contract_type.deployment_bytecode.bytecode).hex()


def outdated_contracts(deployment: Manifest) -> list[str]:
    """The deployed contracts whose sources changed since (a manifest without code hashes: all of them)."""
    return [name for name, contract in deployment.contracts.items() if contract.code_hash != code_hash(name)]


def abi_file(name: str) -> str:
    """Where the manifest's folder holds the contract's ABI."""
    return f"abi/{name}.json"


def export_abis(manifest_dir: Path) -> None:
    """Writes each contract's ABI from the compiled artifacts to its `abi_file`."""
    for name in CONTRACT_NAMES:
        contract_type = getattr(project, name).contract_type
        abi = [entry.model_dump(mode="json", by_alias=True) for entry in contract_type.abi]
        path = manifest_dir / abi_file(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(abi, indent=2) + "\n")


def deploy_stack(
    deployer,
    attestors: list[str],
    operators: list[str],
    treasury: str,
    params: DeployParameters,
) -> tuple[Manifest, dict]:
    """Deploys and wires the four contracts; returns the manifest (`write_manifest` writes it with the
    ABI files it names) and the contract objects."""
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
    for operator in operators:
        wire_operator(deployer, contracts, operator)

    blocks = {name: chain.get_receipt(contract.txn_hash).block_number for name, contract in contracts.items()}
    deploy_block = blocks["FitToken"]
    deployment = Manifest(
        chain_id=chain.chain_id,
        deployer=deployer.address,
        deploy_block=deploy_block,
        deploy_block_hash=chain.blocks[deploy_block].hash.to_0x_hex(),
        contracts={
            name: DeployedContract(name=name, address=contract.address, block=blocks[name], tx=contract.txn_hash,
                                   code_hash=code_hash(name), abi_file=abi_file(name))
            for name, contract in contracts.items()
        },
        roles=Roles(admin=[deployer.address], attestors=list(attestors), operator=list(operators), treasury=[treasury]),
        parameters=asdict(params),
        deployed_at=datetime.now(UTC).isoformat(timespec="seconds"),
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


def wire_live(deployer, live: Manifest, manifest_path: Path, operators: list[str]) -> dict[str, list[str]]:
    """The `wire_operator` step for each operator on an existing deployment (one deployed before the operator
    pool had its keys and roles); the manifest then names them too. Returns what was done per operator."""
    contracts = {name: getattr(project, name).at(contract.checksum_address)
                 for name, contract in live.contracts.items()}
    done = {operator: wire_operator(deployer, contracts, operator) for operator in operators}
    added = [operator for operator in operators if operator not in live.roles.operator]
    if added:
        live.roles.operator.extend(added)
        write_manifest(live, manifest_path)
        for operator in added:
            done[operator].append("added to the manifest")
    return done


def write_manifest(deployment: Manifest, manifest_path: Path) -> None:
    """The ABI files from the compiled artifacts, then the manifest naming them."""
    export_abis(manifest_path.parent)
    for name, contract in deployment.contracts.items():
        contract.abi_file = abi_file(name)
    deployment.write(manifest_path)


@click.command(cls=ConnectedProviderCommand)
@account_option()
@click.option("--attestor", "attestors", multiple=True, help="Address allowed to sign vouchers (repeatable). "
              "Default: the dev attestor key file's address.")
@click.option("--operator", "operators", multiple=True, help="Posts Merkle roots, lists items and sets their "
              "metadata (repeatable: the transaction queue's pool). Default: the dev operator pool's addresses.")
@click.option("--treasury", default=None, help="Receives marketplace fees. Default: the deployer.")
@click.option("--fee-bps", type=click.IntRange(0, 5_000), default=DeployParameters.fee_bps, show_default=True)
@click.option("--burn-bps", type=click.IntRange(0, 5_000), default=DeployParameters.burn_bps, show_default=True)
@click.option("--manifest", "manifest_path", type=click.Path(path_type=Path), default=None,
              help="Where to write the manifest. Default: StateSettings().manifest_path(), "
                   "<state>/deployments/<chain id>.json")
@click.option("--redeploy", is_flag=True, help="Deploy a fresh set even if the manifest's is live.")
def cli(account, attestors, operators, treasury, fee_bps, burn_bps, manifest_path, redeploy):
    """Deploy and wire the fitmint contracts, then write the deployment manifest."""
    if fee_bps + burn_bps > 5_000:
        raise click.BadOptionUsage("fee_bps", f"--fee-bps + --burn-bps must be <= 5000, got {fee_bps + burn_bps}")
    manifest_path = manifest_path or StateSettings().manifest_path(chain.chain_id)

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
        operators = list(operators) or dev_operator_addresses()
        done = wire_live(account, live, manifest_path, operators)
        logger.success(f"Already deployed on chain {live.chain_id} at block {live.deploy_block} ({manifest_path}):")
        for name, contract in live.contracts.items():
            click.echo(f"  {name:<16} {contract.checksum_address}")
        for operator, wired in done.items():
            click.echo(f"  operator {operator}: {', '.join(wired) if wired else 'roles and funds in place'}")
        click.echo("Pass --redeploy to deploy a fresh set.")
        return
    if manifest_path.exists() and not live:
        logger.info(f"{manifest_path} describes a chain that is gone (reset or other chain): replacing it")

    params = DeployParameters(fee_bps=fee_bps, burn_bps=burn_bps)
    deployment, _ = deploy_stack(
        account,
        attestors=list(attestors) or [dev_attestor_address()],
        operators=list(operators) or dev_operator_addresses(),
        treasury=treasury or account.address,
        params=params,
    )
    write_manifest(deployment, manifest_path)
    logger.success(f"Deployed on chain {deployment.chain_id} from block {deployment.deploy_block}; "
                   f"manifest: {manifest_path}")
    for name, contract in deployment.contracts.items():
        click.echo(f"  {name:<16} {contract.checksum_address}")
