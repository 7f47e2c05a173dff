"""Every event the deployed contracts can emit is either projected by a registered handler or kept only as
a raw event by an explicit IGNORED entry: a renamed or added event cannot silently lose its handler."""

from fitmint.chain.manifest import Manifest
from indexer.projections import HANDLERS, IGNORED, unregistered


def test_every_event_of_the_deployed_abis_is_handled_or_ignored_and_nothing_else_is(chain):
    abis = {name: contract.abi for name, contract in Manifest.load(chain.manifest_path).contracts.items()}
    missing, unknown = unregistered(abis)
    assert missing == [], "events with neither a handler nor an IGNORED entry in indexer/projections.py"
    assert unknown == [], "handlers or IGNORED entries naming an event the ABIs do not have"
    assert not set(HANDLERS) & IGNORED


def test_a_renamed_event_is_reported_both_ways():
    abis = {"Marketplace": [{"type": "event", "name": "OrderPlaced", "inputs": []}]}
    missing, unknown = unregistered(abis)
    assert missing == ["Marketplace.OrderPlaced"]
    assert "Marketplace.OrderCreated" in unknown and "FitToken.Transfer" in unknown
