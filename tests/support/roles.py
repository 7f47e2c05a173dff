"""Admin changes in tests go through the admin timelock, as in production (the deployer is no admin):
one helper per kind of chain, each scheduling as the governor, waiting out the delay by moving the
chain's clock (Ape's own Anvil, a private Anvil), and executing.

    admin = ApeTimelockAdmin(timelock, governor, chain)   # tests/conftest.py's `timelock_admin`
    admin.grant(token, "MINTER_ROLE", account)
    admin.call(market, "setFees", 100, 900)              # any DEFAULT_ADMIN_ROLE function

    grant_role(scenario_chain, "Marketplace", "LISTER_ROLE", account)   # a ScenarioChain (web3)
"""

import itertools

from eth_utils import keccak

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
        return Operation(contract.address, 0, bytes(data), NO_PREDECESSOR, keccak(text=f"test call {next(_salts)}"),
                         f"{contract.contract_type.name}.{function}{args}")

    def call(self, contract, function: str, *args):
        """`contract.function(*args)` as the admin (the timelock)."""
        return self.run(self.call_operation(contract, function, *args))


def grant_role(chain, contract: str, role: str, account: str, action: str = "grant"):
    """Grants (or revokes) `role` on the manifest's `contract` through the timelock of a ScenarioChain (a
    private Anvil, deployed by `ape run deploy`): as the governor, the delay skipped by time travel."""
    admin = TimelockAdmin(chain.w3, chain.manifest)
    operation, state = admin.operation(RoleChange(action, contract, role, account))
    assert state == State.UNSET, f"{operation.description} is already scheduled"
    governor = chain.manifest.roles.governor[0]
    admin.send(admin.schedule_call(operation), governor, None)
    chain.mine(seconds=admin.delay())
    return admin.send(admin.execute_call(operation), governor, None)
