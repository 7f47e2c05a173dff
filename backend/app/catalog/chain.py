"""The catalog on the chain gateway: Marketplace and FitItems transactions from the operator account
(the key the deploy script granted LISTER_ROLE and METADATA_ROLE), listings sold by the manifest's
treasury, and the listing id read from the ListingCreated log of a createListing receipt."""

from functools import cached_property

from eth_account import Account

from backend.app.core.config import Settings
from fitmint.chain.errors import ChainReverted, ChainUnavailable
from fitmint.chain.gateway import ChainGateway, SignedTransaction
from fitmint.chain.manifest import ManifestError


def http_status(reverted: ChainReverted) -> int:
    """A paused marketplace is a state the caller can wait out (409); any other refusal means the
    deployment and the backend disagree (roles, parameters): a bad gateway (502)."""
    return 409 if reverted.name == "EnforcedPause" else 502


class CatalogChain:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.gateway = ChainGateway.from_settings(settings, timeout=10)

    @property
    def treasury(self) -> str:
        """The seller (proceeds recipient) of catalog listings: the manifest's treasury."""
        try:
            return self.gateway.manifest.treasury
        except ManifestError as exc:
            raise ChainUnavailable(str(exc)) from exc

    @cached_property
    def operator(self):
        """The operator account (settings.operator_key(): the key file the deploy script granted roles)."""
        return Account.from_key(self.settings.operator_key())

    async def pending_nonce(self) -> int:
        return await self.gateway.pending_nonce(self.operator.address)

    async def sign(self, contract: str, function: str, args: list, nonce: int) -> SignedTransaction:
        return await self.gateway.sign(self.operator, contract, function, *args, nonce=nonce)

    async def wait(self, tx_hash: str) -> dict:
        try:
            return await self.gateway.wait(tx_hash)
        except ChainUnavailable as exc:
            raise ChainUnavailable(f"{exc}; asking again checks it instead of sending another") from exc

    def listing_id(self, receipt: dict) -> int:
        """The listing id of the Marketplace's ListingCreated log in `receipt`."""
        created = self.gateway.logs(receipt, "Marketplace", "ListingCreated")
        if not created:
            raise ChainUnavailable(f"no ListingCreated log in transaction {receipt.get('transactionHash')}")
        return created[0].args["listingId"]

    async def close(self) -> None:
        await self.gateway.close()
