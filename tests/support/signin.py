"""Signing in to the API with a wallet (eth-account) and an EIP-4361 (SIWE) message."""

from datetime import UTC, datetime

from eth_account import Account
from eth_account.messages import encode_defunct
from siwe import SiweMessage

from backend.app.core.config import Settings


def new_wallet():
    return Account.create()


def siwe_message(client, settings: Settings, wallet, **fields) -> str:
    """The sign-in message for `wallet`, with a fresh nonce from the API unless `fields` names one; any
    other field (domain, chain_id, expiration_time...) overrides the settings' value."""
    nonce = fields.pop("nonce", None) or client.post("/auth/nonce").json()["nonce"]
    values = dict(domain=settings.siwe_domain, address=wallet.address, statement="Sign in to fitmint",
                  uri=settings.siwe_uri, version="1", chain_id=settings.chain_id, nonce=nonce,
                  issued_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"))
    return SiweMessage(**{**values, **fields}).prepare_message()


def sign(message: str, wallet) -> str:
    return "0x" + wallet.sign_message(encode_defunct(text=message)).signature.hex().removeprefix("0x")


def sign_in(client, settings: Settings, wallet, tenant: str | None = None) -> dict:
    """Signs `wallet` in (to `tenant`); returns the Authorization header. Fails the test on refusal."""
    message = siwe_message(client, settings, wallet)
    body = {"message": message, "signature": sign(message, wallet)} | ({"tenant": tenant} if tenant else {})
    response = client.post("/auth/verify", json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def me(client, headers) -> dict:
    response = client.get("/auth/me", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()
