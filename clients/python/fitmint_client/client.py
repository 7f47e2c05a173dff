"""Fitmint: the client a wallet backend or a script uses, one object over the API (HTTP) and the chain
(JSON-RPC). Each area is a small module of its own; this class puts their operations under one name,
as the TypeScript SDK (@fitmint/sdk) does."""

import httpx

from fitmint_client import validate
from fitmint_client.auth import Auth
from fitmint_client.chaininfo import ChainDocuments
from fitmint_client.errors import FitmintApiError, FitmintChainError, FitmintInputError
from fitmint_client.fitness import Fitness
from fitmint_client.http import Session, Tokens
from fitmint_client.identity import IdentityReads
from fitmint_client.marketplace import Marketplace
from fitmint_client.models import ChainInfo
from fitmint_client.notifications import Notifications
from fitmint_client.reads import WalletReads
from fitmint_client.relayer import Relayer
from fitmint_client.rewards import Rewards
from fitmint_client.rpc import Rpc
from fitmint_client.transactions import Transactor


class Fitmint:
    """`Fitmint(api_url)`. `rpc_url` overrides the node GET /chain names (e.g. the wallet's own);
    `http_client` sends the API's requests (an httpx.Client: proxies, TLS, event hooks); `tokens` resumes a
    session; a 429 is waited out `max_retries` times when its Retry-After is at most `max_retry_wait` s.
    Nothing is fetched until an operation needs it."""

    def __init__(self, api_url: str, *, rpc_url: str | None = None, http_client: httpx.Client | None = None,
                 timeout: float = 30, max_retries: int = 3, max_retry_wait: float = 65,
                 tokens: Tokens | None = None):
        self.session = Session(api_url, client=http_client, timeout=timeout, max_retries=max_retries,
                               max_retry_wait=max_retry_wait)
        self.session.tokens = tokens
        self.documents = ChainDocuments(self.session)
        self.rpc = Rpc(rpc_url or (lambda: self.documents.chain(revalidate=False).rpc_url), timeout=timeout)
        self.transactor = Transactor(self.documents, self.rpc)
        self.auth = Auth(self.session, self.documents)
        self.fitness = Fitness(self.session)
        self.rewards = Rewards(self.session, self.documents, self.transactor)
        self.relayer = Relayer(self.session)
        self.wallets = WalletReads(self.session)
        self.marketplace = Marketplace(self.session, self.documents, self.transactor)
        self.notifications = Notifications(self.session)
        self.identity_reads = IdentityReads(self.session)

    def close(self) -> None:
        self.rpc.close()
        self.session.close()

    def __enter__(self) -> "Fitmint":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def tokens(self) -> Tokens | None:
        """The session's tokens (keep them to resume the session later: Fitmint(..., tokens=...))."""
        return self.session.tokens

    @tokens.setter
    def tokens(self, tokens: Tokens | None) -> None:
        self.session.tokens = tokens

    # --- the chain -----------------------------------------------------------------------------------------
    def chain(self) -> ChainInfo:
        """GET /chain: kept, and revalidated with its ETag on each call (a 304 when unchanged)."""
        return self.documents.chain()

    def call(self, contract: str, function: str, *args):
        """A read of one of the platform's contracts (eth_call), decoded with its ABI from the API."""
        return self.transactor.call(contract, function, *args)

    def transact(self, wallet, contract: str, function: str, *args) -> dict:
        """Sends `contract.function(*args)` signed by `wallet` (e.g. FitItems.setApprovalForAll,
        Marketplace.listForResale, Marketplace.updatePrice), waits until mined; returns the receipt."""
        return self.transactor.send(validate.account(wallet), contract, function, *args)

    # --- auth ----------------------------------------------------------------------------------------------
    def sign_in(self, wallet, tenant: str | None = None):
        return self.auth.sign_in(wallet, tenant)

    def refresh(self) -> Tokens:
        return self.auth.refresh()

    def sign_out(self) -> None:
        self.auth.sign_out()

    def me(self):
        return self.auth.me()

    # --- fitness and rewards -------------------------------------------------------------------------------
    def record_workout(self, workout, *, idempotency_key: str | None = None):
        return self.fitness.record_workout(workout, idempotency_key=idempotency_key)

    def request_voucher(self, workout_id: str, account: str | None = None):
        return self.rewards.request_voucher(workout_id, account)

    def claim_voucher(self, wallet, voucher):
        return self.rewards.claim_voucher(wallet, voucher)

    def epochs(self, **page):
        return self.rewards.epochs(**page)

    def epoch_proof(self, epoch: int, address: str):
        return self.rewards.epoch_proof(epoch, address)

    def claim_epoch(self, wallet, proof):
        return self.rewards.claim_epoch(wallet, proof)

    # --- gasless: the platform sends it --------------------------------------------------------------------
    def relay_voucher(self, voucher):
        """Has the platform claim the voucher (or claim id) for the member, who needs no ETH."""
        return self.relayer.relay_voucher(voucher)

    def relay(self, relay_id: int):
        return self.relayer.relay(relay_id)

    def wait_relayed(self, relay, *, timeout: float = 60):
        """The relay (or its id) once mined or failed."""
        return self.relayer.wait_relayed(relay, timeout=timeout)

    def buy_gasless(self, wallet, listing_id: int | None = None, quantity: int | None = None, *, quote=None):
        """Quotes (unless `quote` is given), signs the quote's purchase intent and permit with `wallet`, and has
        the platform execute them: the relay to wait on (`wait_relayed`)."""
        if quote is None:
            account = validate.account(wallet)
            if listing_id is None or quantity is None:
                raise FitmintInputError("give listing_id and quantity, or a quote")
            quote = self.marketplace.quote(listing_id, buyer=account.address, quantity=quantity)
        return self.relayer.relay_purchase(wallet, quote)

    # --- wallet reads --------------------------------------------------------------------------------------
    def balance(self, address: str):
        return self.wallets.balance(address)

    def transfers(self, address: str, **page):
        return self.wallets.transfers(address, **page)

    def claims(self, address: str, **page):
        return self.wallets.claims(address, **page)

    def orders(self, address: str, **options):
        return self.wallets.orders(address, **options)

    def items(self, address: str):
        return self.wallets.items(address)

    def iter_transfers(self, address: str, **options):
        return self.wallets.iter_transfers(address, **options)

    def iter_claims(self, address: str, **options):
        return self.wallets.iter_claims(address, **options)

    def iter_orders(self, address: str, **options):
        return self.wallets.iter_orders(address, **options)

    def wait_for_indexed(self, block: int, *, timeout: float = 30) -> int:
        return self.wallets.wait_for_indexed(block, timeout=timeout)

    # --- marketplace ---------------------------------------------------------------------------------------
    def listings(self, **filters):
        return self.marketplace.listings(**filters)

    def iter_listings(self, **filters):
        return self.marketplace.iter_listings(**filters)

    def listing(self, listing_id: int):
        return self.marketplace.listing(listing_id)

    def item_metadata(self, listing):
        return self.marketplace.item_metadata(listing)

    def item_image(self, listing):
        return self.marketplace.item_image(listing)

    def wallet_listings(self, address: str, **options):
        return self.marketplace.wallet_listings(address, **options)

    def iter_wallet_listings(self, address: str, **options):
        return self.marketplace.iter_wallet_listings(address, **options)

    def quote(self, listing_id: int, *, buyer: str, quantity: int, deadline: int | None = None):
        return self.marketplace.quote(listing_id, buyer=buyer, quantity=quantity, deadline=deadline)

    def buy_with_permit(self, wallet, listing_id: int | None = None, quantity: int | None = None, *, quote=None):
        return self.marketplace.buy_with_permit(wallet, listing_id, quantity, quote=quote)

    # --- identity ------------------------------------------------------------------------------------------
    def identity(self):
        """The member's DIDComm connections and credentials."""
        return self.identity_reads.identity()

    # --- errors --------------------------------------------------------------------------------------------
    @staticmethod
    def describe_error(error: BaseException) -> str:
        """Words for any error the client raises: an API reason, a decoded custom error, refused input."""
        if isinstance(error, FitmintChainError):
            return error.message
        if isinstance(error, FitmintApiError):
            extra = [reason for reason in error.reasons if reason not in error.detail]
            return error.detail + (" (" + "; ".join(extra) + ")" if extra else "")
        return str(error)
