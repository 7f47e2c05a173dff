"""An issuer of EIP-712-signed W3C credentials (EthereumEip712Signature2021, did:pkh:eip155 issuer) for the
tests: the kind of credential another issuer hands our members, which the controller verifies and ACA-Py
cannot (agent/controller/interop.py). Signed by didkit 0.3.3, like the controller's checks."""

import base64
import json

import didkit
from eth_keys import keys
from eth_utils import to_checksum_address

from agent.controller.interop import EIP712_PROOF_TYPE, PKH_EIP155_FRAGMENT, await_didkit, proof_created_timestamp


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def eth_jwk(private_key_hex: str) -> dict:
    """The secp256k1 JWK (with `d`) of an Ethereum private key."""
    key = keys.PrivateKey(bytes.fromhex(private_key_hex.removeprefix("0x")))
    public = key.public_key.to_bytes()  # x || y, 64 bytes
    return {
        "kty": "EC", "crv": "secp256k1",
        "x": _b64url(public[:32]), "y": _b64url(public[32:]), "d": _b64url(key.to_bytes()),
    }  # fmt: skip


def pkh_did(address: str, chain_id: int = 1) -> str:
    """`did:pkh:eip155:<chain>:<checksummed address>`."""
    return f"did:pkh:eip155:{int(chain_id)}:{to_checksum_address(address)}"


async def issue_eip712_credential(credential: dict, private_key_hex: str, *, chain_id: int = 1) -> dict:
    """Sign `credential` with an Ethereum key (EthereumEip712Signature2021, issuer did:pkh:eip155).

    The issuer is set to `did:pkh:eip155:<chain_id>:<address>` if missing (and must be that DID if
    given); `issuanceDate` defaults to now. `@context` entries must be strings (see interop.py's module
    doc). Raises ValueError for such mistakes and didkit.DIDKitException if didkit refuses."""
    contexts = credential.get("@context")
    contexts = contexts if isinstance(contexts, list) else [contexts]
    if not all(isinstance(c, str) for c in contexts):
        raise ValueError(
            "an EIP-712 credential's @context must be a list of URL strings: didkit 0.3.3 derives EIP-712 types "
            "from the document and cannot type an array mixing strings and inline objects"
        )
    address = keys.PrivateKey(bytes.fromhex(private_key_hex.removeprefix("0x"))).public_key.to_checksum_address()
    did = pkh_did(address, chain_id)
    unsigned = dict(credential)
    issuer = unsigned.setdefault("issuer", did)
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if issuer_id != did:
        raise ValueError(f"issuer {issuer_id!r} is not the key's DID {did}")
    unsigned.setdefault("issuanceDate", proof_created_timestamp())
    options = {
        "proofPurpose": "assertionMethod",
        "type": EIP712_PROOF_TYPE,  # always name it: unnamed, didkit 0.3.3 picks EcdsaSecp256k1Signature2019
        "verificationMethod": f"{did}#{PKH_EIP155_FRAGMENT}",
    }
    jwk = eth_jwk(private_key_hex)
    signed = await await_didkit(didkit.issue_credential, json.dumps(unsigned), json.dumps(options), json.dumps(jwk))
    return json.loads(signed)
