"""Role changes through the admin timelock: schedule, list what is pending, execute, cancel.

    python -m scripts.admin schedule grant ActivityRewards ATTESTOR_ROLE 0xNEW...
    python -m scripts.admin pending
    python -m scripts.admin execute grant ActivityRewards ATTESTOR_ROLE 0xNEW...
    python -m scripts.admin cancel grant ActivityRewards ATTESTOR_ROLE 0xNEW...

Contracts and the timelock come from the deployment manifest (`KernelSettings.manifest_path()`), the node
from `FITMINT_RPC_URL`. A change names its contract, role and account; its operation id is derived from
them (fitmint.chain.timelock), so scheduling it twice reports the pending one and sends nothing.
Transactions are sent from `--key-file` (a private key file), or, on the local chain, from the governor's
unlocked dev account by the node itself (`--from` another unlocked account). A governor that is a
multisig: `--print` shows the timelock call for the multisig to submit instead of sending it.
"""

import sys
import time
from pathlib import Path

import click
from eth_account import Account
from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from fitmint.chain.abi import ContractAbi
from fitmint.chain.manifest import Manifest, ManifestError
from fitmint.chain.timelock import (
    ROLE_ACTIONS,
    Operation,
    RoleChange,
    State,
    current_operation,
    describe_call,
    readiness,
)
from fitmint.secrets import read_or_generate
from fitmint.settings import KernelSettings

LOCAL_CHAIN_ID = 31337


class AdminError(click.ClickException):
    """A refusal in words (exit status 1)."""


class TimelockAdmin:
    """The deployment's timelock on a node (web3): what the CLI and the tests' role helper use."""

    def __init__(self, w3: Web3, manifest: Manifest):
        if manifest.timelock is None:
            raise AdminError("the deployment manifest names no admin timelock (a deployment from before it): "
                             "run `ape run deploy` once to hand admin over")
        self.w3 = w3
        self.manifest = manifest
        self.timelock = w3.eth.contract(address=manifest.timelock.checksum_address, abi=manifest.timelock.abi)

    # --- reading ------------------------------------------------------------------------------------------
    def now(self) -> int:
        """What the next block's timestamp will be at least: the chain's latest block or the wall clock."""
        return max(int(time.time()), self.w3.eth.get_block("latest")["timestamp"])

    def delay(self) -> int:
        return self.timelock.functions.getMinDelay().call()

    def state(self, operation_id: bytes) -> State:
        return State(self.timelock.functions.getOperationState(operation_id).call())

    def ready_at(self, operation_id: bytes) -> int:
        return self.timelock.functions.getTimestamp(operation_id).call()

    def operation(self, change: RoleChange) -> tuple[Operation, State]:
        """The change's current operation (fitmint.chain.timelock.current_operation) and its state."""
        try:
            deployed = self.manifest.contract(change.contract)
        except ManifestError as exc:
            raise AdminError(str(exc)) from None
        try:
            return current_operation(change, deployed.checksum_address, deployed.abi, self.state)
        except ValueError as exc:
            raise AdminError(str(exc)) from None

    def pending(self) -> list[dict]:
        """Every scheduled operation not yet executed or cancelled, oldest first: id, what it does, when ready."""
        names = {contract.address: name for name, contract in self.manifest.contracts.items()}
        scheduled = self.timelock.events.CallScheduled().get_logs(from_block=self.manifest.timelock.block)
        found = {}
        for log in scheduled:
            found.setdefault(bytes(log.args.id), []).append(log.args)
        rows = []
        for operation_id, calls in found.items():
            state = self.state(operation_id)
            if state not in (State.WAITING, State.READY):
                continue
            what = "; ".join(describe_call(call.data, names.get(call.target.lower()),
                                           self._abi(names.get(call.target.lower()))) for call in calls)
            rows.append({"id": "0x" + operation_id.hex(), "what": what, "state": state.name.lower(),
                         "ready_at": self.ready_at(operation_id)})
        return rows

    def _abi(self, name: str | None) -> list[dict] | None:
        return self.manifest.contracts[name].abi if name else None

    # --- writing ------------------------------------------------------------------------------------------
    def schedule_call(self, operation: Operation):
        return self.timelock.functions.schedule(*operation.call, self.delay())

    def execute_call(self, operation: Operation):
        return self.timelock.functions.execute(*operation.call)

    def cancel_call(self, operation: Operation):
        return self.timelock.functions.cancel(operation.id)

    def send(self, call, sender: str | None, key: str | None):
        """Simulates `call` (a revert is refused with its decoded error, nothing sent), then sends it from
        `key`'s account or the node's unlocked `sender`; returns the receipt."""
        account = Account.from_key(key) if key else None
        origin = account.address if account else sender
        try:
            call.call({"from": origin})
        except (ContractCustomError, ContractLogicError) as exc:
            raise AdminError(f"refused: {self.decode_revert(exc)}") from None
        if account is None:
            tx_hash = call.transact({"from": origin})
        else:
            tx = call.build_transaction({"from": origin, "nonce": self.w3.eth.get_transaction_count(origin, "pending")})
            tx_hash = self.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        if receipt.status != 1:
            raise AdminError(f"transaction {tx_hash.hex()} reverted")
        return receipt

    def decode_revert(self, exc: Exception) -> str:
        """The custom error a revert carries, decoded from the timelock's and every contract's ABI (a call
        the timelock executes bubbles its target's error up)."""
        data = getattr(exc, "data", None)
        raw = bytes.fromhex(data[2:]) if isinstance(data, str) and data.startswith("0x") else b""
        abis = [ContractAbi(TimelockAdmin.__name__, self.manifest.timelock.abi),
                *(ContractAbi(name, contract.abi) for name, contract in self.manifest.contracts.items())]
        for abi in abis:
            if (error := abi.error(raw)) is not None:
                return str(error)
        return str(exc)


