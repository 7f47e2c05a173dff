"""The solc-js launcher and the toolchain pins: one compiler version everywhere."""

import json
import re
import subprocess

import pytest
import yaml

from tests.support.paths import ROOT

LAUNCHER = ROOT / "scripts" / "solc" / "solc-launcher.js"


def pinned_solc() -> str:
    return yaml.safe_load((ROOT / "ape-config.yaml").read_text())["solidity"]["version"]


def test_compiler_version_is_pinned_once_and_matches_everywhere():
    version = pinned_solc()
    package = json.loads((ROOT / "package.json").read_text())
    assert package["dependencies"]["solc"] == version
    assert (ROOT / "scripts" / "solc" / "bin" / f"solc-v{version}").resolve() == LAUNCHER
    assert f'solc = "scripts/solc/bin/solc-v{version}"' in (ROOT / "foundry.toml").read_text()
    for source in (ROOT / "contracts").rglob("*.sol"):
        if ".cache" not in source.parts:
            assert f"pragma solidity {version};" in source.read_text(), source


def test_version_output_is_what_py_solc_x_parses():
    out = subprocess.run([str(LAUNCHER), "--version"], capture_output=True, text=True, check=True).stdout
    assert re.search(rf"^Version: {re.escape(pinned_solc())}\+commit\.[0-9a-f]{{8}}", out, re.M)


def test_standard_json_resolves_imports_and_streams_large_output(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "Big.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\ncontract Big {\n"
        + "".join(f"    function f{i}(uint256 x) external pure returns (uint256) {{ return x + {i}; }}\n"
                  for i in range(300))
        + "}\n"
    )
    request = {
        "language": "Solidity",
        "sources": {"Main.sol": {"content": 'pragma solidity ^0.8.0; import "lib/Big.sol"; contract Main is Big {}'}},
        "settings": {"outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}},
    }
    result = subprocess.run(
        [str(LAUNCHER), "--standard-json", "--base-path", str(tmp_path)],
        input=json.dumps(request), capture_output=True, text=True, check=True,
    )
    assert len(result.stdout) > 64 * 1024, "output must not be cut at the pipe buffer size"
    output = json.loads(result.stdout)
    assert not [e for e in output.get("errors", []) if e["severity"] == "error"]
    assert len(output["contracts"]["Main.sol"]["Main"]["abi"]) == 300


def test_missing_import_is_a_compiler_error_not_a_crash(tmp_path):
    request = {"language": "Solidity", "sources": {"A.sol": {"content": 'import "nope/Missing.sol";'}}}
    result = subprocess.run(
        [str(LAUNCHER), "--standard-json", "--base-path", str(tmp_path)],
        input=json.dumps(request), capture_output=True, text=True, check=True,
    )
    errors = json.loads(result.stdout)["errors"]
    assert any("nope/Missing.sol" in error["message"] for error in errors)


@pytest.mark.parametrize("args", [["--bin", "A.sol"], []])
def test_unsupported_invocations_fail_with_a_message(args):
    result = subprocess.run([str(LAUNCHER), *args], capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.startswith("solc-launcher:")
