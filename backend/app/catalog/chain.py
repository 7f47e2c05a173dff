"""The catalog on the chain gateway: the calls its steps make (Marketplace.createListing, updatePrice,
updateSupply and FitItems.setCid, encoded with the manifest's ABIs for the transaction queue to send from the
operator pool), listings sold by the manifest's treasury, what a mined step set (the ListingCreated log of a
createListing, the argument of an update), and a failed step's reason as the chain's refusal."""

import re

from eth_abi import decode
from eth_utils import function_abi_to_4byte_selector, get_abi_input_types

from backend.app.core.config import Settings
from fitmint.chain.errors import ChainReverted, ChainUnavailable
from fitmint.chain.gateway import ChainGateway
from fitmint.chain.manifest import ManifestError

# The contract of each step the catalog takes.
CONTRACT_OF = {"createListing": "Marketplace", "setCid": "FitItems", "updatePrice": "Marketplace",
               "updateSupply": "Marketplace"}
_DECODED_ERROR = re.compile(r"simulation reverted: (\w+)\(")


def http_status(reverted: ChainReverted) -> int:
    """A paused marketplace is a state the caller can wait out (409); any other refusal means the
    deployment and the backend disagree (roles, parameters): a bad gateway (502)."""
    return 409 if reverted.name == "EnforcedPause" else 502


class StepRefused(ChainReverted):
    """A catalog step the transaction queue settled without success: its simulation reverted (the reason is
    the decoded custom error; nothing was sent), it reverted on chain, or its nonce went to another
    transaction. `name` is the custom error's name when the simulation's reason names one."""

    def __init__(self, action: str, request_id: int, state: str, reason: str | None):
        super().__init__(f"{CONTRACT_OF[action]}.{action}", reason=f"{reason or state} (transaction {request_id})")
        decoded = _DECODED_ERROR.match(reason or "")
        self.error_name = decoded.group(1) if decoded else None

    @property
    def name(self) -> str | None:
        return self.error_name


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

    def call(self, action: str, args: list) -> tuple[str, bytes]:
        """(target address, calldata) of a step: what the catalog submits to the transaction queue."""
        contract = CONTRACT_OF[action]
        _, calldata = self.gateway.abi(contract).function(action, tuple(args))
        return self.gateway.address(contract), calldata

    def arguments(self, action: str, calldata: bytes) -> tuple:
        """The arguments a step's calldata carries (the values a mined update set)."""
        entry = self.gateway.abi(CONTRACT_OF[action]).entry(action)
        if bytes(calldata[:4]) != function_abi_to_4byte_selector(entry):
            raise ValueError(f"the calldata is not a {action} call")
        return decode(get_abi_input_types(entry), bytes(calldata[4:]))

    def action_of(self, calldata: bytes) -> str:
        """Which step a request's calldata is."""
        for action, contract in CONTRACT_OF.items():
            if bytes(calldata[:4]) == function_abi_to_4byte_selector(self.gateway.abi(contract).entry(action)):
                return action
        raise ValueError(f"calldata {bytes(calldata[:4]).hex()} is none of the catalog's steps")

    def listing_created(self, receipt: dict):
        """The Marketplace's ListingCreated log of a createListing receipt (listingId, unitPrice, quantity, cid)."""
        created = self.gateway.logs(receipt, "Marketplace", "ListingCreated")
        if not created:
            raise ChainUnavailable(f"no ListingCreated log in transaction {receipt.get('transactionHash')}")
        return created[0].args

    async def close(self) -> None:
        await self.gateway.close()
