"""FitItems: ERC-1155 items with `ipfs://<CID>` metadata, minted by the marketplace or a minter the admin
(the timelock) grants."""

import ape
import pytest

from tests.support.units import CID, CID_V0

ZERO = "0x0000000000000000000000000000000000000000"


@pytest.fixture
def minter(accounts, items, timelock_admin):
    """An extra item minter, granted through the admin timelock (the deployer kept no minting power)."""
    timelock_admin.grant(items, "MINTER_ROLE", accounts[6])
    return accounts[6]


def test_minter_mints_and_emits_transfer_single(items, minter, alice):
    tx = items.mint(alice, 7, 3, b"", sender=minter)
    assert items.balanceOf(alice, 7) == 3
    [log] = tx.decode_logs(items.TransferSingle)
    assert (log.operator, log["from"], log.to, log.id, log.value) == (minter.address, ZERO, alice.address, 7, 3)


def test_only_minters_mint(items, alice):
    with ape.reverts(items.AccessControlUnauthorizedAccount, account=alice.address, neededRole=items.MINTER_ROLE()):
        items.mint(alice, 1, 1, b"", sender=alice)


@pytest.mark.parametrize("cid", [CID, CID_V0])
def test_cid_sets_the_ipfs_uri(items, operator, cid):
    tx = items.setCid(9, cid, sender=operator)
    [log] = tx.decode_logs(items.URI)
    assert (log.value, log.id) == (f"ipfs://{cid}", 9)
    assert items.uri(9) == f"ipfs://{cid}"
    assert items.cidOf(9) == cid


def test_item_without_metadata_has_empty_uri(items):
    assert items.uri(12345) == ""


def test_new_cid_is_a_new_version(items, operator):
    items.setCid(9, CID, sender=operator)
    tx = items.setCid(9, CID_V0, sender=operator)
    assert tx.decode_logs(items.URI)[0].value == f"ipfs://{CID_V0}"
    assert items.uri(9) == f"ipfs://{CID_V0}"


@pytest.mark.parametrize(
    "cid",
    ["", "Qm123", "ipfs://" + CID, "x" + CID[1:], "b" + "a" * 100, "Zm" + CID_V0[2:]],
    ids=["empty", "short", "uri-not-cid", "bad-prefix", "too-long", "bad-v0-prefix"],
)
def test_malformed_cid_reverts(items, operator, cid):
    with ape.reverts(items.ItemsInvalidCid, id=9, cid=cid):
        items.setCid(9, cid, sender=operator)


def test_only_metadata_role_sets_cids(items, alice):
    with ape.reverts(items.AccessControlUnauthorizedAccount, account=alice.address, neededRole=items.METADATA_ROLE()):
        items.setCid(1, CID, sender=alice)


def test_holders_burn_their_items(items, minter, alice, bob):
    items.mint(alice, 2, 5, b"", sender=minter)
    items.burn(alice, 2, 2, sender=alice)
    assert items.balanceOf(alice, 2) == 3
    with ape.reverts(items.ERC1155MissingApprovalForAll, operator=bob.address, owner=alice.address):
        items.burn(alice, 2, 1, sender=bob)


@pytest.mark.parametrize(
    "interface_id, supported",
    [("0xd9b67a26", True), ("0x0e89341c", True), ("0x7965db0b", True), ("0x01ffc9a7", True), ("0xffffffff", False)],
    ids=["erc1155", "metadata-uri", "access-control", "erc165", "invalid"],
)
def test_supports_interface(items, interface_id, supported):
    assert items.supportsInterface(interface_id) is supported


def test_constructor_rejects_zero_admin(project, admin):
    with ape.reverts(project.FitItems.ItemsInvalidAdmin, admin=ZERO):
        admin.deploy(project.FitItems, ZERO)


def test_marketplace_is_wired_as_minter_and_metadata_setter(items, market):
    assert items.hasRole(items.MINTER_ROLE(), market)
    assert items.hasRole(items.METADATA_ROLE(), market)
