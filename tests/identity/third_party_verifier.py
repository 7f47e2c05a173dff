"""A verifier that is not the platform: what anyone holding one of our credentials can do with didkit 0.3.3
and the published status list, and nothing of ours (no import from this repository; the tests run it as a
separate process). It reads a credential (JSON) on stdin and prints its verdict as JSON:

1. didkit verifies the credential's proof (didkit 0.3.3 does not check a BitstringStatusListEntry itself:
   asked to, it answers "unknown variant `BitstringStatusListEntry`");
2. GET `credentialStatus.statusListCredential` (plain HTTP from loopback is allowed here; didkit's own
   status check would insist on https);
3. didkit verifies the status list credential's proof; its issuer must be the credential's issuer, its id
   the URL fetched, its type BitstringStatusListCredential and its statusPurpose the entry's;
4. the bit: encodedList is multibase base64url (`u`) of the GZIP-compressed bitstring, at least 131,072
   bits; bit `statusListIndex`, counted from the left-most bit of the first byte, set = revoked.
"""

import asyncio
import base64
import gzip
import json
import sys
import time
import urllib.request

import didkit

MIN_BITS = 131_072


async def didkit_errors(document: dict) -> list[str]:
    result = json.loads(await didkit.verify_credential(json.dumps(document), json.dumps({"proofPurpose":
                                                                                          "assertionMethod"})))
    if "proof" not in result.get("checks", []) and not result.get("errors"):
        return ["didkit checked no proof"]
    return result.get("errors", [])


def issuer_of(document: dict):
    issuer = document.get("issuer")
    return issuer.get("id") if isinstance(issuer, dict) else issuer


def bit_at(encoded: str, index: int) -> bool:
    if not encoded.startswith("u"):
        raise ValueError("encodedList is not multibase base64url")
    bits = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    if len(bits) * 8 < MIN_BITS:
        raise ValueError(f"the list has {len(bits) * 8} bits, fewer than {MIN_BITS}")
    if not 0 <= index < len(bits) * 8:
        raise ValueError(f"index {index} is outside the list")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


async def verify(credential: dict) -> dict:
    verdict = {"proof": False, "status_list_proof": None, "revoked": None, "errors": [], "timings_ms": {}}
    started = time.perf_counter()
    verdict["errors"] += [f"credential: {e}" for e in await didkit_errors(credential)]
    verdict["proof"] = not verdict["errors"]
    verdict["timings_ms"]["credential proof"] = round((time.perf_counter() - started) * 1000, 1)
    entry = credential.get("credentialStatus")
    if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
        verdict["errors"].append("no BitstringStatusListEntry in credentialStatus")
        return verdict
    url = entry["statusListCredential"]
    started = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=10) as r:
        status_list = json.loads(r.read())
    verdict["timings_ms"]["fetch list"] = round((time.perf_counter() - started) * 1000, 1)
    started = time.perf_counter()
    list_errors = [f"status list: {e}" for e in await didkit_errors(status_list)]
    verdict["timings_ms"]["list proof"] = round((time.perf_counter() - started) * 1000, 1)
    verdict["status_list_proof"] = not list_errors
    subject = status_list.get("credentialSubject") or {}
    if issuer_of(status_list) != issuer_of(credential):
        list_errors.append(f"status list issued by {issuer_of(status_list)}, not the credential's issuer")
    if status_list.get("id") != url:
        list_errors.append(f"status list id {status_list.get('id')} is not its URL {url}")
    if "BitstringStatusListCredential" not in (status_list.get("type") or []):
        list_errors.append("status list is not a BitstringStatusListCredential")
    if subject.get("statusPurpose") != entry.get("statusPurpose"):
        list_errors.append(f"status list purpose {subject.get('statusPurpose')} is not {entry.get('statusPurpose')}")
    verdict["errors"] += list_errors
    if not list_errors:  # a bit of an unverified list means nothing
        try:
            verdict["revoked"] = bit_at(subject["encodedList"], int(entry["statusListIndex"]))
        except (KeyError, ValueError, OSError) as exc:
            verdict["errors"].append(f"status list: {exc}")
    if verdict["revoked"]:
        verdict["errors"].append("revoked")
    return verdict


if __name__ == "__main__":
    print(json.dumps(asyncio.run(verify(json.load(sys.stdin)))))
    time.sleep(0.3)  # didkit's runtime must settle before the interpreter exits (see agent/controller/interop.py)
