"""Marketplace: primary sales and escrowed resale for FIT, fee to the treasury, a burned share,
permit purchases, listing management, pause and the escrow receiver's guard."""

import ape
import pytest

from tests.support.contracts import permit_signature, reverts_with
from tests.support.units import CID, CID_V0, FIT

PRICE = 10 * FIT
ITEM = 42


@pytest.fixture
def listing_id(market, operator, carol):
    """A primary listing of item 42: 100 at 10 FIT, proceeds to carol (the catalog's seller account)."""
    tx = market.createListing(ITEM, PRICE, 100, CID, carol, sender=operator)
    return tx.return_value


@pytest.fixture
def item_minter(accounts, items, timelock_admin):
    """An item minter granted through the admin timelock (the deployer kept no minting power)."""
    timelock_admin.grant(items, "MINTER_ROLE", accounts[6])
    return accounts[6]


@pytest.fixture
def funded_alice(fund, alice):
    fund(alice, 500 * FIT)
    return alice


@pytest.fixture
def resale_id(market, items, listing_id, funded_alice):
    """alice bought 5 of item 42 and lists 3 of them for resale at 20 FIT."""
    market.purchase(listing_id, 5, PRICE, sender=funded_alice)
    items.setApprovalForAll(market, True, sender=funded_alice)
    return market.listForResale(ITEM, 3, 2 * PRICE, sender=funded_alice).return_value


def split(total, market):
    _, fee_bps, burn_bps = market.fees()
    fee, burned = total * fee_bps // 10_000, total * burn_bps // 10_000
    return fee, burned, total - fee - burned


def test_create_listing_emits_and_sets_item_metadata(market, items, operator, carol):
    tx = market.createListing(ITEM, PRICE, 100, CID, carol, sender=operator)
    listing_id = tx.return_value
    [log] = tx.decode_logs(market.ListingCreated)
    assert (log.listingId, log.itemId, log.seller, log.unitPrice, log.quantity, log.primary, log.cid) == (
        listing_id, ITEM, carol.address, PRICE, 100, True, CID)
    assert items.uri(ITEM) == f"ipfs://{CID}"
    listing = market.getListing(listing_id)
    assert (listing.seller, listing.unitPrice, listing.itemId, listing.remaining, listing.primary) == (
        carol.address, PRICE, ITEM, 100, True)
    assert market.listingCount() == listing_id == 1


def test_listing_input_validation(market, items, operator, alice, carol):
    with ape.reverts(market.AccessControlUnauthorizedAccount, account=alice.address, neededRole=market.LISTER_ROLE()):
        market.createListing(ITEM, PRICE, 1, CID, carol, sender=alice)
    with ape.reverts(market.MarketZeroPrice):
        market.createListing(ITEM, 0, 1, CID, carol, sender=operator)
    with ape.reverts(market.MarketZeroQuantity):
        market.createListing(ITEM, PRICE, 0, CID, carol, sender=operator)
    with ape.reverts(market.MarketInvalidAddress, account="0x" + "00" * 20):
        market.createListing(ITEM, PRICE, 1, CID, "0x" + "00" * 20, sender=operator)
    with ape.reverts(market.SafeCastOverflowedUintDowncast, bits=96, value=2**96):
        market.createListing(ITEM, 2**96, 1, CID, carol, sender=operator)
    # A listing keeps its item id in 184 bits (catalog ids are 128-bit uuids): a larger id is refused, the
    # largest one is kept whole.
    with ape.reverts(market.SafeCastOverflowedUintDowncast, bits=184, value=2**184):
        market.createListing(2**184, PRICE, 1, CID, carol, sender=operator)
    largest = market.createListing(2**184 - 1, PRICE, 1, CID, carol, sender=operator).return_value
    assert market.getListing(largest).itemId == 2**184 - 1
    with reverts_with("ItemsInvalidCid", id=ITEM, cid="not-a-cid"):
        market.createListing(ITEM, PRICE, 1, "not-a-cid", carol, sender=operator)
    assert market.listingCount() == 1


