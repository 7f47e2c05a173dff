"""The marketplace: listings as indexed (filtered, sorted, paged), a quote read live from the chain, and
buying with an EIP-2612 permit: the member's key signs the quote's permit and sends purchaseWithPermit
with the quote's arguments and the signature; the order id comes from the OrderCreated log."""

import re
import time
from collections.abc import Iterator

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from fitmint_client import validate
from fitmint_client.chaininfo import ChainDocuments
from fitmint_client.errors import FitmintChainError, FitmintInputError
from fitmint_client.http import Session
from fitmint_client.models import ItemImage, Listing, ListingDetail, ListingItem, ListingsPage, Purchase, Quote
from fitmint_client.paging import walk
from fitmint_client.transactions import Transactor
from fitmint_client.words import when

KINDS = ("primary", "resale")
STATUSES = ("open", "sold_out", "cancelled", "all")
SORTS = ("newest", "price_asc", "price_desc")
_TENANT = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


class Marketplace:
    def __init__(self, session: Session, documents: ChainDocuments, transactor: Transactor):
        self.session = session
        self.documents = documents
        self.transactor = transactor

    # --- listings ------------------------------------------------------------------------------------------
    def listings(self, *, item_id: int | None = None, seller: str | None = None, tenant: str | None = None,
                 kind: str | None = None, status: str = "open", min_price: int | None = None,
                 max_price: int | None = None, sort: str = "newest", limit: int = 50,
                 cursor: str | None = None) -> ListingsPage:
        """One page of listings (prices in FIT wei)."""
        params = {"item_id": _optional_int(item_id, "item_id"),
                  "seller": validate.address(seller, "seller") if seller is not None else None,
                  "tenant": _tenant(tenant), "kind": _one_of(kind, KINDS, "kind"),
                  "status": _one_of(status, STATUSES, "status"),
                  "min_price": _optional_int(min_price, "min_price"),
                  "max_price": _optional_int(max_price, "max_price"),
                  "sort": _one_of(sort, SORTS, "sort"), "limit": validate.page_size(limit), "cursor": cursor}
        if min_price is not None and max_price is not None and min_price > max_price:
            raise FitmintInputError(f"min_price ({min_price}) is above max_price ({max_price})")
        return ListingsPage.model_validate(self.session.get_json("/marketplace/listings", params=params))

    def iter_listings(self, *, page_size: int = 50, **filters) -> Iterator[Listing]:
        return walk(self.listings, limit=page_size, **filters)

    def listing(self, listing_id: int) -> ListingDetail:
        return ListingDetail.model_validate(
            self.session.get_json(f"/marketplace/listings/{validate.listing_id(listing_id)}"))

    def item_metadata(self, listing: Listing) -> dict:
        """The ERC-1155 metadata document of the listing's item (what its ipfs:// URI resolves to)."""
        return self.session.get_json(self._described(listing).metadata_url)

    def item_image(self, listing: Listing) -> ItemImage:
        """The listing's item image: its bytes and content type."""
        item = self._described(listing)
        if item.image_url is None:
            raise FitmintInputError(f"the item of listing {listing.listing_id} has no image")
        response = self.session.request("GET", item.image_url)
        return ItemImage(content_type=response.headers.get("content-type", ""), data=response.content)

    def wallet_listings(self, address: str, *, status: str = "open", limit: int = 50,
                        cursor: str | None = None) -> ListingsPage:
        """The listings `address` sells."""
        return ListingsPage.model_validate(self.session.get_json(
            f"/wallets/{validate.address(address)}/listings",
            params={"status": _one_of(status, STATUSES, "status"), "limit": validate.page_size(limit),
                    "cursor": cursor}))

    def iter_wallet_listings(self, address: str, *, status: str = "open", page_size: int = 50) -> Iterator[Listing]:
        return walk(self.wallet_listings, address=address, status=status, limit=page_size)

    @staticmethod
    def _described(listing: Listing) -> ListingItem:
        if listing.item is None:
            raise FitmintInputError(f"listing {listing.listing_id} sells an item that is not in the platform's catalog")
        return listing.item

    # --- buying --------------------------------------------------------------------------------------------
    def quote(self, listing_id: int, *, buyer: str, quantity: int, deadline: int | None = None) -> Quote:
        """What buying `quantity` of the listing costs now, the permit to sign and the call to send."""
        body = {"buyer": validate.address(buyer, "buyer"), "quantity": validate.quantity(quantity),
                "deadline": validate.whole_number(deadline, "deadline", minimum=1) if deadline is not None else None}
        return Quote.model_validate(self.session.request(
            "POST", f"/marketplace/listings/{validate.listing_id(listing_id)}/quote", json=body).json())

    def buy_with_permit(self, wallet, listing_id: int | None = None, quantity: int | None = None, *,
                        quote: Quote | None = None) -> Purchase:
        """Buys with a permit: quotes `quantity` of `listing_id` (or takes the `quote` given), signs the
        quote's permit with `wallet`, sends purchaseWithPermit and waits until mined. A quote gone stale (the
        price went up) raises FitmintChainError saying so, before anything is sent."""
        account: LocalAccount = validate.account(wallet)
        if quote is None:
            if listing_id is None or quantity is None:
                raise FitmintInputError("give listing_id and quantity, or a quote")
            quote = self.quote(listing_id, buyer=account.address, quantity=quantity)
        elif listing_id is not None or quantity is not None:
            raise FitmintInputError("give listing_id and quantity, or a quote, not both")
        self._check(quote, account)
        signed = account.sign_message(encode_typed_data(full_message=_permit_message(quote)))
        args = [*quote.call.args, signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")]
        receipt = self.transactor.send(account, "Marketplace", quote.call.function, *args)
        orders = self.transactor.decode_logs(receipt, "Marketplace", "OrderCreated")
        if len(orders) != 1:
            raise FitmintChainError(f"the purchase was mined (transaction {receipt['transactionHash']}) but its "
                                    f"receipt has {len(orders)} OrderCreated logs, not one",
                                    tx_hash=receipt["transactionHash"])
        return Purchase(order_id=orders[0]["orderId"], tx_hash=receipt["transactionHash"],
                        block_number=int(receipt["blockNumber"], 16), quote=quote)

    def _check(self, quote: Quote, account: LocalAccount) -> None:
        """The quote is for this wallet, still valid, and for this platform's marketplace and token."""
        if quote.buyer.lower() != account.address.lower() or quote.permit.message.owner.lower() != \
                account.address.lower():
            raise FitmintInputError(f"this quote is for buyer {quote.buyer}, not for the wallet {account.address}: "
                                    "ask for a quote for this wallet")
        if quote.deadline <= time.time():
            raise FitmintInputError(f"this quote expired at {when(quote.deadline)}: ask for a new quote")
        chain = self.documents.chain(revalidate=False)
        market, token = self.documents.address("Marketplace").lower(), chain.token.address.lower()
        domain = quote.permit.domain
        if (quote.call.to.lower() != market or quote.permit.message.spender.lower() != market
                or str(domain.get("verifyingContract", "")).lower() != token
                or int(domain.get("chainId", -1)) != chain.chain_id):
            raise FitmintInputError("this quote does not name this platform's Marketplace, FIT token and chain: "
                                    "ask the platform's API for a quote")


def _permit_message(quote: Quote) -> dict:
    """The quote's EIP-712 typed data with the message's integers as ints (decimal strings on the wire)."""
    permit = quote.permit
    return {"types": permit.types, "primaryType": permit.primaryType, "domain": permit.domain,
            "message": permit.message.model_dump()}


def _one_of(value, allowed: tuple[str, ...], what: str):
    if value is not None and value not in allowed:
        raise FitmintInputError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _optional_int(value, what: str) -> str | None:
    return str(validate.whole_number(value, what)) if value is not None else None


def _tenant(value):
    if value is not None and not _TENANT.match(value):
        raise FitmintInputError(f"tenant {value!r} is not a tenant slug (lowercase letters, digits, hyphens)")
    return value
