"""Sign-In with Ethereum (EIP-4361): single-use nonces in Redis, message checks by the `siwe` library
(signinwithethereum), never by hand-rolled parsing."""

import secrets
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from siwe import SiweMessage
from siwe.siwe import (
    DomainMismatch,
    ExpiredMessage,
    InvalidSignature,
    MalformedSession,
    NonceMismatch,
    NotYetValidMessage,
    VerificationError,
)

from backend.app.auth.tokens import Subject
from backend.app.core.config import Settings


class SignInError(Exception):
    """Sign-in refused; `status` is the HTTP status, the message the reason given to the client."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


def _nonce_key(nonce: str) -> str:
    return f"auth:siwe-nonce:{nonce}"


class SiweService:
    def __init__(self, *, redis: Redis, settings: Settings):
        self.redis = redis
        self.settings = settings

    async def new_nonce(self) -> tuple[str, datetime]:
        nonce = secrets.token_hex(12)  # EIP-4361: at least 8 alphanumeric characters
        ttl = self.settings.siwe_nonce_ttl_seconds
        await self.redis.set(_nonce_key(nonce), 1, ex=ttl)
        return nonce, datetime.now(UTC) + timedelta(seconds=ttl)

    async def verify(self, message: str, signature: str) -> Subject:
        try:
            parsed = SiweMessage.from_message(message)
        except Exception as exc:  # the library raises several types for malformed input
            raise SignInError(422, f"not an EIP-4361 message: {exc}") from exc
        settings = self.settings
        if parsed.domain != settings.siwe_domain:
            raise SignInError(401, f"message is for domain {parsed.domain!r}, this is {settings.siwe_domain!r}")
        if int(parsed.chain_id) != settings.chain_id:
            raise SignInError(401, f"message is for chain {parsed.chain_id}, this API serves chain {settings.chain_id}")
        # The nonce is consumed before the signature is checked: a nonce is good for one attempt only.
        if not await self.redis.getdel(_nonce_key(parsed.nonce)):
            raise SignInError(401, "nonce unknown, expired or already used: request a new one")
        try:
            parsed.verify(signature, domain=settings.siwe_domain, nonce=parsed.nonce, chain_id=settings.chain_id)
        except ExpiredMessage as exc:
            raise SignInError(401, "message expired") from exc
        except NotYetValidMessage as exc:
            raise SignInError(401, "message not yet valid") from exc
        except (InvalidSignature, MalformedSession) as exc:
            raise SignInError(401, "signature does not match the message's address") from exc
        except (DomainMismatch, NonceMismatch, VerificationError) as exc:
            raise SignInError(401, f"message refused: {type(exc).__name__}") from exc
        return Subject(parsed.address, settings.chain_id)
