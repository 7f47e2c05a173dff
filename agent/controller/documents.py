"""What we issue and what we ask for: W3C credentials with our JSON-LD context embedded inline (the file
agent/contexts/fitmint-v1.json is the one source: nothing is resolved over the network, and ACA-Py only
caches the standard contexts), the achievements we certify, the DIF presentation definitions we send,
and the checks we add to the agent's signature check. Pure functions: no I/O besides reading the context."""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

CONTEXTS = Path(__file__).resolve().parents[1] / "contexts"
CREDENTIALS_V1 = "https://www.w3.org/2018/credentials/v1"
VOCAB = "https://fitmint.dev/vocab#"
PROOF_TYPE = "Ed25519Signature2020"
# DIF field ids must be UUIDs: the credential subject (which must be the presentation's signer).
SUBJECT_FIELD = "2f6c7a9e-8a1e-4d2c-9c55-0d7b2a3f4e11"


@lru_cache
def _inline(name: str) -> dict:
    return json.loads((CONTEXTS / name).read_text())["@context"]


def context() -> dict:
    """Our context as an inline object (its `@context` value)."""
    return _inline("fitmint-v1.json")


def status_context() -> dict:
    """The Bitstring Status List terms (the definitions of the W3C credentials v2 context, same IRIs) as
    an inline object: our credentials are data model 1.1, and didkit 0.3.3 ships no v2 context."""
    return _inline("bitstring-status-v1.json")


@dataclass(frozen=True)
class Achievement:
    code: str
    name: str
    threshold_km: float


ACHIEVEMENTS = {a.code: a for a in (
    Achievement("distance-10k", "10 km of accepted workouts", 10.0),
    Achievement("distance-marathon", "A marathon distance (42.195 km) of accepted workouts", 42.195),
    Achievement("distance-100k", "100 km of accepted workouts", 100.0),
)}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_credential_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _credential(kind: str, issuer: str, subject: dict, credential_id: str, status: dict) -> dict:
    return {"@context": [CREDENTIALS_V1, context(), status_context()], "id": credential_id,
            "type": ["VerifiableCredential", kind], "issuer": issuer, "issuanceDate": _now(),
            "credentialSubject": subject, "credentialStatus": status}


def status_entry(list_url: str, index: int, purpose: str = "revocation") -> dict:
    """A credential's `credentialStatus`: bit `index` of the list credential at `list_url`. The entry has
    an `id` although the spec makes it optional: didkit 0.3.3 refuses a credentialStatus without one."""
    return {"id": f"{list_url}#{index}", "type": "BitstringStatusListEntry", "statusPurpose": purpose,
            "statusListIndex": str(index), "statusListCredential": list_url}


def status_list_credential(issuer: str, list_url: str, encoded_list: str, *, ttl_ms: int,
                           purpose: str = "revocation") -> dict:
    """The (unsigned) BitstringStatusListCredential published at `list_url` (its id)."""
    return {"@context": [CREDENTIALS_V1, status_context()], "id": list_url,
            "type": ["VerifiableCredential", "BitstringStatusListCredential"], "issuer": issuer,
            "issuanceDate": _now(), "credentialSubject": {
                "id": f"{list_url}#list", "type": "BitstringStatusList", "statusPurpose": purpose,
                "encodedList": encoded_list, "ttl": ttl_ms}}


def wallet_binding(issuer: str, holder_did: str, chain_id: int, address: str, tenant: str, *, credential_id: str,
                   status: dict) -> dict:
    return _credential("WalletBinding", issuer, {
        "id": holder_did, "wallet": f"did:pkh:eip155:{chain_id}:{address}", "chainId": chain_id, "tenant": tenant},
        credential_id, status)


