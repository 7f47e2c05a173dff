"""Checking W3C credentials outside ACA-Py with didkit (issue 7, "interop check").

One job: verify W3C Verifiable Credentials (data model 1.1) with didkit 0.3.3, independently of our
ACA-Py agent:

- `verify_with_didkit(credential)`: any proof suite didkit knows (our agent's Ed25519Signature2018/2020
  over did:key, EthereumEip712Signature2021 over did:pkh, ...). No network: didkit only loads the
  JSON-LD contexts it ships; an unknown context URL is refused ("Unknown context"), and a term that no
  context defines is refused too ("Key expansion failed"). Our custom terms therefore live in inline
  `@context` objects (or an inline `@vocab`).
- `verify_eip712_credential(credential, expected_issuer_chain_id=...)`: a credential signed with an
  Ethereum key (EIP-712, `EthereumEip712Signature2021`) by a `did:pkh:eip155:<chain>:<address>`
  issuer — what ACA-Py cannot verify (it has no secp256k1 / EIP-712 / did:pkh support). The tests
  issue such credentials with didkit (tests/identity/eip712_issuer.py).

Every check returns a `Verdict` with plain reasons; nothing raises for a bad credential.

What didkit 0.3.3 does not do, and this module does (see `_check_dates` and `verify_eip712_credential`):
expiry (`expirationDate`) and not-yet-valid (`issuanceDate` in the future) are NOT checked by didkit;
it never contacts a chain, so the chain id in a did:pkh is whatever the issuer wrote — pin it with
`expected_issuer_chain_id`.

What didkit 0.3.3 does with `credentialStatus` (its ssi crate, tried here; our lists: status.py):
it checks status only when asked (`{"checks": ["proof", "credentialStatus"]}`; the default is the proof
alone) and then knows only `StatusList2021Entry` and `RevocationList2020Status`: a
`BitstringStatusListEntry` gives "Unable to parse credentialStatus: unknown variant". It refuses a
`credentialStatus` array outright (even for the proof check: "invalid type: sequence, expected struct
Status"), and a status entry without an `id`. It fetches a status list only over https ("Invalid schema"
for http, loopback included; it trusts `SSL_CERT_FILE`), and reads bits least-significant first: with
index 5 set as the specs say (the left-most bit is 0) it answered "not revoked", with the byte's bit
1 << 5 set "Credential is revoked.". So a verifier checks our lists as tests/identity/third_party_verifier.py does:
didkit for the credential's proof and the list's proof, then the bit, by hand.

Known quirks of didkit 0.3.3 that callers must know (each is pinned by tests/identity/test_interop.py):

- `proof.created` must be written the way didkit re-serialises it (UTC with a `Z`, e.g.
  `2026-11-27T14:14:09Z`). ACA-Py's default is `2026-11-27T14:14:09+00:00`; didkit parses the proof
  into a chrono timestamp and canonicalises it back as `...Z`, so the signed bytes differ and a
  perfectly valid ACA-Py credential fails in didkit with "Verification equation was not satisfied".
  Issue through ACA-Py with `options.created = proof_created_timestamp()`; `verify_with_didkit` adds
  a hint to the errors when it sees this.
- EIP-712 credentials cannot carry an inline `@context` object: didkit derives the EIP-712 types from
  the document and an array mixing strings and objects has no EIP-712 type ("Array inconsistency:
  expected type string under property: @context"). EthereumEip712Signature2021 signs the JSON itself
  (no JSON-LD canonicalisation), so didkit never loads those context URLs; use string contexts only.
- A malformed EIP-712 `proofValue` makes didkit's Rust code panic (index out of bounds), so it is
  checked here first.
- didkit's Python binding (pyo3-asyncio + tokio) can abort or segfault the interpreter at exit if the
  process ends right after a didkit call (a worker thread releases the GIL while Python finalises).
  This module registers an exit hook that waits a moment after a recent call.
"""

from __future__ import annotations

import atexit
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import didkit
from eth_utils import is_checksum_address, to_checksum_address

EIP712_PROOF_TYPE = "EthereumEip712Signature2021"
PKH_EIP155_FRAGMENT = "blockchainAccountId"  # the only verification method of a did:pkh:eip155 doc (didkit)
_PKH_EIP155 = re.compile(r"^did:pkh:eip155:(?P<chain>[1-9][0-9]{0,31}):(?P<address>0x[0-9a-fA-F]{40})$")
_EIP712_PROOF_VALUE = re.compile(r"^0x[0-9a-fA-F]{130}$")  # r || s || v, 65 bytes


@dataclass(frozen=True)
class Verdict:
    """The outcome of one verification: `ok` only if there are no errors."""

    ok: bool
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    proof_type: str | None = None  # the proof's type; several joined by "," if the credential has several
    issuer: str | None = None
    checks: list[str] = field(default_factory=list)  # what didkit checked (e.g. ["proof"])

    def __bool__(self) -> bool:
        return self.ok


# --------------------------------------------------------------------------------------------------
# helpers