# --- the command line ---------------------------------------------------------------------------------------
def _admin(rpc_url: str | None, manifest_path: Path | None) -> TimelockAdmin:
    settings = KernelSettings()
    w3 = Web3(Web3.HTTPProvider(rpc_url or settings.fitmint_rpc_url, request_kwargs={"timeout": 30}))
    try:
        chain_id = w3.eth.chain_id
    except Exception as exc:  # noqa: BLE001 - any failure to reach the node is said in words
        raise AdminError(f"the node at {rpc_url or settings.fitmint_rpc_url} does not answer: {exc}") from None
    try:
        manifest = Manifest.load(manifest_path or settings.manifest_path(chain_id))
    except ManifestError as exc:
        raise AdminError(str(exc)) from None
    return TimelockAdmin(w3, manifest)


def _signer(admin: TimelockAdmin, sender: str | None, key_file: Path | None) -> tuple[str | None, str | None]:
    """(unlocked sender, private key): the key file's, an explicit --from, or the local chain's governor."""
    if key_file is not None:
        if not key_file.exists():
            raise AdminError(f"no key file at {key_file}")
        return None, "0x" + read_or_generate(key_file)
    if sender is not None:
        return to_checksum_address(sender), None
    if admin.w3.eth.chain_id == LOCAL_CHAIN_ID and admin.manifest.roles.governor:
        return admin.manifest.roles.governor[0], None
    raise AdminError("say who sends: --key-file PATH (the governor's key), or --print for a multisig governor")


def change_arguments(function):
    for decorator in reversed([
        click.argument("action", type=click.Choice(ROLE_ACTIONS)),
        click.argument("contract"),
        click.argument("role"),
        click.argument("account"),
    ]):
        function = decorator(function)
    return function


def connection_options(function):
    for decorator in reversed([
        click.option("--rpc-url", default=None, help="The node. Default: FITMINT_RPC_URL."),
        click.option("--manifest", "manifest_path", type=click.Path(path_type=Path), default=None,
                     help="The deployment manifest. Default: <state>/deployments/<chain id>.json."),
    ]):
        function = decorator(function)
    return function


