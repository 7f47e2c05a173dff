"""Marketplace: gasless purchases by signed intent (issue 16). The buyer signs an EIP-712 PurchaseIntent
(and an EIP-2612 permit); a relayer submits them. A third party can neither replay the intent, redirect
its payment or its items, change any of its terms, nor hurt the buyer by front-running it or its permit.

bob is the buyer (FIT from claims, no allowance given), carol sells (the primary listing's proceeds),
`relayer` submits and must end with exactly what it started with, gas aside.
"""

import ape
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from fitmint.chain.intents import PurchaseIntent, keyed_nonce, recover_signer, sign_intent, typed_data
from tests.support.contracts import permit_signature, reverts_with
from tests.support.units import CID, FIT
from tests.test_marketplace import ITEM, PRICE, split


@pytest.fixture(scope="session")
def relayer(accounts):
    return accounts[6]


@pytest.fixture
def listing_id(market, operator, carol):
    """A primary listing of item 42: 100 at 10 FIT, proceeds to carol."""
    return market.createListing(ITEM, PRICE, 100, CID, carol, sender=operator).return_value


@pytest.fixture
def funded_bob(claim, bob):
    """bob holds 100 FIT from claims and has approved nothing: he pays through a permit."""
    claim(bob, 100 * FIT)
    return bob


@pytest.fixture
def make_intent(market, chain):
    """Factory: (intent, signature) signed by `signer` (the buyer's key unless told), for the buyer's
    current nonce, valid ten minutes."""

    def make(buyer, listing_id, quantity=1, max_unit_price=PRICE, nonce=None, deadline=None, signer=None,
             chain_id=None, contract=None):
        intent = PurchaseIntent(
            buyer=buyer.address if hasattr(buyer, "address") else buyer,
            listing_id=listing_id,
            quantity=quantity,
            max_unit_price=max_unit_price,
            nonce=market.nonces(buyer) if nonce is None else nonce,
            deadline=chain.pending_timestamp + 600 if deadline is None else deadline,
        )
        key = signer.private_key if signer is not None else buyer.private_key
        signature = sign_intent(intent, key, chain_id=chain_id or chain.chain_id,
                                verifying_contract=contract or market.address)
        return intent, signature

    return make


@pytest.fixture
def permit_for(token, market, chain):
    """Factory: (value, deadline, v, r, s) of `owner`'s EIP-2612 permit to the marketplace."""

    def make(owner, value):
        deadline = chain.pending_timestamp + 600
        v, r, s = permit_signature(token, owner.private_key, owner.address, market.address, value,
                                   token.nonces(owner), deadline, chain.chain_id)
        return value, deadline, v, r, s

    return make


def holdings(token, items, account):
    return token.balanceOf(account), items.balanceOf(account, ITEM), account.balance


def test_contract_digest_matches_eip712_typed_data(market, chain, bob):
    intent = PurchaseIntent(bob.address, 7, 3, 5 * FIT, 11, 1_900_000_000)
    message = encode_typed_data(
        full_message=typed_data(intent, chain_id=chain.chain_id, verifying_contract=market.address))
    assert bytes(market.hashPurchaseIntent(intent.as_tuple())) == keccak(
        b"\x19" + message.version + message.header + message.body)
    assert bytes(market.PURCHASE_INTENT_TYPEHASH()) == keccak(
        text="PurchaseIntent(address buyer,uint256 listingId,uint256 quantity,uint256 maxUnitPrice,uint256 nonce,"
             "uint256 deadline)")
    domain = market.eip712Domain()
    assert (domain.name, domain.version, domain.chainId, domain.verifyingContract) == (
        "FitmintMarketplace", "1", chain.chain_id, market.address)


