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

Admin: once every role is wired, DEFAULT_ADMIN_ROLE of every contract goes to an OpenZeppelin
TimelockController (`AdminTimelock`, `--timelock-delay`: 2 days, 10 s on the local chain) whose proposer and
canceller is the governor (`--governor`, a multisig in production), executable by anyone once ready; the
guardian (`--guardian`) holds PAUSER_ROLE, and the deployer renounces every role it was not named to. From
then on a role changes through the timelock (`python -m scripts.admin`); running the script again on a live
deployment schedules what an operator lacks through the timelock, and executes it once ready.
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
from eth_utils import is_address, keccak, to_checksum_address

from fitmint.chain.manifest import OPERATOR_ROLES, TIMELOCK_NAME, DeployedContract, Manifest, ManifestError, Roles
from fitmint.chain.timelock import (
    DEFAULT_ADMIN_ROLE,
    OPEN_EXECUTION,
    RoleChange,
    State,
    current_operation,
    readiness,
    role_id,
    role_names,
)
from fitmint.keys import KeySettings
from fitmint.secrets import read_or_generate
from fitmint.settings import StateSettings
from fitmint.units import FIT

CONTRACT_NAMES = ("FitToken", "ActivityRewards", "FitItems", "Marketplace")
ETH = 10**18
LOCAL_CHAIN_ID = 31337
OPERATOR_MIN_BALANCE = 1 * ETH  # on a local chain, top the operator up to OPERATOR_FUNDING below this
OPERATOR_FUNDING = 10 * ETH
TIMELOCK_DELAY = 2 * 86_400  # seconds: long enough for anyone watching to see a scheduled change and react
LOCAL_TIMELOCK_DELAY = 10  # on the local chain: the stack and its tests wait it out in wall-clock time


@dataclass(frozen=True)
class DeployParameters:
    supply_cap: int = 1_000_000_000 * FIT
    daily_cap: int = 1_000 * FIT
    epoch_duration: int = 86_400
    initial_epoch_budget: int = 1_000_000 * FIT
    halving_epochs: int = 365
    fee_bps: int = 250
    burn_bps: int = 250


@dataclass(frozen=True)
class Governance:
    """Who administers the deployment once it is wired (see the module's docstring)."""
    governor: str  # the timelock's PROPOSER_ROLE and CANCELLER_ROLE: schedules and cancels admin changes
    guardian: str  # PAUSER_ROLE on FitToken, ActivityRewards and Marketplace: pauses without waiting
    delay: int  # the timelock's minimum delay, seconds


def default_timelock_delay(chain_id: int) -> int:
    return LOCAL_TIMELOCK_DELAY if chain_id == LOCAL_CHAIN_ID else TIMELOCK_DELAY


def default_governance(deployer: str) -> Governance:
    """The deployer as governor and guardian, the connected chain's default delay (a dev deployment)."""
    return Governance(deployer, deployer, default_timelock_delay(chain.chain_id))


def _dev_key_address(name: str, key_file: Path) -> str:
    """The address of the key in `key_file`, a dev key generated there on first use (fitmint.secrets, the
    backend's generator: whichever comes first, the other reads it)."""
    if not key_file.exists():
        logger.info(f"Generating a dev {name} key at {key_file}")
    return Account.from_key("0x" + read_or_generate(key_file)).address


def dev_attestor_address() -> str:
    """The attestor key (FITMINT_ATTESTOR_KEY_FILE or <state>/secrets/attestor.key): the fitness backend
    signs vouchers with it; with a remote signer (FITMINT_ATTESTOR_SIGNER_URL), the address it signs as
    (FITMINT_ATTESTOR_ADDRESS), and no key file is read or generated."""
    settings = KeySettings()
    if settings.fitmint_attestor_signer_url:
        if not settings.fitmint_attestor_address:
            raise ValueError("FITMINT_ATTESTOR_SIGNER_URL is set without FITMINT_ATTESTOR_ADDRESS (the address the "
                             "signer signs vouchers as, which the deploy grants ATTESTOR_ROLE)")
        return to_checksum_address(settings.fitmint_attestor_address)
    return _dev_key_address("attestor", settings.attestor_key_file)


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
    deployed = [*manifest.contracts.values(), *([manifest.timelock] if manifest.timelock else [])]
    if any(not chain.provider.get_code(contract.checksum_address) for contract in deployed):
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


