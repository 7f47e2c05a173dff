"""Giving a test's fresh operator key the operator roles on a deployment (the stack's, or a private chain's):
what `ape run deploy` grants each key of the operator pool (scripts/deploy.py `operator_roles`), granted by
the deployment's admin. Today the admin is the deployer, Anvil's dev account 0, unlocked on the node, so it
grants directly; when admin moves behind a timelock this one function changes."""

from web3 import Web3

from fitmint.chain.manifest import Manifest

# scripts/deploy.py operator_roles: (contract, role constant) the queue's keys need for the platform's calls.
OPERATOR_ROLES = (("ActivityRewards", "OPERATOR_ROLE"), ("Marketplace", "LISTER_ROLE"), ("FitItems", "METADATA_ROLE"))


def grant_operator_roles(rpc_url: str, manifest: Manifest, account: str) -> None:
    """`account` holds every operator role on the manifest's contracts once this returns (mined)."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    account = Web3.to_checksum_address(account)
    for name, role_name in OPERATOR_ROLES:
        deployed = manifest.contract(name)
        contract = w3.eth.contract(address=deployed.checksum_address, abi=deployed.abi)
        role = getattr(contract.functions, role_name)().call()
        if contract.functions.hasRole(role, account).call():
            continue
        tx_hash = contract.functions.grantRole(role, account).transact({"from": manifest.roles.admin[0]})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        assert receipt["status"] == 1, f"granting {name}.{role_name} to {account} reverted"