def test_relayed_purchase_pays_from_and_delivers_to_the_buyer(market, token, items, listing_id, funded_bob, carol,
                                                              treasury, relayer, make_intent, permit_for):
    intent, signature = make_intent(funded_bob, listing_id, quantity=2)
    permit = permit_for(funded_bob, 2 * PRICE)
    bob_before, relayer_before = holdings(token, items, funded_bob), holdings(token, items, relayer)
    supply_before = token.totalSupply()

    tx = market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, *permit, sender=relayer)

    fee, burned, proceeds = split(2 * PRICE, market)
    [order] = tx.decode_logs(market.OrderCreated)
    assert (order.buyer, order.seller, order.itemId, order.quantity, order.unitPrice, order.listingId) == (
        funded_bob.address, carol.address, ITEM, 2, PRICE, listing_id)
    assert (order.fee, order.burned) == (fee, burned)
    assert tx.return_value == order.orderId == market.orderCount()
    # The buyer paid the price and got the items; he spent no ETH.
    assert holdings(token, items, funded_bob) == (bob_before[0] - 2 * PRICE, 2, bob_before[2])
    assert token.balanceOf(carol) == proceeds and token.balanceOf(treasury) == fee
    assert supply_before - token.totalSupply() == burned
    # The relayer paid the gas and nothing else, and got nothing.
    assert holdings(token, items, relayer) == (relayer_before[0], 0, relayer_before[2] - tx.total_fees_paid)
    assert token.allowance(relayer, market) == 0
    # The intent's nonce and the permit's nonce are both used up.
    assert market.nonces(funded_bob) == 1
    assert token.nonces(funded_bob) == 1
    assert token.allowance(funded_bob, market) == 0


def test_relayed_purchase_with_an_existing_allowance_needs_no_permit(market, token, items, listing_id, funded_bob,
                                                                     relayer, make_intent):
    token.approve(market, PRICE, sender=funded_bob)
    intent, signature = make_intent(funded_bob, listing_id)
    tx = market.executePurchaseIntent(intent.as_tuple(), signature, sender=relayer)
    assert tx.decode_logs(market.OrderCreated)[0].buyer == funded_bob.address
    assert items.balanceOf(funded_bob, ITEM) == 1 and items.balanceOf(relayer, ITEM) == 0


def test_replayed_intent_is_refused(market, token, items, listing_id, funded_bob, alice, relayer, make_intent,
                                    permit_for):
    intent, signature = make_intent(funded_bob, listing_id)
    permit = permit_for(funded_bob, 3 * PRICE)  # leaves allowance for two more: only the nonce stops a replay
    market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, *permit, sender=relayer)
    for sender in (relayer, alice):
        with ape.reverts(market.InvalidAccountNonce, account=funded_bob.address, currentNonce=1):
            market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, *permit, sender=sender)
        with ape.reverts(market.InvalidAccountNonce, account=funded_bob.address, currentNonce=1):
            market.executePurchaseIntent(intent.as_tuple(), signature, sender=sender)
    assert items.balanceOf(funded_bob, ITEM) == 1
    assert token.allowance(funded_bob, market) == 2 * PRICE


def test_intents_execute_in_nonce_order_only(market, listing_id, funded_bob, relayer, make_intent, permit_for):
    permit = permit_for(funded_bob, 2 * PRICE)
    first, first_signature = make_intent(funded_bob, listing_id, nonce=0)
    second, second_signature = make_intent(funded_bob, listing_id, nonce=1)
    with ape.reverts(market.InvalidAccountNonce, account=funded_bob.address, currentNonce=0):
        market.executePurchaseIntentWithPermit(second.as_tuple(), second_signature, *permit, sender=relayer)
    market.executePurchaseIntentWithPermit(first.as_tuple(), first_signature, *permit, sender=relayer)
    market.executePurchaseIntent(second.as_tuple(), second_signature, sender=relayer)
    assert market.nonces(funded_bob) == 2


