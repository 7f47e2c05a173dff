"""`ape run deploy`: deploys and wires the contracts, writes the manifest, and is safe to run twice."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from fitmint.keys import KeySettings
from tests.support.paths import ROOT

APE = Path(sys.executable).parent / "ape"
ADMIN = b"\x00" * 32


@pytest.fixture
def run_deploy(chain, tmp_path):
    """Runs the deploy script as a user would, against this test session's Anvil."""

    def run(*args, expect_ok=True, env=None):
        extra = env or {}
        env = dict(os.environ, APE_FOUNDRY_HOST=chain.provider.uri, FITMINT_STATE_DIR=str(tmp_path))
        env.pop("FITMINT_ATTESTOR_KEY_FILE", None)
        for variable in ("FITMINT_OPERATOR_KEY_FILE", "FITMINT_OPERATOR_KEY_FILES", "FITMINT_OPERATOR_POOL_SIZE"):
            env.pop(variable, None)
        env.update(extra)
        result = subprocess.run(
            [str(APE), "run", "deploy", "--network", "ethereum:local:foundry", "--account", "TEST::0", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
        output = result.stdout + result.stderr
        assert (result.returncode == 0) == expect_ok, output
        return output

    return run


def manifest_of(tmp_path, chain):
    return json.loads((tmp_path / "deployments" / f"{chain.chain_id}.json").read_text())


def test_deploy_writes_a_manifest_and_is_idempotent(run_deploy, tmp_path, chain, project, accounts):
    output = run_deploy()
    assert "Deployed on chain" in output
    manifest = manifest_of(tmp_path, chain)
    assert manifest["chain_id"] == chain.chain_id
    assert set(manifest["contracts"]) == {"FitToken", "ActivityRewards", "FitItems", "Marketplace"}
    for name, entry in manifest["contracts"].items():
        assert chain.provider.get_code(entry["address"]), name
        assert entry["block"] >= manifest["deploy_block"]
        abi = json.loads((tmp_path / "deployments" / entry["abi"]).read_text())
        compiled = [item.model_dump(mode="json", by_alias=True) for item in getattr(project, name).contract_type.abi]
        assert abi == compiled
    assert chain.blocks[manifest["deploy_block"]].hash.to_0x_hex() == manifest["deploy_block_hash"]

    # The dev attestor key was generated outside git, private to its owner, and given the role.
    key_file = tmp_path / "secrets" / "attestor.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    attestor = Account.from_key(key_file.read_text().strip()).address
    assert manifest["roles"]["attestors"] == [attestor]
    rewards = project.ActivityRewards.at(manifest["contracts"]["ActivityRewards"]["address"])
    assert rewards.hasRole(rewards.ATTESTOR_ROLE(), attestor)
    token = project.FitToken.at(manifest["contracts"]["FitToken"]["address"])
    assert token.hasRole(token.MINTER_ROLE(), rewards)

    # Admin went to the timelock (the local chain's short delay); the deployer is its governor and the
    # guardian by default, and kept nothing else.
    deployer = accounts[0].address
    timelock = project.AdminTimelock.at(manifest["timelock"]["address"])
    assert timelock.getMinDelay() == 10 and manifest["parameters"]["timelock_delay"] == 10
    assert manifest["roles"]["admin"] == [timelock.address]
    assert manifest["roles"]["governor"] == manifest["roles"]["guardian"] == [deployer]
    assert timelock.hasRole(timelock.PROPOSER_ROLE(), deployer)
    for name, entry in manifest["contracts"].items():
        contract = getattr(project, name).at(entry["address"])
        assert contract.hasRole(ADMIN, timelock) and not contract.hasRole(ADMIN, deployer), name
    market = project.Marketplace.at(manifest["contracts"]["Marketplace"]["address"])
    assert market.hasRole(market.PAUSER_ROLE(), deployer) and not market.hasRole(market.LISTER_ROLE(), deployer)
    assert not rewards.hasRole(rewards.OPERATOR_ROLE(), deployer)

    # The dev operator pool likewise (the operator key and two more beside it), each with the roles the
    # catalog and the epochs need, and gas money; the transaction queue's pool is the same key files.
    pool_files = [tmp_path / "secrets" / name for name in ("operator.key", "operator-1.key", "operator-2.key")]
    assert KeySettings(fitmint_state_dir=tmp_path).operator_key_files == pool_files
    operators = []
    for key_file in pool_files:
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        operators.append(Account.from_key(key_file.read_text().strip()).address)
    assert len(set(operators)) == 3
    assert [Account.from_key(key).address for key in KeySettings(fitmint_state_dir=tmp_path).operator_keys()] \
        == operators
    assert manifest["roles"]["operator"] == operators
    for operator in operators:
        assert_operator_wired(project, manifest, chain, operator)

    # Second run: reports the live deployment and changes nothing.
    height = chain.blocks.height
    output = run_deploy()
    assert "Already deployed" in output
    assert manifest_of(tmp_path, chain) == manifest
    assert chain.blocks.height == height

    # --redeploy: a fresh set on purpose.
    run_deploy("--redeploy")
    fresh = manifest_of(tmp_path, chain)
    assert fresh["contracts"]["FitToken"]["address"] != manifest["contracts"]["FitToken"]["address"]


def assert_operator_wired(project, manifest, chain, operator):
    addresses = {name: entry["address"] for name, entry in manifest["contracts"].items()}
    rewards = project.ActivityRewards.at(addresses["ActivityRewards"])
    market = project.Marketplace.at(addresses["Marketplace"])
    items = project.FitItems.at(addresses["FitItems"])
    assert rewards.hasRole(rewards.OPERATOR_ROLE(), operator)
    assert market.hasRole(market.LISTER_ROLE(), operator)
    assert items.hasRole(items.METADATA_ROLE(), operator)
    assert chain.provider.get_balance(operator) >= 10**18


def test_a_live_deployment_from_before_the_operator_pool_gets_it_wired(run_deploy, tmp_path, chain, project,
                                                                      accounts):
    """A stack deployed when the deployer was the operator: running deploy again schedules every key of the dev
    operator pool's roles through the admin timelock (the deployer, its governor, no longer grants) and funds
    it; the run after the delay executes them; then nothing is left to do."""
    deployer = accounts[0].address
    run_deploy("--operator", deployer)
    path = tmp_path / "deployments" / f"{chain.chain_id}.json"
    before = json.loads(path.read_text())
    assert before["roles"]["operator"] == [deployer]

    output = run_deploy()
    assert "Already deployed" in output
    assert output.count("Marketplace.LISTER_ROLE scheduled through the timelock, ready at") == 3
    chain.mine(deltatime=10)
    output = run_deploy()
    assert output.count("granted Marketplace.LISTER_ROLE (through the timelock)") == 3
    operators = [Account.from_key(key).address for key in KeySettings(fitmint_state_dir=tmp_path).operator_keys()]
    after = json.loads(path.read_text())
    assert after["roles"]["operator"] == [deployer, *operators]
    assert after["contracts"] == before["contracts"]
    for operator in operators:
        assert_operator_wired(project, after, chain, operator)

    # A larger pool later: only the new key is wired.
    output = run_deploy(env={"FITMINT_OPERATOR_POOL_SIZE": "4"})
    added = Account.from_key((tmp_path / "secrets" / "operator-3.key").read_text().strip()).address
    assert output.count("Marketplace.LISTER_ROLE scheduled through the timelock") == 1
    assert f"operator {added}: " in output
    chain.mine(deltatime=10)
    output = run_deploy(env={"FITMINT_OPERATOR_POOL_SIZE": "4"})
    assert output.count("granted Marketplace.LISTER_ROLE (through the timelock)") == 1
    after = json.loads(path.read_text())
    assert after["roles"]["operator"] == [deployer, *operators, added]
    assert_operator_wired(project, after, chain, added)

    height = chain.blocks.height
    assert "roles and funds in place" in run_deploy(env={"FITMINT_OPERATOR_POOL_SIZE": "4"})
    assert chain.blocks.height == height and json.loads(path.read_text()) == after


def test_manifest_of_a_reset_chain_is_replaced(run_deploy, tmp_path, chain):
    run_deploy()
    path = tmp_path / "deployments" / f"{chain.chain_id}.json"
    stale = json.loads(path.read_text())
    stale["deploy_block_hash"] = "0x" + "ab" * 32  # as if Anvil had restarted with a new history
    path.write_text(json.dumps(stale))
    output = run_deploy()
    assert "is gone" in output
    assert manifest_of(tmp_path, chain)["contracts"] != stale["contracts"]


def test_contracts_whose_sources_changed_are_deployed_again_on_a_local_chain(run_deploy, tmp_path, chain):
    """Anvil keeps its chain across restarts: after a pull that changed a contract, `make up` must not
    keep the old code behind the manifest. The manifest's code hash is how the script tells."""
    run_deploy()
    path = tmp_path / "deployments" / f"{chain.chain_id}.json"
    deployed = json.loads(path.read_text())
    assert all(len(entry["code_hash"]) == 64 for entry in deployed["contracts"].values())
    stale = json.loads(path.read_text())
    stale["contracts"]["ActivityRewards"]["code_hash"] = "00" * 32  # as if deployed from older sources
    path.write_text(json.dumps(stale))

    output = run_deploy()
    assert "sources of ActivityRewards changed" in output and "Deployed on chain" in output
    fresh = manifest_of(tmp_path, chain)
    assert fresh["contracts"]["ActivityRewards"]["address"] != deployed["contracts"]["ActivityRewards"]["address"]
    assert fresh["contracts"]["ActivityRewards"]["code_hash"] == deployed["contracts"]["ActivityRewards"]["code_hash"]
    assert "Already deployed" in run_deploy()


def test_explicit_roles_and_fees(run_deploy, tmp_path, chain, project, accounts):
    attestors = [accounts[7].address, accounts[8].address]
    run_deploy("--attestor", attestors[0], "--attestor", attestors[1], "--operator", accounts[1].address,
               "--treasury", accounts[2].address, "--fee-bps", "100", "--burn-bps", "300")
    manifest = manifest_of(tmp_path, chain)
    assert manifest["roles"]["attestors"] == attestors
    assert not (tmp_path / "secrets" / "attestor.key").exists()
    market = project.Marketplace.at(manifest["contracts"]["Marketplace"]["address"])
    assert market.fees() == (accounts[2].address, 100, 300)
    assert market.hasRole(market.LISTER_ROLE(), accounts[1])


def test_bad_fee_split_is_refused_before_deploying(run_deploy, tmp_path):
    output = run_deploy("--fee-bps", "4000", "--burn-bps", "2000", expect_ok=False)
    assert "must be <= 5000" in output
    assert not (tmp_path / "deployments").exists()


def test_a_deployment_from_before_the_timelock_hands_its_admin_over(run_deploy, tmp_path, chain, project, accounts):
    """A live stack the deployer still administers (deployed by the script before the timelock): the next
    run deploys the timelock and hands admin over in place (the contracts and their data stay)."""
    run_deploy()
    path = tmp_path / "deployments" / f"{chain.chain_id}.json"
    manifest = json.loads(path.read_text())
    deployer = accounts[0]
    token = deployer.deploy(project.FitToken, deployer, 10**27)
    rewards = deployer.deploy(project.ActivityRewards, token, deployer, 10**21, 86_400, 10**24, 365)
    items = deployer.deploy(project.FitItems, deployer)
    market = deployer.deploy(project.Marketplace, token, items, deployer, deployer, 250, 250)
    token.grantRole(token.MINTER_ROLE(), rewards, sender=deployer)
    rewards.grantRole(rewards.OPERATOR_ROLE(), deployer, sender=deployer)
    legacy = {name: contract for name, contract in
              {"FitToken": token, "ActivityRewards": rewards, "FitItems": items, "Marketplace": market}.items()}
    for name, contract in legacy.items():
        manifest["contracts"][name]["address"] = contract.address
    del manifest["timelock"], manifest["roles"]["governor"], manifest["roles"]["guardian"]
    manifest["roles"]["admin"] = [deployer.address]
    path.write_text(json.dumps(manifest))

    output = run_deploy()
    assert "admin timelock" in output and "admin handed to the timelock" in output, output
    adopted = json.loads(path.read_text())
    timelock = adopted["timelock"]["address"]
    assert adopted["roles"]["admin"] == [timelock] and adopted["roles"]["governor"] == [deployer.address]
    assert {name: entry["address"] for name, entry in adopted["contracts"].items()} == \
        {name: contract.address for name, contract in legacy.items()}
    for name, contract in legacy.items():
        assert contract.hasRole(ADMIN, timelock) and not contract.hasRole(ADMIN, deployer), name
    assert not rewards.hasRole(rewards.OPERATOR_ROLE(), deployer) and not items.hasRole(items.MINTER_ROLE(), deployer)
    assert market.hasRole(market.PAUSER_ROLE(), deployer)  # the guardian, by default
    assert "Already deployed" in run_deploy() and json.loads(path.read_text()) == adopted
