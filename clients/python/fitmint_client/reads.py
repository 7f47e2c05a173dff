"""Wallet reads of the indexed chain (public: no sign-in needed), each with the block it is consistent
at, the lists in keyset pages and as iterators over all pages; and waiting for the indexer to reach a
block."""

import time
from collections.abc import Iterator
from typing import Literal

from fitmint_client import validate
from fitmint_client.errors import FitmintInputError, FitmintTimeout
from fitmint_client.http import Session
from fitmint_client.models import Balance, Claim, ClaimsPage, Items, Order, OrdersPage, Transfer, TransfersPage
from fitmint_client.paging import walk

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class WalletReads:
    def __init__(self, session: Session):
        self.session = session

    def balance(self, address: str) -> Balance:
        return Balance.model_validate(self.session.get_json(f"/wallets/{validate.address(address)}/balance"))

    def transfers(self, address: str, *, limit: int = 50, cursor: str | None = None) -> TransfersPage:
        return TransfersPage.model_validate(self._page(address, "transfers", limit, cursor))

    def claims(self, address: str, *, limit: int = 50, cursor: str | None = None) -> ClaimsPage:
        return ClaimsPage.model_validate(self._page(address, "claims", limit, cursor))

    def orders(self, address: str, *, role: Literal["buyer", "seller"] = "buyer", limit: int = 50,
               cursor: str | None = None) -> OrdersPage:
        if role not in ("buyer", "seller"):
            raise FitmintInputError(f"role must be 'buyer' or 'seller', not {role!r}")
        return OrdersPage.model_validate(self._page(address, "orders", limit, cursor, role=role))

    def items(self, address: str) -> Items:
        return Items.model_validate(self.session.get_json(f"/wallets/{validate.address(address)}/items"))

    def iter_transfers(self, address: str, *, page_size: int = 50) -> Iterator[Transfer]:
        return walk(self.transfers, address=address, limit=page_size)

    def iter_claims(self, address: str, *, page_size: int = 50) -> Iterator[Claim]:
        return walk(self.claims, address=address, limit=page_size)

    def iter_orders(self, address: str, *, role: Literal["buyer", "seller"] = "buyer",
                    page_size: int = 50) -> Iterator[Order]:
        return walk(self.orders, address=address, role=role, limit=page_size)

    def indexed_block(self) -> int | None:
        """The block the indexer has reached, as the API reads it."""
        return self.balance(ZERO_ADDRESS).block

    def wait_for_indexed(self, block: int, *, timeout: float = 30, interval: float = 0.2) -> int:
        """Waits until the API's indexed block is at least `block`; returns the indexed block."""
        block = validate.whole_number(block, "block")
        deadline = time.monotonic() + timeout
        while True:
            indexed = self.indexed_block()
            if indexed is not None and indexed >= block:
                return indexed
            if time.monotonic() > deadline:
                raise FitmintTimeout(f"the indexer did not reach block {block} within {timeout:g} s "
                                     f"(it is at {indexed})")
            time.sleep(interval)

    def _page(self, address: str, what: str, limit: int, cursor: str | None, **params) -> dict:
        return self.session.get_json(f"/wallets/{validate.address(address)}/{what}",
                                     params={"limit": validate.page_size(limit), "cursor": cursor, **params})
