"""The deployment manifest model: what every reader gets from the file the deploy script writes, and a
clear error for a file that cannot describe a deployment."""

import json

import pytest

from fitmint.chain.manifest import Manifest, ManifestError

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def write(folder, abi_written=True, **fields):
    (folder / "abi").mkdir(exist_ok=True)
    if abi_written:
        (folder / "abi" / "FitToken.json").write_text(json.dumps([{"type": "function", "name": "cap", "inputs": [],
                                                                   "outputs": [{"type": "uint256"}]}]))
    manifest = {"chain_id": 31337, "deploy_block": 1, "deploy_block_hash": "0x" + "12" * 32,
                "contracts": {"FitToken": {"address": TOKEN, "block": 1, "abi": "abi/FitToken.json"}}} | fields
    path = folder / "31337.json"
    path.write_text(json.dumps(manifest))
    return path


def test_a_manifest_loads_typed_and_is_written_back_in_its_own_format(tmp_path):
    path = write(tmp_path, roles={"treasury": [TOKEN.lower()], "attestors": []})
    manifest = Manifest.load(path)
    token = manifest.contracts["FitToken"]
    assert (token.name, token.address, token.checksum_address) == ("FitToken", TOKEN.lower(), TOKEN)
    assert token.abi[0]["name"] == "cap" and manifest.addresses == [TOKEN.lower()]
    assert manifest.treasury == TOKEN and manifest.roles.operator == []

    manifest.write(tmp_path / "again.json")
    written = json.loads((tmp_path / "again.json").read_text())
    assert written["contracts"]["FitToken"] == {"address": TOKEN, "block": 1, "abi": "abi/FitToken.json", "tx": None,
                                                "code_hash": None}
    assert Manifest.load(tmp_path / "again.json") == manifest


@pytest.mark.parametrize(("breakage", "message"), [
    ({"abi_written": False}, "ABI file .* is missing"),
    ({"version": 2}, "format version 2 is newer than this code reads"),
    ({"contracts": {"FitToken": {"address": "0x1234", "block": 1, "abi": "abi/FitToken.json"}}}, "not an address"),
    ({"deploy_block": "soon"}, "deploy_block"),
])
def test_a_manifest_that_cannot_describe_a_deployment_is_a_clear_error(tmp_path, breakage, message):
    with pytest.raises(ManifestError, match=message):
        Manifest.load(write(tmp_path, **breakage))


def test_no_manifest_says_how_to_make_one(tmp_path):
    with pytest.raises(ManifestError, match="no deployment manifest at .*run `make up`"):
        Manifest.load(tmp_path / "31337.json")
