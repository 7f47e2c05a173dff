"""Gasless claims and purchases: the platform sends them for a member who holds no ETH. A voucher's claim is
relayed by its claim id (gathered with others into one claimBatch transaction); a purchase is the quote's
PurchaseIntent and permit, both signed by the member's key here and handed to the API. Either way the result
is a relay to wait on: waiting -> batched -> sent -> mined (with its transaction) or failed (with the reason)."""

import time

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from fitmint_client import validate
from fitmint_client.errors import FitmintInputError, FitmintTimeout
from fitmint_client.http import Session
from fitmint_client.models import Quote, Relay, Voucher

SETTLED = ("mined", "failed")


class Relayer:
    def __init__(self, session: Session):
        self.session = session

    def relay_voucher(self, voucher: Voucher | str) -> Relay:
        """Has the platform claim the voucher (or the claim id) for the member; asking again returns the same relay."""
        claim_id = voucher.claim_id if isinstance(voucher, Voucher) else validate.claim_id(voucher)
        return Relay.model_validate(self.session.request("POST", f"/rewards/vouchers/{claim_id}/relay",
                                                         auth=True).json())

    def relay(self, relay_id: int) -> Relay:
        return Relay.model_validate(self.session.get_json(
            f"/relay/{validate.whole_number(relay_id, 'relay_id', minimum=1)}", auth=True))

    def wait_relayed(self, relay: Relay | int, *, timeout: float = 60, interval: float = 0.5) -> Relay:
        """The relay once mined or failed (FitmintTimeout if neither within `timeout` seconds)."""
        relay_id = relay.id if isinstance(relay, Relay) else relay
        deadline = time.monotonic() + timeout
        while (current := self.relay(relay_id)).state not in SETTLED:
            if time.monotonic() > deadline:
                raise FitmintTimeout(f"relay {relay_id} was not settled within {timeout:g} s (it is {current.state})")
            time.sleep(interval)
        return current

    def relay_purchase(self, wallet, quote: Quote) -> Relay:
        """Signs the quote's PurchaseIntent and permit with `wallet` and has the platform execute them."""
        return Relay.model_validate(self.session.request("POST", "/relay/purchases", auth=True,
                                                         json=signed_purchase(wallet, quote)).json())


def signed_purchase(wallet, quote: Quote) -> dict:
    """The body of POST /relay/purchases: the quote's PurchaseIntent and permit signed with `wallet`."""
    account: LocalAccount = validate.account(wallet)
    if quote.buyer.lower() != account.address.lower():
        raise FitmintInputError(f"this quote is for buyer {quote.buyer}, not for the wallet {account.address}")
    intent, permit = quote.intent, quote.permit
    intent_signature = account.sign_message(encode_typed_data(full_message=_with_numbers(intent.model_dump())))
    permit_signed = account.sign_message(encode_typed_data(full_message={
        "types": permit.types, "primaryType": permit.primaryType, "domain": permit.domain,
        "message": permit.message.model_dump()}))
    message = intent.message
    return {"intent": {"buyer": message["buyer"], "listing_id": message["listingId"],
                       "quantity": message["quantity"], "max_unit_price": message["maxUnitPrice"],
                       "nonce": message["nonce"], "deadline": message["deadline"]},
            "signature": "0x" + bytes(intent_signature.signature).hex().removeprefix("0x"),
            "permit": {"value": str(permit.message.value), "deadline": str(permit.message.deadline),
                       "v": permit_signed.v, "r": "0x" + permit_signed.r.to_bytes(32, "big").hex(),
                       "s": "0x" + permit_signed.s.to_bytes(32, "big").hex()}}


def _with_numbers(typed: dict) -> dict:
    """Typed data as the API sends it (uint256 as decimal strings), with the numbers eth-account signs."""
    kinds = {field["name"]: field["type"] for field in typed["types"][typed["primaryType"]]}
    return typed | {"message": {name: int(value) if kinds[name].startswith("uint") else value
                                for name, value in typed["message"].items()}}