def compiled_abi(name: str) -> list[dict]:
    """The contract's ABI as compiled (JSON form)."""
    return [entry.model_dump(mode="json", by_alias=True) for entry in getattr(project, name).contract_type.abi]


def export_abis(manifest_dir: Path) -> None:
    """Writes each contract's ABI (and the timelock's) from the compiled artifacts to its `abi_file`."""
    for name in (*CONTRACT_NAMES, TIMELOCK_NAME):
        path = manifest_dir / abi_file(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(compiled_abi(name), indent=2) + "\n")


def deploy_stack(
    deployer,
    attestors: list[str],
    operators: list[str],
    treasury: str,
    params: DeployParameters,
    governance: Governance | None = None,
) -> tuple[Manifest, dict]:
    """Deploys and wires the four contracts, then hands their admin to a timelock; returns the manifest
    (`write_manifest` writes it with the ABI files it names) and the contract objects (the timelock's as
    TIMELOCK_NAME). Governance defaults to the deployer as governor and guardian."""
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
    contracts = {"FitToken": token, "ActivityRewards": rewards, "FitItems": items, "Marketplace": market}
    for operator in operators:
        wire_operator(deployer, contracts, operator)
    governance = governance or default_governance(deployer.address)
    timelock = deploy_timelock(deployer, governance)
    hand_over_admin(deployer, contracts, timelock, governance.guardian,
                    keep=roles_named(contracts, deployer.address, guardian=governance.guardian, operators=operators,
                                     attestors=attestors))

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
        timelock=deployed_timelock(timelock),
        roles=Roles(admin=[timelock.address], governor=[governance.governor], guardian=[governance.guardian],
                    attestors=list(attestors), operator=list(operators), treasury=[treasury]),
        parameters={**asdict(params), "timelock_delay": governance.delay},
        deployed_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return deployment, {**contracts, TIMELOCK_NAME: timelock}


def deploy_timelock(deployer, governance: Governance):
    """The admin timelock: the governor proposes and cancels; anyone executes an operation once its delay
    is over (the delay protects, not who presses the button: a keeper or any member of the multisig can)."""
    return deployer.deploy(project.AdminTimelock, governance.delay, [governance.governor], [OPEN_EXECUTION])


def deployed_timelock(timelock) -> DeployedContract:
    receipt = chain.get_receipt(timelock.txn_hash)
    return DeployedContract(name=TIMELOCK_NAME, address=timelock.address, block=receipt.block_number,
                            tx=timelock.txn_hash, code_hash=code_hash(TIMELOCK_NAME), abi_file=abi_file(TIMELOCK_NAME))


def roles_named(contracts: dict, account: str, *, guardian: str, operators: list[str],
                attestors: list[str]) -> set[tuple[str, bytes]]:
    """(contract address, role) that `account` holds by being named guardian, an operator or an attestor:
    what the deployer keeps when it hands over admin (on the local chain it is all three of the first)."""
    named = set()
    if account == guardian:
        named |= {(contract.address, role_id("PAUSER_ROLE")) for name, contract in contracts.items()
                  if "PAUSER_ROLE" in role_names(compiled_abi(name))}
    if account in operators:
        named |= {(contract.address, role) for _, contract, role in operator_roles(contracts)}
    if account in attestors:
        named.add((contracts["ActivityRewards"].address, role_id("ATTESTOR_ROLE")))
    return named


def hand_over_admin(deployer, contracts: dict, timelock, guardian: str, keep: set[tuple[str, bytes]]) -> list[str]:
    """Makes the timelock the admin of every contract and the guardian a pauser of each pausable one, then
    has the deployer renounce every role it holds but those in `keep`, DEFAULT_ADMIN_ROLE last (the
    constructors gave it minting, listing, metadata and pausing powers it must not keep). Returns what it
    did; a contract already handed over is left as it is."""
    done = []
    admin = role_id(DEFAULT_ADMIN_ROLE)
    for name, contract in contracts.items():
        if not contract.hasRole(admin, deployer):
            continue
        roles = role_names(compiled_abi(name))
        if not contract.hasRole(admin, timelock):
            contract.grantRole(admin, timelock, sender=deployer)
        if "PAUSER_ROLE" in roles and not contract.hasRole(role_id("PAUSER_ROLE"), guardian):
            contract.grantRole(role_id("PAUSER_ROLE"), guardian, sender=deployer)
        renounced = [role for role in roles[1:] if (contract.address, role_id(role)) not in keep
                     and contract.hasRole(role_id(role), deployer)]
        for role in [*renounced, DEFAULT_ADMIN_ROLE]:
            contract.renounceRole(role_id(role), deployer, sender=deployer)
        done.append(f"{name}: admin handed to the timelock; the deployer renounced {', '.join(renounced)}"
                    f"{', ' if renounced else ''}{DEFAULT_ADMIN_ROLE}")
    return done