def fitness_achievement(issuer: str, holder_did: str, achievement: Achievement, total_km: float, tenant: str, *,
                        credential_id: str, status: dict) -> dict:
    return _credential("FitnessAchievement", issuer, {
        "id": holder_did, "achievement": achievement.code, "achievementName": achievement.name,
        "thresholdKm": achievement.threshold_km, "totalDistanceKm": round(total_km, 3), "earnedAt": _now(),
        "tenant": tenant}, credential_id, status)


def presentation_definition(credential_type: str, purpose: str) -> dict:
    """One credential of `credential_type` (matched on its expanded JSON-LD type), whose subject signs."""
    return {"id": str(uuid.uuid4()), "name": purpose, "format": {"ldp_vp": {"proof_type": [PROOF_TYPE]}},
            "input_descriptors": [{
                "id": "credential", "name": credential_type, "purpose": purpose,
                "schema": [{"uri": "https://www.w3.org/2018/credentials#VerifiableCredential"},
                           {"uri": VOCAB + credential_type}],
                "constraints": {"is_holder": [{"directive": "required", "field_id": [SUBJECT_FIELD]}],
                                "fields": [{"id": SUBJECT_FIELD, "path": ["$.credentialSubject.id"]}]}}]}


def issuer_of(credential: dict) -> str | None:
    issuer = credential.get("issuer")
    return issuer.get("id") if isinstance(issuer, dict) else issuer


def _did_of(verification_method: str | None) -> str | None:
    return verification_method.split("#", 1)[0] if verification_method else None


@dataclass
class Verdict:
    verified: bool
    reasons: list[str]
    credentials: list[dict]
    holder: str | None

    def as_result(self) -> dict:
        return {"verified": self.verified, "reasons": self.reasons, "holder": self.holder,
                "credentials": [{"id": c.get("id"), "type": c.get("type"), "issuer": issuer_of(c)}
                                for c in self.credentials]}


def check_presentation(presentation: dict | None, *, agent_verified: bool, agent_messages: list | None,
                       credential_type: str, trusted: set[str], revoked: dict[str, str],
                       expected_holder: str | None) -> Verdict:
    """Our checks on top of the agent's: the signatures (the agent's verdict), every credential's issuer
    trusted and not revoked (by credential id), of the requested type with the claims it needs, and
    signed by its subject, who must be the DID bound to this connection."""
    reasons: list[str] = []
    presentation = presentation or {}
    credentials = presentation.get("verifiableCredential") or []
    if isinstance(credentials, dict):
        credentials = [credentials]
    proof = presentation.get("proof") or {}
    if isinstance(proof, list):
        proof = proof[0] if proof else {}
    holder = _did_of(proof.get("verificationMethod"))
    if not agent_verified:
        detail = "; ".join(str(m) for m in agent_messages or []) or "a signature does not verify"
        reasons.append(f"signature check failed: {detail}")
    if not credentials:
        reasons.append("the presentation holds no credential")
    if holder is None:
        reasons.append("the presentation is not signed by its holder")
    elif expected_holder is not None and holder != expected_holder:
        reasons.append(f"the presentation is signed by {holder}, not by the holder DID bound to this "
                       f"connection ({expected_holder})")
    for credential in credentials:
        cid = credential.get("id") or "(no id)"
        issuer = issuer_of(credential)
        if issuer not in trusted:
            reasons.append(f"credential {cid}: issuer {issuer} is not a trusted issuer")
        if cid in revoked:
            reasons.append(f"credential {cid} was revoked at {revoked[cid]}")
        if credential_type not in (credential.get("type") or []):
            reasons.append(f"credential {cid} is not a {credential_type}")
        subject = credential.get("credentialSubject") or {}
        if isinstance(subject, list):
            subject = subject[0] if subject else {}
        if holder is not None and subject.get("id") != holder:
            reasons.append(f"credential {cid} is about {subject.get('id')}, not about the presentation's signer")
        if credential_type == "FitnessAchievement" and not subject.get("achievement"):
            reasons.append(f"credential {cid} names no achievement")
    return Verdict(not reasons, reasons, credentials, holder)
