"""The access tokens' signing keys: a ring of Ed25519 keys, one secret file each, in one directory
(`Settings.jwt_keys_path()`, default <state>/secrets/jwt-keys; in Kubernetes a Secret volume).

A key file is a fitmint secret file (fitmint/secrets.py: 64 hex digits, mode 0600): the key's 32-byte seed.
Its name says when it starts signing: `ed25519-<unix seconds>`. Everything else follows from the names
and the clock, so every replica (and the worker) reading the same directory agrees without talking:
- the newest key whose time has come signs;
- a key whose time has not come yet is already published (JWKS) and verifies: `rotate` adds keys
  `publish_seconds` ahead, so caches and other replicas know a key before any token carries it;
- an older key verifies until its successor has signed for one access-token lifetime (every token it
  signed has expired by then), then it is retired: refused, left out of the JWKS, deleted by `rotate`.
The `kid` of a key is its RFC 7638 thumbprint.
"""

import logging
import os
import re
import secrets as pysecrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc.jwk import OKPKey

from fitmint import secrets

KEY_FILE = re.compile(r"ed25519-(\d{1,12})")
# At most this often a token naming a key the ring does not know makes the ring re-read before it is refused:
# a key another replica has just created or that started signing at once (after a leak), not yet re-read here.
UNKNOWN_KID_RELOAD_SECONDS = 1.0

log = logging.getLogger("api.keyring")


class NoSigningKey(RuntimeError):
    """The ring is empty and no first key can be written there (a read-only Secret volume, typically)."""


@dataclass(frozen=True)
class RingKey:
    name: str
    signs_from: int  # unix seconds
    private: Ed25519PrivateKey = field(compare=False, repr=False)  # the same key read again is the same key
    kid: str = ""

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    def jwk(self) -> dict:
        return OKPKey.import_key(self.public).as_dict(private=False) | {"kid": self.kid, "alg": "EdDSA",
                                                                        "use": "sig"}


def _load(path: Path, signs_from: int) -> RingKey:
    seed = bytes.fromhex(secrets.read(path).removeprefix("0x"))
    if len(seed) != 32:
        raise ValueError(f"the signing key file {path} must hold 64 hex digits (an Ed25519 seed)")
    private = Ed25519PrivateKey.from_private_bytes(seed)
    return RingKey(path.name, signs_from, private, OKPKey.import_key(private.public_key()).thumbprint())


