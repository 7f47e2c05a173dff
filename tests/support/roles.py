"""Admin changes in tests go through the admin timelock, as in production (the deployer is no admin):
one helper per kind of chain, each scheduling as the governor, then executing once the delay is over.

    admin = ApeTimelockAdmin(timelock, governor, chain)   # tests/conftest.py's `timelock_admin`
    admin.grant(token, "MINTER_ROLE", account)
    admin.call(market, "setFees", 100, 900)              # any DEFAULT_ADMIN_ROLE function

    grant_role(scenario_chain, "Marketplace", "LISTER_ROLE", account)   # a ScenarioChain (web3)
    call_as_admin(scenario_chain, "ActivityRewards", "setDailyCap", cap)  # any admin function there
    grant_operator_roles(rpc_url, manifest, account)                      # the stack's shared chain

Ape's chain and a private Anvil are the test's own: the delay is skipped by moving the clock. The stack's
Anvil is shared by every test and service, so there the helper waits the local delay out (10 s).
"""

import itertools
import time

from eth_utils import keccak
from web3 import Web3

from fitmint.chain.abi import ContractAbi
from fitmint.chain.manifest import OPERATOR_ROLES, Manifest
from fitmint.chain.timelock import NO_PREDECESSOR, Operation, RoleChange, State, current_operation
from scripts.admin import TimelockAdmin

_salts = itertools.count()



class ApeTimelockAdmin:
    """The timelock of a deployment on Ape's chain (`deploy_stack`'s contracts)."""

    def __init__(self, timelock, governor, chain):
        self.timelock = timelock
        self.governor = governor
        self.chain = chain

    def schedule(self, operation: Operation):
        return self.timelock.schedule(*operation.call, self.timelock.getMinDelay(), sender=self.governor)

    def wait(self):
        """Moves the chain past the delay (Ape's chain is the test's own: time travel is fine)."""
        self.chain.mine(deltatime=self.timelock.getMinDelay())

    def execute(self, operation: Operation, sender=None):
        return self.timelock.execute(*operation.call, sender=sender or self.governor)

    def run(self, operation: Operation):
        """Schedules, waits, executes; returns the execution's receipt (its logs hold the target's events)."""
        self.schedule(operation)
        self.wait()
        return self.execute(operation)

    def role_operation(self, action: str, contract, role: str, account) -> Operation:
        abi = [entry.model_dump(mode="json", by_alias=True) for entry in contract.contract_type.abi]
        change = RoleChange(action, contract.contract_type.name, role, getattr(account, "address", account))
        operation, state = current_operation(change, contract.address, abi, self.timelock.getOperationState)
        assert state == State.UNSET, f"{change} is already scheduled"
        return operation

    def grant(self, contract, role: str, account):
        return self.run(self.role_operation("grant", contract, role, account))

    def revoke(self, contract, role: str, account):
        return self.run(self.role_operation("revoke", contract, role, account))

    def call_operation(self, contract, function: str, *args) -> Operation:
        data = getattr(contract, function).encode_input(*args)
        return admin_call(contract.address, bytes(data), f"{contract.contract_type.name}.{function}{args}")

    def call(self, contract, function: str, *args):
        """`contract.function(*args)` as the admin (the timelock)."""
        return self.run(self.call_operation(contract, function, *args))


def grant_role(chain, contract: str, role: str, account: str, action: str = "grant"):
    """Grants (or revokes) `role` on the manifest's `contract` through the timelock of a ScenarioChain (a
    private Anvil, deployed by `ape run deploy`): as the governor, the delay skipped by time travel."""
    admin = TimelockAdmin(chain.w3, chain.manifest)
    operation, state = admin.operation(RoleChange(action, contract, role, account))
    assert state == State.UNSET, f"{operation.description} is already scheduled"
    return _run_as_governor(chain, admin, operation)


def call_as_admin(chain, contract: str, function: str, *args):
    """`contract.function(*args)` as the admin (the timelock) of a ScenarioChain: scheduled by the governor,
    the delay skipped by time travel, executed."""
    admin = TimelockAdmin(chain.w3, chain.manifest)
    deployed = chain.manifest.contract(contract)
    _, data = ContractAbi(contract, deployed.abi).function(function, args)
    return _run_as_governor(chain, admin, admin_call(deployed.checksum_address, data, f"{contract}.{function}{args}"))


def admin_call(target: str, data: bytes, description: str) -> Operation:
    """A timelock operation making one call as the admin, under a salt of its own (the same call twice in
    a test is two operations)."""
    return Operation(target, 0, data, NO_PREDECESSOR, keccak(text=f"test call {next(_salts)}"), description)


def _run_as_governor(chain, admin: TimelockAdmin, operation: Operation):
    """Schedules `operation` as a ScenarioChain's governor, skips the delay by time travel, executes it;
    returns the execution's receipt."""
    governor = chain.manifest.roles.governor[0]
    admin.send(admin.schedule_call(operation), governor, None)
    chain.mine(seconds=admin.delay())
    return admin.send(admin.execute_call(operation), governor, None)


def grant_operator_roles(rpc_url: str, manifest: Manifest, account: str) -> None:
    """`account` holds every operator role on the manifest's contracts once this returns: the missing grants
    scheduled together by the governor (an unlocked dev account of the stack's Anvil), executed once ready."""
    admin = TimelockAdmin(Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30})), manifest)
    governor = manifest.roles.governor[0]
    waiting = []
    for contract, role in OPERATOR_ROLES:
        operation, state = admin.operation(RoleChange("grant", contract, role, account))
        if state == State.UNSET:
            admin.send(admin.schedule_call(operation), governor, None)
        if state != State.DONE:
            waiting.append(operation)
    for operation in waiting:
        # By the wall clock, then a block at the current time (no time travel): with automine a block, and the
        # timestamp a call sees, only comes with a transaction.
        while admin.now() <= admin.ready_at(operation.id):
            time.sleep(0.5)
        while admin.state(operation.id) == State.WAITING:
            admin.w3.provider.make_request("evm_mine", [])
        admin.send(admin.execute_call(operation), governor, None)
