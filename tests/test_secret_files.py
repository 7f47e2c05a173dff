"""Secret files are private (fitmint/secrets.py): generated and written 0600; a file another local user can
read is refused before it is read, and every process refuses to start on one, naming the file and the fix."""

import os
import subprocess
import sys

import pytest

from fitmint import secrets
from tests.support.paths import ROOT

OTHER_USER = 65534  # nobody: stands for the owner of a file lent to this process (root, in Kubernetes)


def test_generated_and_written_secrets_are_0600_and_read_back(tmp_path):
    generated = secrets.read_or_generate(tmp_path / "secrets" / "acapy-admin-key")
    assert len(generated) == 64 and (tmp_path / "secrets" / "acapy-admin-key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "secrets").stat().st_mode & 0o777 == 0o700
    secrets.write(tmp_path / "written.key", "0xabc\n")
    assert (tmp_path / "written.key").stat().st_mode & 0o777 == 0o600
    assert secrets.read(tmp_path / "written.key") == "0xabc"
    assert secrets.read_or_generate(tmp_path / "written.key") == "abc"


@pytest.mark.parametrize("mode, allowed", [(0o600, True), (0o400, True), (0o640, False), (0o660, False),
                                           (0o644, False), (0o604, False), (0o602, False)])
def test_a_file_of_the_process_own_user_must_be_0600_or_stricter(tmp_path, mode, allowed):
    path = tmp_path / "attestor.key"
    secrets.write(path, "ab" * 32)
    path.chmod(mode)
    if allowed:
        assert secrets.read_or_generate(path) == "ab" * 32
        return
    for read in (secrets.read, secrets.read_or_generate):
        with pytest.raises(secrets.ExposedSecretFile) as refused:
            read(path)
        who = "every local user" if mode & 0o007 else "its group"
        assert str(refused.value) == (f"the secret file {path} is open to {who} (mode {mode:04o}): "
                                      f"run `chmod 600 {path}`")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user takes root")
@pytest.mark.parametrize("mode, allowed", [(0o440, True), (0o640, True), (0o400, True), (0o444, False),
                                           (0o460, False), (0o644, False)])
def test_another_users_file_may_lend_read_access_to_a_group_only(tmp_path, mode, allowed):
    """Kubernetes' Secret volume: 0440, owned by root, group fsGroup, read by a non-root process. Reached
    through a symlink, as the volume's files are (links into ..data/)."""
    target = tmp_path / "..data" / "attestor.key"
    secrets.write(target, "cd" * 32)
    os.chown(target, OTHER_USER, os.getegid())
    target.chmod(mode)
    link = tmp_path / "attestor.key"
    link.symlink_to(target)
    if allowed:
        assert secrets.read(link) == "cd" * 32
    else:
        with pytest.raises(secrets.ExposedSecretFile, match=f"owned by uid {OTHER_USER}.*chmod 640 {link}"):
            secrets.read(link)


def test_the_shell_reader_refuses_too(tmp_path):
    path = tmp_path / "postgres-password"
    secrets.write(path, "ef" * 32)
    path.chmod(0o644)
    done = subprocess.run([sys.executable, "-m", "fitmint.secrets", str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and f"run `chmod 600 {path}`" in done.stderr and done.stdout == ""


# Each process, as the stack starts it, with one secret it reads exposed: it exits at once, status 2, naming the
# file and the fix. The API is given an exposed attestor key, which it reads only at the first voucher: the
# start-up check finds it anyway.
PROCESSES = {
    "api": (["-m", "uvicorn", "--factory", "backend.app.main:serve", "--port", "0"], "FITMINT_ATTESTOR_KEY_FILE"),
    "worker": (["-m", "backend.app.worker"], "JWT_KEYS_DIR"),  # a key ring with one exposed key
    "indexer": (["-m", "indexer", "run"], "POSTGRES_PASSWORD_FILE"),
    "analytics": (["-m", "analytics", "run"], "POSTGRES_PASSWORD_FILE"),
}


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_a_process_refuses_to_start_on_an_exposed_secret_file(tmp_path, process):
    argv, variable = PROCESSES[process]
    exposed = tmp_path / ("jwt-keys/ed25519-1" if variable == "JWT_KEYS_DIR" else "exposed-secret")
    exposed.parent.mkdir(exist_ok=True)
    exposed.write_text("01" * 32)
    exposed.chmod(0o644)
    env = {**os.environ, "FITMINT_STATE_DIR": str(tmp_path / "state"), "OTEL_SDK_DISABLED": "true",
           variable: str(exposed.parent if variable == "JWT_KEYS_DIR" else exposed), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert (f"{process}: refusing to start: the secret file {exposed} is open to every local user (mode 0644): "
            f"run `chmod 600 {exposed}`") in done.stderr, done.stderr[-2000:]
