"""The signing key ring's life cycle on a clock of the test's own: which key signs, which verify, when a key
retires, and what `rotate` deletes."""

import subprocess
import sys

import pytest

from backend.app.auth import keyring
from backend.app.auth.keyring import KeyRing
from fitmint import secrets
from tests.support.api import api_settings
from tests.support.processes import ROOT, settings_env

TTL, PUBLISH = 900, 600


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def ring_at(tmp_path, clock) -> KeyRing:
    return KeyRing(tmp_path / "jwt-keys", token_ttl_seconds=TTL, publish_seconds=PUBLISH, reload_seconds=0,
                   clock=clock)


def test_a_rotated_key_is_published_first_signs_later_and_retires_its_predecessor(tmp_path):
    clock = Clock(1_000_000)
    ring = ring_at(tmp_path, clock)
    ring.ensure()
    (first,) = ring.keys()
    assert ring.signing() == first and ring.verifying() == [first]

    clock.now += 50
    second, deleted = ring.rotate()
    assert deleted == [] and second.signs_from == clock.now + PUBLISH
    assert ring.signing() == first and ring.verifying() == [first, second]  # published, not signing yet
    assert [k["kid"] for k in ring.jwks()["keys"]] == [first.kid, second.kid]

    clock.now = second.signs_from
    assert ring.signing() == second and ring.verifying() == [first, second]  # first's tokens still live
    clock.now = second.signs_from + TTL - 1
    assert ring.verifier(first.kid) == first
    clock.now = second.signs_from + TTL  # every token first signed has expired
    assert ring.verifying() == [second] and ring.verifier(first.kid) is None

    third, deleted = ring.rotate()
    assert deleted == [first.name] and not (ring.directory / first.name).exists()
    assert [k.name for k in ring.keys()] == [second.name, third.name]


def test_every_process_reading_the_folder_agrees(tmp_path):
    clock = Clock(2_000_000)
    one, other = ring_at(tmp_path, clock), ring_at(tmp_path, clock)
    one.ensure()
    other.ensure()  # the folder has a key: no second one
    assert len(one.keys()) == 1 and one.signing().kid == other.signing().kid
    new, _ = one.rotate()
    clock.now = new.signs_from
    assert other.signing().kid == new.kid and [k.kid for k in other.verifying()] == [k.kid for k in one.verifying()]


def test_files_that_are_not_keys_are_ignored(tmp_path):
    clock = Clock(3_000_000)
    ring = ring_at(tmp_path, clock)
    ring.ensure()
    (ring.directory / "..data").mkdir()  # what a Kubernetes Secret volume holds beside the keys
    (ring.directory / "README").write_text("not a key")
    ring.reload()
    assert len(ring.keys()) == 1


def test_a_key_file_deleted_while_the_ring_is_read_is_skipped(tmp_path, monkeypatch):
    """`rotate` deleting a retired key (or kubelet swapping a Secret's files) between the listing and the
    reading: the ring is what is left, not an error on every request."""
    clock = Clock(4_000_000)
    ring = ring_at(tmp_path, clock)
    ring.ensure()
    clock.now += 10
    new, _ = ring.rotate()
    listed = keyring.key_files(ring.directory)

    def listing_then_deleted(directory):
        (directory / listed[0].name).unlink(missing_ok=True)  # gone after it was listed
        return listed

    monkeypatch.setattr(keyring, "key_files", listing_then_deleted)
    ring.reload()
    assert ring.keys() == [new]


def test_a_failed_re_read_keeps_the_ring_read_before(tmp_path):
    clock = Clock(5_000_000)
    ring = ring_at(tmp_path, clock)
    ring.ensure()
    (first,) = ring.keys()
    secrets.write(ring.directory / f"ed25519-{int(clock.now) + 1}", "not hex")  # half-edited by hand
    ring.reload()
    assert ring.keys() == [first] and ring.signing() == first
    fresh = ring_at(tmp_path, clock)  # a process starting now has nothing to keep: it refuses
    with pytest.raises(ValueError):
        fresh.keys()


def test_an_unknown_kid_re_reads_the_ring_once_before_it_is_refused(tmp_path):
    """Another replica made a key this one has not re-read yet (both created a first key, in different
    seconds; or after a leak the next key signs at once): its tokens verify at once, not after reload_seconds.
    Unknown kids re-read at most every UNKNOWN_KID_RELOAD_SECONDS: forged ones cannot make each request read
    the folder."""
    clock = Clock(6_000_000)
    here = KeyRing(tmp_path / "jwt-keys", token_ttl_seconds=TTL, publish_seconds=PUBLISH, reload_seconds=3600,
                   clock=clock)
    here.ensure()
    assert len(here.keys()) == 1
    clock.now += 1
    there = ring_at(tmp_path, clock)
    there._add(int(clock.now))  # the other replica's first key, a second later: it signs at once there
    theirs = there.signing()
    assert theirs not in here.keys()  # not re-read yet (reload_seconds)
    assert here.verifier(theirs.kid) == theirs
    clock.now += 1
    there._add(int(clock.now))
    assert here.verifier(there.signing().kid) is None  # within UNKNOWN_KID_RELOAD_SECONDS: no re-read


def test_an_api_that_cannot_create_the_first_key_refuses_to_start_naming_the_setting(stack, tmp_path):
    """An empty ring on a read-only mount (the chart's Secret without a key): exit 2 with what to do, not a
    traceback."""
    blocker = tmp_path / "read-only"
    blocker.write_text("a file: nothing can be created under it")
    settings = api_settings(stack, tmp_path, "unused", jwt_keys_dir=blocker / "jwt-keys")
    started = subprocess.run([sys.executable, "-m", "uvicorn", "--factory", "backend.app.main:serve", "--host",
                              "127.0.0.1", "--port", "0"],  # as the chart, Compose and the stack start it
                             cwd=ROOT, env=settings_env(settings), capture_output=True, text=True, timeout=60)
    assert started.returncode == 2, started.stderr
    assert "api: refusing to start: no token signing key in" in started.stderr
    assert "JWT_KEYS_DIR" in started.stderr and "secrets.jwtKeys" in started.stderr
    assert "rotate-jwt-key" in started.stderr and "Traceback" not in started.stderr