def test_primary_purchase_pays_seller_treasury_and_burns(market, token, items, listing_id, funded_alice, carol,
                                                         treasury):
    supply_before = token.totalSupply()
    alice_before = token.balanceOf(funded_alice)
    tx = market.purchase(listing_id, 3, PRICE, sender=funded_alice)

    total = 3 * PRICE
    fee, burned, proceeds = split(total, market)
    assert fee > 0 and burned > 0
    [order] = tx.decode_logs(market.OrderCreated)
    assert (order.orderId, order.buyer, order.seller, order.itemId, order.quantity, order.unitPrice) == (
        1, funded_alice.address, carol.address, ITEM, 3, PRICE)
    assert (order.fee, order.burned, order.listingId) == (fee, burned, listing_id)
    assert tx.return_value == 1 == market.orderCount()

    assert alice_before - token.balanceOf(funded_alice) == total
    assert token.balanceOf(carol) == proceeds
    assert token.balanceOf(treasury) == fee
    assert supply_before - token.totalSupply() == burned
    assert total == proceeds + fee + burned
    assert items.balanceOf(funded_alice, ITEM) == 3
    assert market.getListing(listing_id).remaining == 97


def test_purchase_errors(market, listing_id, funded_alice, bob):
    with ape.reverts(market.MarketZeroQuantity):
        market.purchase(listing_id, 0, PRICE, sender=funded_alice)
    with ape.reverts(market.MarketUnknownListing, listingId=999):
        market.purchase(999, 1, PRICE, sender=funded_alice)
    with ape.reverts(market.MarketInsufficientSupply, listingId=listing_id, remaining=100, requested=101):
        market.purchase(listing_id, 101, PRICE, sender=funded_alice)
    with ape.reverts(market.MarketPriceAboveLimit, listingId=listing_id, unitPrice=PRICE, maxUnitPrice=PRICE - 1):
        market.purchase(listing_id, 1, PRICE - 1, sender=funded_alice)
    # bob holds no FIT and approved nothing.
    with reverts_with("ERC20InsufficientAllowance", spender=market.address, allowance=0,
                      needed=split(PRICE, market)[2]):
        market.purchase(listing_id, 1, PRICE, sender=bob)


def test_sold_out_listing_is_closed(market, operator, funded_alice, carol):
    listing_id = market.createListing(ITEM, PRICE, 2, CID, carol, sender=operator).return_value
    market.purchase(listing_id, 2, PRICE, sender=funded_alice)
    with ape.reverts(market.MarketListingClosed, listingId=listing_id):
        market.purchase(listing_id, 1, PRICE, sender=funded_alice)


def test_purchase_with_permit_needs_no_approve(market, token, items, listing_id, claim, chain, bob):
    claim(bob, 100 * FIT)
    assert token.allowance(bob, market) == 0
    deadline = chain.pending_timestamp + 600
    v, r, s = permit_signature(token, bob.private_key, bob.address, market.address, 2 * PRICE, 0, deadline,
                               chain.chain_id)
    tx = market.purchaseWithPermit(listing_id, 2, PRICE, 2 * PRICE, deadline, v, r, s, sender=bob)
    assert tx.decode_logs(market.OrderCreated)[0].buyer == bob.address
    assert items.balanceOf(bob, ITEM) == 2
    assert token.balanceOf(bob) == 100 * FIT - 2 * PRICE
    assert token.allowance(bob, market) == 0
    assert token.nonces(bob) == 1


def test_front_run_permit_does_not_block_the_purchase(market, token, items, listing_id, claim, chain, bob, carol):
    claim(bob, 100 * FIT)
    deadline = chain.pending_timestamp + 600
    v, r, s = permit_signature(token, bob.private_key, bob.address, market.address, PRICE, 0, deadline, chain.chain_id)
    token.permit(bob, market, PRICE, deadline, v, r, s, sender=carol)  # someone submits the permit first
    market.purchaseWithPermit(listing_id, 1, PRICE, PRICE, deadline, v, r, s, sender=bob)
    assert items.balanceOf(bob, ITEM) == 1


def test_bad_permit_without_allowance_reverts(market, token, listing_id, claim, chain, bob):
    claim(bob, 100 * FIT)
    deadline = chain.pending_timestamp + 600
    v, r, s = permit_signature(token, b"\x01" * 32, bob.address, market.address, PRICE, 0, deadline, chain.chain_id)
    with reverts_with("ERC20InsufficientAllowance", spender=market.address, allowance=0):
        market.purchaseWithPermit(listing_id, 1, PRICE, PRICE, deadline, v, r, s, sender=bob)


