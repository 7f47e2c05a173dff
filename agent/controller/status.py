"""Credential status the world can check: W3C Bitstring Status List (https://www.w3.org/TR/vc-bitstring-status-list/).

Every credential we issue carries a `BitstringStatusListEntry` naming a bit of a list credential
(`BitstringStatusListCredential`) that the API publishes (GET /identity/status/<list>),
signed by our issuer DID through the agent (`/vc/credentials/issue`). A set bit = revoked.

- Where: a list's URL is fixed when it opens (`<IDENTITY_STATUS_BASE_URL>/identity/status/<id>`, kept in its
  row): the credentials name it, the list credential's id is it, whoever signs.
- Allocation: each credential gets a uniformly random free index of the newest list that is less than
  three quarters full (the spec's privacy advice: an index must not tell when a credential was issued,
  nor which credentials were issued together); a new list when all are that full. The index is committed
  (`status_list_entries`, primary key (list, index)) before the agent signs the credential, so no crash
  or race hands one bit to two credentials.
- The bits are not stored: bit i of list l is set iff the credential allocated (l, i) has `revoked_at`.
  Revoking bumps the list's `revision` in the same transaction; `publish` reads the revision and the
  revoked indexes in one snapshot, signs, and stores the credential only over an older one. A list
  left behind (agent down during the revocation) is re-signed by the reconciler's next pass.
"""

import base64
import gzip
import json
import logging
import secrets
import time

import asyncpg

from agent.controller import documents
from agent.controller.acapy import AcaPy
from backend.app.core.config import Settings
from backend.app.core.db import from_jsonb

log = logging.getLogger("identity.status")

LIST_SIZE = 131_072  # bits: the spec's minimum (16 KiB), for group privacy
FILL = 3 / 4  # a list takes new credentials until this share of its bits is allocated
DRAWS = 64  # random draws before giving up (at 3/4 full, 64 misses in a row: p = 1e-8)
PURPOSE = "revocation"
ALLOCATION_LOCK = 0x666D7374  # pg_advisory_xact_lock key: "status list allocation"


class ListFull(Exception):
    """No free index found (cannot happen below FILL, short of a broken random source)."""


def encode_list(bits: bytes) -> str:
    """The spec's encodedList: multibase base64url (prefix `u`, no padding) of the GZIP-compressed bits."""
    return "u" + base64.urlsafe_b64encode(gzip.compress(bits, mtime=0)).decode().rstrip("=")


def decode_list(encoded: str) -> bytes:
    if not encoded.startswith("u"):
        raise ValueError("encodedList is not multibase base64url (no 'u' prefix)")
    data = encoded[1:]
    return gzip.decompress(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))