def sender_options(function):
    for decorator in reversed([
        click.option("--key-file", type=click.Path(path_type=Path), default=None,
                     help="A file holding the sender's private key (hex)."),
        click.option("--from", "sender", default=None, help="An account the node signs for (a dev chain's)."),
        click.option("--print", "print_only", is_flag=True,
                     help="Print the timelock call (to, data) for a multisig to submit; send nothing."),
    ]):
        function = decorator(function)
    return function


def _change(action, contract, role, account) -> RoleChange:
    try:
        return RoleChange(action, contract, role, account)
    except ValueError as exc:
        raise click.BadArgumentUsage(str(exc)) from None


def _send_or_print(admin, call, what, sender, key_file, print_only) -> bool:
    if print_only:
        data = admin.timelock.encode_abi(call.fn_name, args=call.args)
        click.echo(f"{what}: submit from the governor: to {admin.timelock.address} data {data}")
        return False
    admin.send(call, *_signer(admin, sender, key_file))
    return True


@click.group()
def cli():
    """Role changes through the admin timelock."""


@cli.command()
@change_arguments
@connection_options
@sender_options
def schedule(action, contract, role, account, rpc_url, manifest_path, key_file, sender, print_only):
    """Schedule a role grant or revoke; it can be executed once the timelock's delay is over."""
    change = _change(action, contract, role, account)
    admin = _admin(rpc_url, manifest_path)
    operation, state = admin.operation(change)
    if state != State.UNSET:
        click.echo(f"already scheduled: {change} (operation 0x{operation.id.hex()}), "
                   f"{readiness(admin.ready_at(operation.id), admin.now())}")
        return
    if _send_or_print(admin, admin.schedule_call(operation), f"schedule {change}", sender, key_file, print_only):
        click.echo(f"scheduled: {change} (operation 0x{operation.id.hex()}), "
                   f"{readiness(admin.ready_at(operation.id), admin.now())}")


@cli.command()
@connection_options
def pending(rpc_url, manifest_path):
    """List the scheduled operations not yet executed or cancelled, with when each becomes ready."""
    admin = _admin(rpc_url, manifest_path)
    rows = admin.pending()
    if not rows:
        click.echo(f"no pending operation (timelock {admin.timelock.address}, delay {admin.delay()} s)")
        return
    now = admin.now()
    for row in rows:
        click.echo(f"{row['id']}  {row['what']}  {readiness(row['ready_at'], now)}")


@cli.command()
@change_arguments
@connection_options
@sender_options
def execute(action, contract, role, account, rpc_url, manifest_path, key_file, sender, print_only):
    """Execute a scheduled role change whose delay is over (anyone may)."""
    change = _change(action, contract, role, account)
    admin = _admin(rpc_url, manifest_path)
    operation, state = admin.operation(change)
    if state == State.UNSET:
        raise AdminError(f"not scheduled: {change} (python -m scripts.admin schedule {action} {contract} {role} "
                         f"{account})")
    if state == State.WAITING:
        raise AdminError(f"not ready: {change}, {readiness(admin.ready_at(operation.id), admin.now())}")
    if _send_or_print(admin, admin.execute_call(operation), f"execute {change}", sender, key_file, print_only):
        click.echo(f"executed: {change} (operation 0x{operation.id.hex()})")


@cli.command()
@change_arguments
@connection_options
@sender_options
def cancel(action, contract, role, account, rpc_url, manifest_path, key_file, sender, print_only):
    """Cancel a scheduled role change (the governor)."""
    change = _change(action, contract, role, account)
    admin = _admin(rpc_url, manifest_path)
    operation, state = admin.operation(change)
    if state == State.UNSET:
        raise AdminError(f"nothing to cancel: {change} is not scheduled")
    if _send_or_print(admin, admin.cancel_call(operation), f"cancel {change}", sender, key_file, print_only):
        click.echo(f"cancelled: {change} (operation 0x{operation.id.hex()})")


if __name__ == "__main__":
    sys.exit(cli())