def test_resale_listing_escrows_items(market, items, resale_id, funded_alice):
    listing = market.getListing(resale_id)
    assert (listing.seller, listing.unitPrice, listing.remaining, listing.primary) == (
        funded_alice.address, 2 * PRICE, 3, False)
    assert items.balanceOf(market, ITEM) == 3
    assert items.balanceOf(funded_alice, ITEM) == 2


def test_resale_purchase_pays_the_reseller(market, token, items, resale_id, funded_alice, fund, bob, treasury):
    fund(bob, 100 * FIT)
    alice_before, treasury_before, supply_before = (token.balanceOf(funded_alice), token.balanceOf(treasury),
                                                    token.totalSupply())
    tx = market.purchase(resale_id, 2, 2 * PRICE, sender=bob)
    fee, burned, proceeds = split(4 * PRICE, market)
    [order] = tx.decode_logs(market.OrderCreated)
    assert (order.buyer, order.seller, order.quantity, order.unitPrice, order.fee, order.burned) == (
        bob.address, funded_alice.address, 2, 2 * PRICE, fee, burned)
    assert token.balanceOf(funded_alice) - alice_before == proceeds
    assert token.balanceOf(treasury) - treasury_before == fee
    assert supply_before - token.totalSupply() == burned
    assert items.balanceOf(bob, ITEM) == 2
    assert items.balanceOf(market, ITEM) == 1


def test_cancel_resale_returns_escrow(market, items, resale_id, funded_alice, bob):
    with ape.reverts(market.MarketNotListingOwner, listingId=resale_id, caller=bob.address):
        market.cancelListing(resale_id, sender=bob)
    tx = market.cancelListing(resale_id, sender=funded_alice)
    [log] = tx.decode_logs(market.ListingCancelled)
    assert (log.listingId, log.returnedQuantity) == (resale_id, 3)
    assert items.balanceOf(funded_alice, ITEM) == 5
    assert items.balanceOf(market, ITEM) == 0
    with ape.reverts(market.MarketListingClosed, listingId=resale_id):
        market.purchase(resale_id, 1, 2 * PRICE, sender=bob)
    with ape.reverts(market.MarketListingClosed, listingId=resale_id):
        market.cancelListing(resale_id, sender=funded_alice)


def test_primary_listing_is_managed_by_listers(market, listing_id, operator, alice, carol):
    # Not even the proceeds recipient may cancel a primary listing: listers manage the catalog.
    for outsider in (alice, carol):
        with ape.reverts(market.MarketNotListingOwner, listingId=listing_id, caller=outsider.address):
            market.cancelListing(listing_id, sender=outsider)
    tx = market.cancelListing(listing_id, sender=operator)
    assert tx.decode_logs(market.ListingCancelled)[0].returnedQuantity == 0


def test_update_price_and_supply(market, listing_id, resale_id, operator, funded_alice, bob):
    tx = market.updatePrice(listing_id, 2 * PRICE, sender=operator)
    [log] = tx.decode_logs(market.ListingUpdated)
    assert (log.listingId, log.unitPrice, log.remaining) == (listing_id, 2 * PRICE, 95)
    # A buyer who saw the old price is protected by maxUnitPrice.
    with ape.reverts(market.MarketPriceAboveLimit, listingId=listing_id, unitPrice=2 * PRICE, maxUnitPrice=PRICE):
        market.purchase(listing_id, 1, PRICE, sender=funded_alice)
    with ape.reverts(market.MarketZeroPrice):
        market.updatePrice(listing_id, 0, sender=operator)
    with ape.reverts(market.MarketNotListingOwner, listingId=resale_id, caller=bob.address):
        market.updatePrice(resale_id, PRICE, sender=bob)
    market.updatePrice(resale_id, PRICE, sender=funded_alice)
    assert market.getListing(resale_id).unitPrice == PRICE

    assert market.updateSupply(listing_id, 7, sender=operator).decode_logs(market.ListingUpdated)[0].remaining == 7
    with ape.reverts(market.MarketNotPrimaryListing, listingId=resale_id):
        market.updateSupply(resale_id, 7, sender=operator)
    with ape.reverts(market.MarketZeroQuantity):
        market.updateSupply(listing_id, 0, sender=operator)
    with ape.reverts(market.AccessControlUnauthorizedAccount, account=bob.address, neededRole=market.LISTER_ROLE()):
        market.updateSupply(listing_id, 9, sender=bob)


