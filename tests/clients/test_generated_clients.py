"""The generated client files (clients/openapi.json, the SDK's generated/openapi.ts and generated/abis.ts)
are what the API and the compiled contracts say today: a change to either without regenerating fails here,
naming the command that brings them back in line."""

import json

import pytest

from scripts.clients import generate


@pytest.fixture(scope="module")
def fresh():
    return generate.generated()


def test_committed_generated_files_match_the_api_and_the_contracts(fresh):
    stale = generate.stale(fresh)
    assert not stale, ("the committed client files are stale:\n" + "\n".join(stale)
                       + f"\nRun `{generate.COMMAND}` (or `make clients`) and commit the result.")


def test_a_drifted_file_is_reported_with_the_lines_that_differ(fresh):
    drifted = dict(fresh)
    drifted[generate.OPENAPI_JSON] = fresh[generate.OPENAPI_JSON].replace('"title": "fitmint API"',
                                                                            '"title": "renamed API"')
    (summary,) = generate.stale(drifted)
    assert summary.startswith("clients/openapi.json: 1 line(s) removed, 1 added")
    assert '-    "title": "fitmint API",' in summary and '+    "title": "renamed API",' in summary


def test_the_openapi_document_is_deterministic_and_names_no_machine(fresh):
    text = fresh[generate.OPENAPI_JSON]
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert str(generate.ROOT) not in text and "127.0.0.1" not in text
    assert generate.openapi_document() == text  # a second build is byte for byte the same


def test_the_abis_are_the_compiled_artifacts_of_every_deployed_contract(fresh):
    compiled = json.loads(generate.ARTIFACTS.read_text())["contractTypes"]
    abis = fresh[generate.ABIS_TS]
    for name in generate.contract_names():
        start = abis.index(f"export const {name[0].lower() + name[1:]}Abi = ") + len(name) + len("export const Abi = ")
        end = abis.index(" as const;", start)
        assert json.loads(abis[start:end]) == compiled[name]["abi"], name
    assert "MarketPriceAboveLimit" in abis and "RewardsVoucherExpired" in abis