def test_intents_of_different_nonce_keys_are_independent(market, token, listing_id, funded_bob, relayer,
                                                         make_intent, permit_for):
    """Two quotes at once (two tabs): each on its own key, either executes first, each once."""
    key = int.from_bytes(keccak(text="quote 7"), "big") >> 64
    assert market.nonces(funded_bob, key) == keyed_nonce(key, 0)
    plain, plain_signature = make_intent(funded_bob, listing_id)
    keyed, keyed_signature = make_intent(funded_bob, listing_id, nonce=keyed_nonce(key, 0))
    token.approve(market, 2 * PRICE, sender=funded_bob)
    market.executePurchaseIntent(keyed.as_tuple(), keyed_signature, sender=relayer)
    market.executePurchaseIntent(plain.as_tuple(), plain_signature, sender=relayer)
    assert (market.nonces(funded_bob), market.nonces(funded_bob, key)) == (1, keyed_nonce(key, 1))
    with ape.reverts(market.InvalidAccountNonce, account=funded_bob.address, currentNonce=keyed_nonce(key, 1)):
        market.executePurchaseIntent(keyed.as_tuple(), keyed_signature, sender=relayer)
    # Cancelling works per key too.
    market.cancelPurchaseIntent(keyed_nonce(key, 1), sender=funded_bob)
    assert market.nonces(funded_bob, key) == keyed_nonce(key, 2)


def test_intent_signed_by_one_account_naming_another_is_refused(market, token, items, listing_id, funded_bob, fund,
                                                                alice, relayer, make_intent):
    # alice has FIT and an unlimited allowance to the marketplace: the target a redirection would want.
    fund(alice, 100 * FIT)
    alice_before = token.balanceOf(alice)
    # bob signs an intent that names alice as the buyer (pay from alice, deliver to alice)...
    intent, signature = make_intent(alice, listing_id, signer=funded_bob)
    with ape.reverts(market.MarketInvalidIntentSignature, buyer=alice.address):
        market.executePurchaseIntent(intent.as_tuple(), signature, sender=relayer)
    # ...and bob's own intent, relayed with the buyer swapped for alice, fails the same way.
    own, own_signature = make_intent(funded_bob, listing_id)
    redirected = own.__class__(alice.address, *own.as_tuple()[1:])
    with ape.reverts(market.MarketInvalidIntentSignature, buyer=alice.address):
        market.executePurchaseIntent(redirected.as_tuple(), own_signature, sender=relayer)
    assert token.balanceOf(alice) == alice_before and items.balanceOf(alice, ITEM) == 0
    assert market.nonces(alice) == 0


def test_expired_intent_is_refused(market, chain, listing_id, funded_bob, relayer, make_intent, permit_for):
    deadline = chain.pending_timestamp + 60
    intent, signature = make_intent(funded_bob, listing_id, deadline=deadline)
    permit = permit_for(funded_bob, PRICE)
    chain.mine(timestamp=deadline + 1)
    with ape.reverts(market.MarketIntentExpired, deadline=deadline):
        market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, *permit, sender=relayer)
    assert market.nonces(funded_bob) == 0


def test_price_raised_after_signing_is_refused(market, token, items, listing_id, funded_bob, operator, relayer,
                                              make_intent, permit_for):
    intent, signature = make_intent(funded_bob, listing_id, max_unit_price=PRICE)
    permit = permit_for(funded_bob, 10 * PRICE)  # a generous permit does not lift the signed price limit
    market.updatePrice(listing_id, PRICE + 1, sender=operator)
    with ape.reverts(market.MarketPriceAboveLimit, listingId=listing_id, unitPrice=PRICE + 1, maxUnitPrice=PRICE):
        market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, *permit, sender=relayer)
    assert items.balanceOf(funded_bob, ITEM) == 0 and market.nonces(funded_bob) == 0


def test_price_lowered_after_signing_charges_the_lower_price(market, token, listing_id, funded_bob, operator,
                                                            relayer, make_intent, permit_for):
    intent, signature = make_intent(funded_bob, listing_id, max_unit_price=PRICE)
    permit = permit_for(funded_bob, PRICE)
    market.updatePrice(listing_id, PRICE // 2, sender=operator)
    before = token.balanceOf(funded_bob)
    tx = market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, *permit, sender=relayer)
    assert tx.decode_logs(market.OrderCreated)[0].unitPrice == PRICE // 2
    assert before - token.balanceOf(funded_bob) == PRICE // 2