def key_files(directory: Path) -> list[Path]:
    """The ring's key files (other files, e.g. Kubernetes' ..data links, are not keys)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if KEY_FILE.fullmatch(p.name) and p.is_file())


class KeyRing:
    def __init__(self, directory: Path, *, token_ttl_seconds: int, publish_seconds: int,
                 reload_seconds: float = 30.0, clock=time.time):
        self.directory = Path(directory)
        self.token_ttl = token_ttl_seconds
        self.publish_seconds = publish_seconds
        self.reload_seconds = reload_seconds
        self.clock = clock
        self._keys: list[RingKey] = []
        self._loaded_at = float("-inf")
        self._unknown_kid_reload_at = float("-inf")

    @classmethod
    def from_settings(cls, settings) -> "KeyRing":
        return cls(settings.jwt_keys_path(), token_ttl_seconds=settings.access_token_ttl_seconds,
                   publish_seconds=settings.jwt_key_publish_seconds, reload_seconds=settings.jwt_keys_reload_seconds)

    # -- reading ---------------------------------------------------------------------------------------
    def keys(self) -> list[RingKey]:
        """The ring, oldest first; re-read from the directory at most every `reload_seconds`."""
        if time.monotonic() - self._loaded_at >= self.reload_seconds or not self._keys:
            self.reload()
        return self._keys

    def reload(self) -> None:
        """Re-reads the folder. Once a ring was read, a re-read that fails (an unreadable or malformed file, an
        emptied folder) keeps the ring read before, and is retried after `reload_seconds`."""
        try:
            keys = self._read()
        except (OSError, ValueError) as exc:
            if not self._keys:
                raise
            log.warning("the signing keys in %s were not re-read (%s): keeping the %d keys read before",
                        self.directory, exc, len(self._keys))
        else:
            self._keys = keys
        self._loaded_at = time.monotonic()

    def _read(self) -> list[RingKey]:
        keys = []
        for path in key_files(self.directory):
            try:
                keys.append(_load(path, int(KEY_FILE.fullmatch(path.name)[1])))
            except FileNotFoundError:
                continue  # deleted since it was listed: `rotate` removing a retired key, kubelet swapping files
        if not keys:
            raise FileNotFoundError(f"no signing key in {self.directory}: run `python -m backend.app.manage "
                                    "rotate-jwt-key` (or start the API once, which creates the first key)")
        return sorted(keys, key=lambda k: (k.signs_from, k.kid))

    def signing(self) -> RingKey:
        """The newest key whose time has come (a ring of only future keys: the earliest of them)."""
        now, keys = self.clock(), self.keys()
        active = [k for k in keys if k.signs_from <= now]
        return active[-1] if active else keys[0]

    def verifying(self) -> list[RingKey]:
        """The keys a token may carry now: the signing key, the published future ones, and older ones
        whose successor has not yet signed for a whole token lifetime."""
        now = self.clock()
        return [k for k in self.keys() if not self._retired(k, now)]

    def _retired(self, key: RingKey, now: float) -> bool:
        successors = [k.signs_from for k in self._keys if k.signs_from > key.signs_from and k.signs_from <= now]
        return bool(successors) and now >= min(successors) + self.token_ttl

    def verifier(self, kid: str) -> RingKey | None:
        """The verifying key `kid`; an unknown one first re-reads the ring (at most every
        UNKNOWN_KID_RELOAD_SECONDS, so forged kids cannot make every request read the folder)."""
        found = next((k for k in self.verifying() if k.kid == kid), None)
        if found is None and time.monotonic() - self._unknown_kid_reload_at >= UNKNOWN_KID_RELOAD_SECONDS:
            self._unknown_kid_reload_at = time.monotonic()
            self.reload()
            found = next((k for k in self.verifying() if k.kid == kid), None)
        return found

    def jwks(self) -> dict:
        return {"keys": [k.jwk() for k in self.verifying()]}

    # -- changing (operator command; the API's first start) ----------------------------------------------
    def ensure(self) -> None:
        """Creates the first key (signing at once) when the directory has none; NoSigningKey if it cannot."""
        if key_files(self.directory):
            return
        try:
            self._add(int(self.clock()))
        except OSError as exc:
            raise NoSigningKey(
                f"no token signing key in {self.directory} (JWT_KEYS_DIR), and the first one cannot be created "
                f"there ({exc.strerror or exc}). Create it with `JWT_KEYS_DIR=ring python -m backend.app.manage "
                "rotate-jwt-key` on an empty folder `ring` and make that folder the key ring (Kubernetes: "
                "`kubectl create secret generic fitmint-jwt-keys --from-file=ring`, the chart's "
                "secrets.jwtKeys; README: Security model, Tokens, \"Rotate the signing key\"), or point "
                "JWT_KEYS_DIR at a writable folder") from exc

    def rotate(self) -> tuple[RingKey, list[str]]:
        """Publishes a new key that signs from `publish_seconds` on, and deletes the retired keys' files.
        Returns the new key and the deleted files' names. An empty ring gets its first key, signing at once.
        Reads the folder strictly (no earlier ring to keep): the operator sees any problem with it."""
        if not key_files(self.directory):
            self.ensure()
            self._keys = self._read()
            return self._keys[0], []
        self._keys = self._read()
        retired = [k for k in self._keys if self._retired(k, self.clock())]
        for key in retired:
            (self.directory / key.name).unlink(missing_ok=True)
        path = self._add(int(self.clock()) + self.publish_seconds)
        self._keys = self._read()
        return next(k for k in self._keys if k.name == path.name), [k.name for k in retired]

    def _add(self, signs_from: int) -> Path:
        path = self.directory / f"ed25519-{signs_from}"
        while path.exists():  # two rotations within a second: the later one signs a second later
            signs_from += 1
            path = self.directory / f"ed25519-{signs_from}"
        # Whole or absent, never half-written, for the processes re-reading the folder meanwhile; and exclusive:
        # of two processes making the first key in the same second, one writes it, the other uses it.
        partial = self.directory / f".{path.name}.{os.getpid()}.tmp"
        secrets.write(partial, pysecrets.token_hex(32))
        try:
            os.link(partial, path)
        except FileExistsError:
            pass
        finally:
            partial.unlink()
        return path
