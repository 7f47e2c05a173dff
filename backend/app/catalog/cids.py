"""CIDs of the catalog's content, computed and checked locally.

Everything the catalog pins fits one IPFS chunk (1 MiB), and the stack's Kubo adds with CIDv1 and raw
leaves, so a CID is "b" + base32(0x01 0x55 0x12 0x20 || sha256(bytes)): CIDv1, raw codec, sha2-256
multihash, multibase base32 lowercase without padding (what `multiformats` computes too). Only that
form is accepted: any other CID cannot name catalog content.
"""

import base64
import binascii
import hashlib
import re

_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])  # CIDv1, raw, sha2-256, 32-byte digest
PATTERN = r"^bafkrei[a-z2-7]{52}$"  # for path/query parameters and model fields
_SHAPE = re.compile(PATTERN)


class InvalidCid(ValueError):
    """Not a CIDv1 raw sha2-256 base32 CID."""


def compute(data: bytes) -> str:
    """The CID of `data` as one raw block."""
    return compute_from_digest(hashlib.sha256(data).digest())


def digest(cid: str) -> bytes:
    """The sha2-256 digest a CID names; InvalidCid with the reason otherwise."""
    if not isinstance(cid, str) or not _SHAPE.match(cid):
        raise InvalidCid(f"{cid!r} is not a CIDv1 raw sha2-256 base32 CID (bafkrei..., 59 characters)")
    body = cid[1:].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except binascii.Error as exc:
        raise InvalidCid(f"{cid!r} is not valid base32: {exc}") from exc
    if len(raw) != 36 or raw[:4] != _PREFIX or compute_from_digest(raw[4:]) != cid:
        raise InvalidCid(f"{cid!r} is not a canonical CIDv1 raw sha2-256 CID")
    return raw[4:]


def compute_from_digest(sha256_digest: bytes) -> str:
    return "b" + base64.b32encode(_PREFIX + sha256_digest).decode().lower().rstrip("=")


def matches(cid: str, data: bytes) -> bool:
    """Whether `data` is the content `cid` names."""
    return hashlib.sha256(data).digest() == digest(cid)
