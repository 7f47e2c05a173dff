"""Sign-In with Ethereum: the message names the domain and URI GET /chain gives, a nonce from
POST /auth/nonce, and is signed (EIP-191 personal_sign) by the member's local key; then refresh, sign out
and who the session belongs to."""

import re
from datetime import UTC, datetime

from eth_account.messages import encode_defunct
from siwe import SiweMessage

from fitmint_client import validate
from fitmint_client.chaininfo import ChainDocuments
from fitmint_client.errors import FitmintInputError
from fitmint_client.http import Session, Tokens
from fitmint_client.models import Me, SignedIn
from fitmint_client.models import Tokens as TokensModel

_TENANT = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


class Auth:
    def __init__(self, session: Session, documents: ChainDocuments):
        self.session = session
        self.documents = documents

    def sign_in(self, wallet, tenant: str | None = None) -> SignedIn:
        """Signs `wallet` (a LocalAccount or a private key) in, to `tenant` (default: the platform's own);
        the session keeps the tokens."""
        account = validate.account(wallet)
        if tenant is not None and not _TENANT.match(tenant):
            raise FitmintInputError(f"tenant {tenant!r} is not a tenant slug (lowercase letters, digits and "
                                    "hyphens, 2 to 40 characters)")
        chain = self.documents.chain()
        nonce = self.session.request("POST", "/auth/nonce").json()["nonce"]
        message = SiweMessage(
            domain=chain.siwe.domain, address=account.address, statement=chain.siwe.statement, uri=chain.siwe.uri,
            version="1", chain_id=chain.chain_id, nonce=nonce,
            issued_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")).prepare_message()
        signature = "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()
        body = {"message": message, "signature": signature} | ({"tenant": tenant} if tenant else {})
        tokens = TokensModel.model_validate(self.session.request("POST", "/auth/verify", json=body).json())
        self.session.tokens = Tokens(tokens.access_token, tokens.refresh_token)
        me = self.me()
        return SignedIn(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                        expires_in=tokens.expires_in, user_id=me.user_id, tenant_id=me.tenant_id, address=me.address,
                        role=me.role)

    def refresh(self) -> Tokens:
        """A new token pair for the session (the refresh token rotates: the old one stops working)."""
        return self.session.refresh()

    def sign_out(self) -> None:
        """Ends the session on the server (its access and refresh tokens stop working) and forgets it."""
        self.session.request("POST", "/auth/logout", auth=True)
        self.session.tokens = None

    def me(self) -> Me:
        return Me.model_validate(self.session.get_json("/auth/me", auth=True))