def bitstring(size: int, indexes) -> bytes:
    """`size` bits with `indexes` set; index 0 is the left-most bit (the first byte's most significant)."""
    bits = bytearray(size // 8)
    for index in indexes:
        bits[index // 8] |= 0x80 >> (index % 8)
    return bytes(bits)


def bit(bits: bytes, index: int) -> bool:
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


class StatusLists:
    def __init__(self, pool: asyncpg.Pool, acapy: AcaPy, settings: Settings):
        self.pool, self.acapy, self.settings = pool, acapy, settings

    async def allocate(self, credential_id: str) -> tuple[int, dict]:
        """A fresh random index for `credential_id`, committed; returns its list and `credentialStatus` entry."""
        async with self.pool.acquire() as db, db.transaction():
            # Allocations serialise (one short transaction each): two must not both find no open list and
            # open one each, nor draw against the same counts.
            await db.execute("SELECT pg_advisory_xact_lock($1)", ALLOCATION_LOCK)
            row = await db.fetchrow(
                "SELECT list_id, url, size, capacity, allocated FROM status_lists WHERE purpose = $1 "
                "AND allocated < capacity ORDER BY list_id DESC LIMIT 1", PURPOSE)
            if row is None:
                row = await db.fetchrow(
                    "WITH id AS (SELECT nextval(pg_get_serial_sequence('status_lists', 'list_id')) AS list_id) "
                    "INSERT INTO status_lists (list_id, url, purpose, size, capacity) "
                    "SELECT list_id, $1 || '/' || list_id, $2, $3, $4 FROM id "
                    "RETURNING list_id, url, size, capacity, allocated",
                    self.settings.identity_status_url(), PURPOSE, LIST_SIZE, int(LIST_SIZE * FILL))
                log.info("new status list %d (%d bits)", row["list_id"], row["size"])
            for _ in range(DRAWS):
                index = secrets.randbelow(row["size"])
                if await db.fetchval(
                        "INSERT INTO status_list_entries (list_id, status_index, credential_id) VALUES ($1, $2, $3) "
                        "ON CONFLICT (list_id, status_index) DO NOTHING RETURNING true",
                        row["list_id"], index, credential_id):
                    break
            else:
                raise ListFull(f"no free index in status list {row['list_id']} after {DRAWS} draws")
            await db.execute("UPDATE status_lists SET allocated = allocated + 1 WHERE list_id = $1", row["list_id"])
        return row["list_id"], documents.status_entry(row["url"], index, PURPOSE)

    async def revoked_at(self, url: str, index: int):
        """(whether `url` is one of our lists, when the credential holding bit `index` was revoked)."""
        row = await self.pool.fetchrow(
            "SELECT l.list_id, c.revoked_at FROM status_lists l LEFT JOIN status_list_entries e "
            "ON e.list_id = l.list_id AND e.status_index = $2 LEFT JOIN issued_credentials c USING (credential_id) "
            "WHERE l.url = $1", url, index)
        return (False, None) if row is None else (True, row["revoked_at"])

    async def published(self, list_id: int):
        """(signed credential, signed revision, signed at) of a list, or None if it was never signed."""
        row = await self.pool.fetchrow("SELECT credential, signed_revision, signed_at FROM status_lists "
                                       "WHERE list_id = $1 AND credential IS NOT NULL", list_id)
        return None if row is None else (from_jsonb(row["credential"]), row["signed_revision"], row["signed_at"])

    async def publish(self, list_id: int) -> bool:
        """Signs the list as it is now if the stored one is older; True if a new one was stored."""
        async with self.pool.acquire() as db, db.transaction(isolation="repeatable_read", readonly=True):
            row = await db.fetchrow("SELECT url, size, revision, signed_revision FROM status_lists "
                                    "WHERE list_id = $1", list_id)
            if row is None or row["signed_revision"] >= row["revision"]:
                return False
            issuer = await db.fetchval("SELECT did FROM identity_issuer")
            revoked = await db.fetch(
                "SELECT e.status_index FROM status_list_entries e JOIN issued_credentials c USING (credential_id) "
                "WHERE e.list_id = $1 AND c.revoked_at IS NOT NULL", list_id)
        started = time.perf_counter()
        unsigned = documents.status_list_credential(
            issuer, row["url"], encode_list(bitstring(row["size"], (r["status_index"] for r in revoked))),
            ttl_ms=self.settings.identity_status_max_age_seconds * 1000, purpose=PURPOSE)
        signed = await self.acapy.sign_credential(unsigned, proof_type=documents.PROOF_TYPE)
        stored = await self.pool.fetchval(
            "UPDATE status_lists SET credential = $2::jsonb, signed_revision = $3, signed_at = now() "
            "WHERE list_id = $1 AND signed_revision < $3 RETURNING true", list_id, json.dumps(signed), row["revision"])
        log.info("status list %d revision %d signed in %.0f ms (%d revoked)%s", list_id, row["revision"],
                 (time.perf_counter() - started) * 1000, len(revoked), "" if stored else "; a newer one was stored")
        return bool(stored)

    async def publish_stale(self) -> int:
        """Re-signs every list whose signed revision is behind (the reconciler's pass); how many."""
        stale = await self.pool.fetch("SELECT list_id FROM status_lists WHERE signed_revision < revision")
        return sum([await self.publish(r["list_id"]) for r in stale])