def operator_roles(contracts: dict) -> list[tuple[str, object, bytes]]:
    """(name, contract, role) the operator needs (fitmint.chain.manifest.OPERATOR_ROLES)."""
    return [(f"{name}.{role}", contracts[name], role_id(role)) for name, role in OPERATOR_ROLES]


def wire_operator(deployer, contracts: dict, operator: str) -> list[str]:
    """Grants the operator the roles it lacks and, on a local chain, ETH for gas; returns what it did
    (nothing when everything is in place, so running it again sends no transaction)."""
    done = []
    for name, contract, role in operator_roles(contracts):
        if not contract.hasRole(role, operator):
            done.append(grant_role(deployer, contracts, name, contract, operator))
    if chain.chain_id == LOCAL_CHAIN_ID and operator != deployer.address:
        balance = chain.provider.get_balance(operator)
        if balance < OPERATOR_MIN_BALANCE:
            deployer.transfer(operator, OPERATOR_FUNDING - balance)
            done.append(f"funded with {(OPERATOR_FUNDING - balance) / ETH:g} ETH")
    return done


def grant_role(deployer, contracts: dict, name: str, contract, account: str) -> str:
    """Grants the role `name` ("Contract.ROLE") to `account`: directly while the deployer is the role's
    admin (a deployment being wired), else through the timelock (`contracts[TIMELOCK_NAME]`): scheduled
    if the deployer is a proposer, executed once ready (a later run), or what is waiting reported."""
    contract_name, role = name.split(".")
    if contract.hasRole(contract.getRoleAdmin(role_id(role)), deployer):
        contract.grantRole(role_id(role), account, sender=deployer)
        return f"granted {name}"
    timelock = contracts.get(TIMELOCK_NAME)
    if timelock is None:
        raise click.ClickException(f"{name}: the deployer is not its admin and the manifest names no timelock")
    change = RoleChange("grant", contract_name, role, account)
    operation, state = current_operation(change, contract.address, compiled_abi(contract_name),
                                         timelock.getOperationState)
    if state == State.READY:
        timelock.execute(*operation.call, sender=deployer)
        return f"granted {name} (through the timelock)"
    if state == State.UNSET:
        if not timelock.hasRole(timelock.PROPOSER_ROLE(), deployer):
            return (f"{name} missing: the governor must grant it "
                    f"(python -m scripts.admin schedule grant {contract_name} {role} {account})")
        timelock.schedule(*operation.call, timelock.getMinDelay(), sender=deployer)
    ready = readiness(timelock.getTimestamp(operation.id), chain.pending_timestamp)
    return f"{name} scheduled through the timelock, {ready} (run deploy again, or `python -m scripts.admin execute`)"


def wire_live(deployer, live: Manifest, manifest_path: Path, operators: list[str],
              governance: Governance | None = None) -> tuple[dict[str, list[str]], list[str]]:
    """The `wire_operator` step for each operator on an existing deployment (one deployed before the operator
    pool had its keys and roles), through the timelock when it has one; the manifest then names them too. A
    deployment from before the timelock gets one (`adopt_timelock`). Returns what was done per operator, and
    to the admin."""
    contracts = {name: getattr(project, name).at(contract.checksum_address)
                 for name, contract in live.contracts.items()}
    if live.timelock is not None:
        contracts[TIMELOCK_NAME] = project.AdminTimelock.at(live.timelock.checksum_address)
    done = {operator: wire_operator(deployer, contracts, operator) for operator in operators}
    added = [operator for operator in operators if operator not in live.roles.operator]
    changed = bool(added)
    if added:
        live.roles.operator.extend(added)
        for operator in added:
            done[operator].append("added to the manifest")
    admin = []
    if live.timelock is None:
        admin = adopt_timelock(deployer, live, contracts, governance)
        changed = True
    if changed:
        write_manifest(live, manifest_path)
    return done, admin
    return done


