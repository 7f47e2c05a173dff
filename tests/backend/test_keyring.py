"""The signing key ring's life cycle on a clock of the test's own: which key signs, which verify, when a key
retires, and what `rotate` deletes."""

from backend.app.auth.keyring import KeyRing

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