def test_pause_stops_trading_but_not_escrow_recovery(market, resale_id, listing_id, guardian, funded_alice,
                                                     operator, carol):
    market.pause(sender=guardian)
    with ape.reverts(market.EnforcedPause):
        market.purchase(listing_id, 1, PRICE, sender=funded_alice)
    with ape.reverts(market.EnforcedPause):
        market.listForResale(ITEM, 1, PRICE, sender=funded_alice)
    with ape.reverts(market.EnforcedPause):
        market.createListing(ITEM + 1, PRICE, 1, CID, carol, sender=operator)
    market.cancelListing(resale_id, sender=funded_alice)
    with ape.reverts(market.AccessControlUnauthorizedAccount, account=funded_alice.address,
                     neededRole=market.PAUSER_ROLE()):
        market.unpause(sender=funded_alice)
    market.unpause(sender=guardian)
    market.purchase(listing_id, 1, PRICE, sender=funded_alice)


def test_fee_and_treasury_administration(market, timelock_admin, admin, alice, bob, treasury):
    tx = timelock_admin.call(market, "setFees", 100, 900)
    assert (tx.decode_logs(market.FeesUpdated)[0].feeBps, tx.decode_logs(market.FeesUpdated)[0].burnBps) == (100, 900)
    assert market.fees() == (treasury.address, 100, 900)
    with reverts_with("MarketInvalidFees", feeBps=2_500, burnBps=2_501):
        timelock_admin.call(market, "setFees", 2_500, 2_501)
    with ape.reverts(market.AccessControlUnauthorizedAccount, account=alice.address, neededRole=b"\x00" * 32):
        market.setFees(0, 0, sender=alice)
    # The deployer is no admin any more: only the timelock is.
    with ape.reverts(market.AccessControlUnauthorizedAccount, account=admin.address, neededRole=b"\x00" * 32):
        market.setFees(0, 0, sender=admin)
    tx = timelock_admin.call(market, "setTreasury", bob)
    [log] = tx.decode_logs(market.TreasuryUpdated)
    assert (log.previousTreasury, log.newTreasury) == (treasury.address, bob.address)
    with reverts_with("MarketInvalidAddress", account="0x" + "00" * 20):
        timelock_admin.call(market, "setTreasury", "0x" + "00" * 20)


def test_zero_fees_send_everything_to_the_seller(market, token, listing_id, funded_alice, timelock_admin, carol):
    timelock_admin.call(market, "setFees", 0, 0)
    supply_before = token.totalSupply()
    market.purchase(listing_id, 1, PRICE, sender=funded_alice)
    assert token.balanceOf(carol) == PRICE
    assert token.totalSupply() == supply_before


def test_unsolicited_item_transfers_are_refused(market, items, item_minter, alice):
    items.mint(alice, ITEM, 1, b"", sender=item_minter)
    with ape.reverts(market.MarketUnexpectedTransfer, token=items.address, operator=alice.address):
        items.safeTransferFrom(alice, market, ITEM, 1, b"", sender=alice)


def test_relisting_with_a_new_cid_updates_item_metadata(market, items, operator, carol):
    market.createListing(ITEM, PRICE, 1, CID, carol, sender=operator)
    market.createListing(ITEM, PRICE, 1, CID_V0, carol, sender=operator)
    assert items.uri(ITEM) == f"ipfs://{CID_V0}"


def test_supports_erc1155_receiver_interface(market):
    assert market.supportsInterface("0x4e2312e0")
    assert market.supportsInterface("0x7965db0b")
    assert not market.supportsInterface("0xffffffff")


def test_unknown_listing_lookup_reverts(market):
    with ape.reverts(market.MarketUnknownListing, listingId=7):
        market.getListing(7)


def test_unsolicited_batch_transfers_are_refused(market, items, item_minter, alice):
    items.mint(alice, ITEM, 2, b"", sender=item_minter)
    with ape.reverts(market.MarketUnexpectedTransfer, token=items.address, operator=alice.address):
        items.safeBatchTransferFrom(alice, market, [ITEM], [2], b"", sender=alice)


def test_deployed_wiring(market, token, items, guardian, operator, treasury, params):
    assert market.token() == token.address
    assert market.items() == items.address
    assert market.fees() == (treasury.address, params.fee_bps, params.burn_bps)
    assert market.hasRole(market.LISTER_ROLE(), operator)
    assert market.hasRole(market.PAUSER_ROLE(), guardian)