def test_front_run_permit_does_not_block_the_purchase(market, token, items, listing_id, funded_bob, alice, relayer,
                                                      make_intent, permit_for):
    intent, signature = make_intent(funded_bob, listing_id)
    permit = permit_for(funded_bob, PRICE)
    # alice sees the relayer's transaction in the pool and submits the permit to the token first.
    token.permit(funded_bob, market, permit[0], permit[1], *permit[2:], sender=alice)
    assert token.nonces(funded_bob) == 1
    market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, *permit, sender=relayer)
    assert items.balanceOf(funded_bob, ITEM) == 1
    assert items.balanceOf(alice, ITEM) == 0


def test_front_run_intent_gives_the_buyer_exactly_what_he_signed(market, token, items, listing_id, funded_bob, alice,
                                                                 relayer, make_intent, permit_for):
    intent, signature = make_intent(funded_bob, listing_id, quantity=2)
    permit = permit_for(funded_bob, 2 * PRICE)
    alice_before = holdings(token, items, alice)[:2]
    bob_before = token.balanceOf(funded_bob)
    # alice submits the whole intent herself: she pays the gas, bob still pays and receives...
    tx = market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, *permit, sender=alice)
    assert tx.decode_logs(market.OrderCreated)[0].buyer == funded_bob.address
    assert items.balanceOf(funded_bob, ITEM) == 2 and bob_before - token.balanceOf(funded_bob) == 2 * PRICE
    assert holdings(token, items, alice)[:2] == alice_before
    # ...and the relayer's late copy fails without a second purchase.
    with ape.reverts(market.InvalidAccountNonce, account=funded_bob.address, currentNonce=1):
        market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, *permit, sender=relayer)
    assert market.orderCount() == 1


@pytest.mark.parametrize("field", ["listing_id", "quantity", "max_unit_price", "deadline"])
def test_tampered_intent_is_refused(market, operator, carol, listing_id, funded_bob, relayer, make_intent, permit_for,
                                    field):
    other_listing = market.createListing(ITEM + 1, PRICE, 100, CID, carol, sender=operator).return_value
    intent, signature = make_intent(funded_bob, listing_id, quantity=1, max_unit_price=PRICE)
    permit = permit_for(funded_bob, 10 * PRICE)
    changed = {"listing_id": other_listing, "quantity": 5, "max_unit_price": 3 * PRICE,
               "deadline": intent.deadline + 3_600}[field]
    tampered = PurchaseIntent(**{**intent.__dict__, field: changed})
    with ape.reverts(market.MarketInvalidIntentSignature, buyer=funded_bob.address):
        market.executePurchaseIntentWithPermit(tampered.as_tuple(), signature, *permit, sender=relayer)
    assert market.nonces(funded_bob) == 0


def test_tampered_nonce_is_refused(market, listing_id, funded_bob, relayer, make_intent):
    intent, signature = make_intent(funded_bob, listing_id)
    tampered = PurchaseIntent(**{**intent.__dict__, "nonce": 1})
    with ape.reverts(market.InvalidAccountNonce, account=funded_bob.address, currentNonce=0):
        market.executePurchaseIntent(tampered.as_tuple(), signature, sender=relayer)


@pytest.mark.parametrize("domain", ["chain", "contract"])
def test_signature_for_another_domain_is_refused(market, token, chain, listing_id, funded_bob, relayer, make_intent,
                                                 domain):
    if domain == "chain":
        intent, signature = make_intent(funded_bob, listing_id, chain_id=1)
    else:
        intent, signature = make_intent(funded_bob, listing_id, contract=token.address)
    assert recover_signer(intent, signature, chain_id=1 if domain == "chain" else chain.chain_id,
                          verifying_contract=token.address if domain == "contract" else market.address) == (
        funded_bob.address)
    with ape.reverts(market.MarketInvalidIntentSignature, buyer=funded_bob.address):
        market.executePurchaseIntent(intent.as_tuple(), signature, sender=relayer)


def test_malformed_signature_is_refused(market, listing_id, funded_bob, relayer, make_intent):
    intent, signature = make_intent(funded_bob, listing_id)
    for bad in (signature[:64], b"", b"\x00" * 65):
        with ape.reverts(market.MarketInvalidIntentSignature, buyer=funded_bob.address):
            market.executePurchaseIntent(intent.as_tuple(), bad, sender=relayer)