def adopt_timelock(deployer, live: Manifest, contracts: dict, governance: Governance | None) -> list[str]:
    """A deployment from before the admin timelock, still administered by the deployer: deploys the
    timelock and hands admin over as a fresh deployment does (the manifest then names it)."""
    not_admin = [name for name, contract in contracts.items()
                 if not contract.hasRole(role_id(DEFAULT_ADMIN_ROLE), deployer)]
    if not_admin:
        raise click.ClickException(f"the manifest names no timelock, and the deployer {deployer.address} is not "
                                   f"the admin of {', '.join(not_admin)}: hand admin over from the admin's account")
    governance = governance or default_governance(deployer.address)
    timelock = deploy_timelock(deployer, governance)
    done = hand_over_admin(deployer, contracts, timelock, governance.guardian,
                           keep=roles_named(contracts, deployer.address, guardian=governance.guardian,
                                            operators=live.roles.operator, attestors=live.roles.attestors))
    live.timelock = deployed_timelock(timelock)
    live.roles.admin = [timelock.address]
    live.roles.governor = [governance.governor]
    live.roles.guardian = [governance.guardian]
    live.parameters["timelock_delay"] = governance.delay
    return [f"admin timelock {timelock.address} deployed (delay {governance.delay} s)", *done]


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
@click.option("--governor", default=None, help="Schedules and cancels admin changes through the timelock "
              "(a multisig in production). Default: the deployer.")
@click.option("--guardian", default=None, help="Holds PAUSER_ROLE: pauses and unpauses without waiting, "
              "nothing else. Default: the deployer.")
@click.option("--timelock-delay", type=click.IntRange(min=1), default=None,
              help=f"Seconds an admin change waits between scheduled and executable. Default: {TIMELOCK_DELAY} "
                   f"({TIMELOCK_DELAY // 86_400} days), {LOCAL_TIMELOCK_DELAY} on the local chain {LOCAL_CHAIN_ID}.")
@click.option("--redeploy", is_flag=True, help="Deploy a fresh set even if the manifest's is live.")
def cli(account, attestors, operators, treasury, fee_bps, burn_bps, manifest_path, governor, guardian,
        timelock_delay, redeploy):
    """Deploy and wire the fitmint contracts, hand their admin to a timelock, write the deployment manifest."""
    if fee_bps + burn_bps > 5_000:
        raise click.BadOptionUsage("fee_bps", f"--fee-bps + --burn-bps must be <= 5000, got {fee_bps + burn_bps}")
    for option, address in (("governor", governor), ("guardian", guardian)):
        if address is not None and not is_address(address):
            raise click.BadOptionUsage(option, f"--{option} must be an address, got {address!r}")
    governance = Governance(governor=to_checksum_address(governor or account.address),
                            guardian=to_checksum_address(guardian or account.address),
                            delay=timelock_delay or default_timelock_delay(chain.chain_id))
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
        done, admin = wire_live(account, live, manifest_path, operators, governance)
        logger.success(f"Already deployed on chain {live.chain_id} at block {live.deploy_block} ({manifest_path}):")
        for name, contract in [*live.contracts.items(), (TIMELOCK_NAME, live.timelock)]:
            click.echo(f"  {name:<16} {contract.checksum_address}")
        for operator, wired in done.items():
            click.echo(f"  operator {operator}: {', '.join(wired) if wired else 'roles and funds in place'}")
        for line in admin:
            click.echo(f"  admin: {line}")
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
        governance=governance,
    )
    write_manifest(deployment, manifest_path)
    logger.success(f"Deployed on chain {deployment.chain_id} from block {deployment.deploy_block}; "
                   f"manifest: {manifest_path}")
    for name, contract in [*deployment.contracts.items(), (TIMELOCK_NAME, deployment.timelock)]:
        click.echo(f"  {name:<16} {contract.checksum_address}")
    click.echo(f"  admin: the timelock (delay {governance.delay} s), governor {governance.governor}, "
               f"guardian {governance.guardian}")