def proof_created_timestamp(when: datetime | None = None) -> str:
    """A `proof.created` value that ACA-Py accepts and didkit round-trips (`YYYY-MM-DDTHH:MM:SSZ`).

    Pass it as `options.created` when asking ACA-Py to issue (`/vc/credentials/issue` or the `ld_proof`
    options of issue-credential v2), otherwise didkit cannot verify the credential (see module doc)."""
    when = (when or datetime.now(UTC)).astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _didkit_rendering(value: str) -> str | None:
    """How didkit 0.3.3 (chrono, `SecondsFormat::AutoSi`, `Z`) writes back a proof timestamp."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except (TypeError, ValueError):
        return None
    text = parsed.strftime("%Y-%m-%dT%H:%M:%S")
    if parsed.microsecond:
        text += f".{parsed.microsecond // 1000:03d}" if parsed.microsecond % 1000 == 0 else f".{parsed.microsecond:06d}"
    return text + "Z"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _proofs(credential: dict) -> list[dict]:
    proof = credential.get("proof")
    if isinstance(proof, dict):
        return [proof]
    if isinstance(proof, list):
        return [p for p in proof if isinstance(p, dict)]
    return []


def _issuer_id(credential: dict) -> str | None:
    issuer = credential.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def _check_dates(credential: dict, now: datetime) -> list[str]:
    """Validity period (didkit 0.3.3 checks neither)."""
    errors = []
    for name in ("issuanceDate", "validFrom"):
        if name in credential:
            start = _parse_time(credential[name])
            if start is None:
                errors.append(f"{name} {credential[name]!r} is not an ISO 8601 date-time")
            elif start > now:
                errors.append(f"not valid yet: {name} {credential[name]} is in the future")
    for name in ("expirationDate", "validUntil"):
        if name in credential:
            end = _parse_time(credential[name])
            if end is None:
                errors.append(f"{name} {credential[name]!r} is not an ISO 8601 date-time")
            elif end <= now:
                errors.append(f"expired: {name} {credential[name]} has passed")
    return errors


_last_call_done = 0.0
_exit_hook_lock = threading.Lock()
_exit_hook_registered = False


def _settle_at_exit() -> None:
    # Runs before interpreter finalisation; sleeping releases the GIL so didkit's tokio worker that
    # just delivered a result can finish releasing its thread state (else: abort/segfault at exit).
    remaining = 0.2 - (time.monotonic() - _last_call_done)
    if remaining > 0:
        time.sleep(remaining)


def _note_didkit_call() -> None:
    global _last_call_done, _exit_hook_registered
    _last_call_done = time.monotonic()
    if not _exit_hook_registered:
        with _exit_hook_lock:
            if not _exit_hook_registered:
                atexit.register(_settle_at_exit)
                _exit_hook_registered = True


async def await_didkit(call, *args):
    """Await one didkit coroutine (they need a running loop when called), then arm the exit hook."""
    try:
        return await call(*args)
    finally:
        _note_didkit_call()


async def _didkit_verify(credential: dict, proof_purpose: str) -> tuple[list[str], list[str], list[str]]:
    """(checks, warnings, errors) from didkit.verify_credential; exceptions become errors."""
    try:
        options = json.dumps({"proofPurpose": proof_purpose})
        raw = await await_didkit(didkit.verify_credential, json.dumps(credential), options)
        result = json.loads(raw)
    except Exception as exc:  # noqa: BLE001 - DIDKitException, or a Rust panic as a bare Exception
        return [], [], [f"didkit could not verify the credential: {type(exc).__name__}: {exc}"]
    return list(result.get("checks", [])), list(result.get("warnings", [])), list(result.get("errors", []))


def _hints(credential: dict, errors: list[str]) -> list[str]:
    """Explain didkit errors whose cause is not obvious from the message."""
    hints = []
    text = " ".join(errors)
    if "Verification equation was not satisfied" in text:
        for proof in _proofs(credential):
            created = proof.get("created")
            if isinstance(created, str) and _didkit_rendering(created) not in (None, created):
                hints.append(
                    f"proof.created is {created!r}; didkit 0.3.3 re-serialises it as {_didkit_rendering(created)!r} "
                    "before checking, so the signed bytes differ and even an untampered credential fails. "
                    "Issue with options.created in that form (interop.proof_created_timestamp())."
                )
    if "Unknown context" in text:
        hints.append(
            "didkit only loads the JSON-LD contexts it ships (no network): "
            "put custom terms in an inline @context object"
        )
    if "Key expansion failed" in text:
        hints.append("a property or type is not defined by any @context (didkit refuses undefined terms)")
    return hints


# --------------------------------------------------------------------------------------------------
# verification


async def verify_with_didkit(
    credential: dict, *, proof_purpose: str = "assertionMethod", now: datetime | None = None
) -> Verdict:
    """Verify a W3C credential (any proof suite didkit 0.3.3 supports) with didkit, offline.

    Checks the proof(s) with didkit and the validity period here (didkit does not)."""
    if not isinstance(credential, dict):
        return Verdict(ok=False, errors=["a credential must be a JSON object"])
    proofs = _proofs(credential)
    proof_type = ",".join(str(p.get("type")) for p in proofs) or None
    issuer = _issuer_id(credential)
    errors: list[str] = []  # not worth (or, for a bad proofValue, not safe) handing to didkit
    if not proofs:
        errors.append("the credential has no proof")
    if issuer is None:
        errors.append("the credential has no issuer")
    for proof in proofs:
        if proof.get("type") == EIP712_PROOF_TYPE:
            errors.extend(_eip712_proof_value_errors(proof))
    date_errors = _check_dates(credential, now or datetime.now(UTC))
    if errors:
        return Verdict(ok=False, errors=errors + date_errors, proof_type=proof_type, issuer=issuer)
    errors = date_errors
    checks, warnings, didkit_errors = await _didkit_verify(credential, proof_purpose)
    errors.extend(didkit_errors)
    errors.extend(_hints(credential, didkit_errors))
    if not errors and "proof" not in checks:
        errors.append("didkit did not check any proof")
    return Verdict(ok=not errors, errors=errors, warnings=warnings, proof_type=proof_type, issuer=issuer, checks=checks)


def _eip712_proof_value_errors(proof: dict) -> list[str]:
    value = proof.get("proofValue")
    if not isinstance(value, str) or not _EIP712_PROOF_VALUE.match(value):
        return [f"{EIP712_PROOF_TYPE} proofValue must be 0x and 65 bytes of hex (r, s, v), got {value!r:.80}"]
    return []


def parse_pkh_eip155(did: str) -> tuple[int, str] | None:
    """(chain id, address) of `did:pkh:eip155:<chain>:<address>`, or None."""
    match = _PKH_EIP155.match(did or "")
    if not match:
        return None
    return int(match["chain"]), match["address"]


async def verify_eip712_credential(
    credential: dict, *, expected_issuer_chain_id: int | None = None, now: datetime | None = None
) -> Verdict:
    """Verify a credential signed with an Ethereum key (EthereumEip712Signature2021, did:pkh:eip155 issuer).

    Refused, each with its reason: not exactly one proof or not that type; an issuer that is not
    did:pkh:eip155 (or a bad EIP-55 checksum); an issuer on another chain than expected; a
    verificationMethod not the issuer's own (`<issuer>#blockchainAccountId`); a proof purpose other
    than assertionMethod; a malformed proofValue; expired / not yet valid; a signature that didkit
    rejects (the message names the address that did sign)."""
    if not isinstance(credential, dict):
        return Verdict(ok=False, errors=["a credential must be a JSON object"])
    proofs = _proofs(credential)
    proof_type = ",".join(str(p.get("type")) for p in proofs) or None
    issuer = _issuer_id(credential)
    errors: list[str] = []

    if len(proofs) != 1:
        errors.append(f"expected exactly one proof, found {len(proofs)}")
    elif proofs[0].get("type") != EIP712_PROOF_TYPE:
        errors.append(f"proof type is {proofs[0].get('type')!r}, expected {EIP712_PROOF_TYPE}")

    parsed = parse_pkh_eip155(issuer) if issuer else None
    if issuer is None:
        errors.append("the credential has no issuer")
    elif parsed is None:
        errors.append(f"issuer {issuer!r} is not a did:pkh:eip155:<chain id>:<0x address> DID")
    else:
        chain_id, address = parsed
        if address != address.lower() and address[2:] != address[2:].upper() and not is_checksum_address(address):
            expected = to_checksum_address(address)
            errors.append(f"issuer address {address} has a wrong EIP-55 checksum (expected {expected})")
        if expected_issuer_chain_id is not None and chain_id != expected_issuer_chain_id:
            errors.append(f"issuer is on chain {chain_id}, expected chain {expected_issuer_chain_id}")

    if len(proofs) == 1 and issuer is not None:
        proof = proofs[0]
        vm = proof.get("verificationMethod")
        vm_did, _, fragment = vm.partition("#") if isinstance(vm, str) else ("", "", "")
        if vm_did != issuer:
            errors.append(f"proof verificationMethod {vm!r} is not the issuer's ({issuer})")
        elif fragment != PKH_EIP155_FRAGMENT:
            errors.append(f"proof verificationMethod {vm!r} should be {issuer}#{PKH_EIP155_FRAGMENT}")
        if proof.get("proofPurpose") != "assertionMethod":
            errors.append(f"proofPurpose is {proof.get('proofPurpose')!r}, expected 'assertionMethod'")
        if proof.get("type") == EIP712_PROOF_TYPE:
            errors.extend(_eip712_proof_value_errors(proof))

    if errors:  # structural: the signature is not worth checking (and a bad proofValue panics didkit)
        errors.extend(_check_dates(credential, now or datetime.now(UTC)))
        return Verdict(ok=False, errors=errors, proof_type=proof_type, issuer=issuer)
    return await verify_with_didkit(credential, now=now)