def test_zero_buyer_is_refused(market, listing_id, relayer):
    stranger = Account.from_key(keccak(text="zero buyer"))
    intent = PurchaseIntent("0x" + "00" * 20, listing_id, 1, PRICE, 0, 2**40)
    signature = sign_intent(intent, stranger.key, chain_id=market.provider.chain_id,
                            verifying_contract=market.address)
    with ape.reverts(market.MarketInvalidIntentSignature, buyer=intent.buyer):
        market.executePurchaseIntent(intent.as_tuple(), signature, sender=relayer)


def test_buyer_cancels_an_unused_intent(market, listing_id, funded_bob, alice, relayer, make_intent, permit_for):
    intent, signature = make_intent(funded_bob, listing_id)
    with ape.reverts(market.InvalidAccountNonce, account=alice.address, currentNonce=0):
        market.cancelPurchaseIntent(1, sender=alice)
    tx = market.cancelPurchaseIntent(0, sender=funded_bob)
    [log] = tx.decode_logs(market.PurchaseIntentCancelled)
    assert (log.buyer, log.nonce) == (funded_bob.address, 0)
    with ape.reverts(market.InvalidAccountNonce, account=funded_bob.address, currentNonce=1):
        market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, *permit_for(funded_bob, PRICE),
                                               sender=relayer)
    # Only the buyer's own nonce moves: alice cannot cancel bob's intents.
    market.cancelPurchaseIntent(0, sender=alice)
    assert (market.nonces(funded_bob), market.nonces(alice)) == (1, 1)


def test_paused_market_refuses_intents(market, guardian, listing_id, funded_bob, relayer, make_intent, permit_for):
    intent, signature = make_intent(funded_bob, listing_id)
    market.pause(sender=guardian)
    with ape.reverts(market.EnforcedPause):
        market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, *permit_for(funded_bob, PRICE),
                                               sender=relayer)
    with ape.reverts(market.EnforcedPause):
        market.executePurchaseIntent(intent.as_tuple(), signature, sender=relayer)
    assert market.nonces(funded_bob) == 0
    market.unpause(sender=guardian)
    market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, *permit_for(funded_bob, PRICE),
                                           sender=relayer)
    assert market.nonces(funded_bob) == 1


def test_bad_permit_without_allowance_reverts(market, listing_id, funded_bob, relayer, make_intent, permit_for):
    intent, signature = make_intent(funded_bob, listing_id)
    value, deadline, v, r, s = permit_for(funded_bob, PRICE)
    with reverts_with("ERC20InsufficientAllowance", spender=market.address, allowance=0):
        market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, value + 1, deadline, v, r, s,
                                               sender=relayer)
    assert market.nonces(funded_bob) == 0


def test_relayed_purchase_gas_beside_purchase_with_permit(market, token, listing_id, claim, alice, bob, relayer,
                                                          make_intent, permit_for):
    """Steady state (the buyer's item balance and nonce already written): the intent's extra cost is its
    signature check (ecrecover and EIP-712 hashing), the nonce write (warm-up and update of a written slot)
    and the larger calldata: about 15,700 gas when written. Kept under 20,000 gas."""
    claim(alice, 100 * FIT)
    claim(bob, 100 * FIT)
    for buyer in (alice, bob):
        market.purchaseWithPermit(listing_id, 1, PRICE, *permit_for(buyer, PRICE), sender=buyer)
    intent, signature = make_intent(bob, listing_id)
    market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, *permit_for(bob, PRICE), sender=relayer)

    direct = market.purchaseWithPermit(listing_id, 1, PRICE, *permit_for(alice, PRICE), sender=alice)
    intent, signature = make_intent(bob, listing_id)
    relayed = market.executePurchaseIntentWithPermit(intent.as_tuple(), signature, *permit_for(bob, PRICE),
                                                     sender=relayer)
    print(f"\nsteady-state gas: purchaseWithPermit {direct.gas_used}, "
          f"executePurchaseIntentWithPermit {relayed.gas_used} (+{relayed.gas_used - direct.gas_used})")
    assert 0 < relayed.gas_used - direct.gas_used < 20_000
