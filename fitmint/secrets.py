"""Secret files: one generator, one file format and one permission rule for every secret the platform keeps
outside git (database password, token signing keys, agent API and wallet keys, the attestor's and the operator's
private keys).

A secret file holds 64 hex digits (32 random bytes), mode 0600 from its first byte; a key a user puts
there may carry a `0x` prefix and a trailing newline. The first process that needs a missing secret
generates it; a concurrent one reads the same file (O_EXCL). Shell scripts use the command line:
`python -m fitmint.secrets FILE` prints the secret of FILE, generating it if missing.

The permission rule (PostgreSQL's for its TLS key, checked before every read and by every process at
start-up, which refuses to start on a file that breaks it):
- no permission at all for other users (the `o` bits): never;
- a file owned by the process's own user: 0600 or stricter (its group may be a shared one, `users`);
- a file owned by another user may lend read access to a group: 0640 or stricter. That is how Kubernetes
  hands a pod its Secret volume (0440, owned by root, group fsGroup), and how a secrets agent running as
  its own user does it.
"""

import os
import secrets
import stat
import sys
from collections.abc import Iterable
from pathlib import Path


class ExposedSecretFile(PermissionError):
    """A secret file other users can read (or change): names the file, what is wrong and the fix."""


def exposure_of(path, mode: int, owner: int, reader: int) -> str | None:
    """The rule: why a secret file of `mode` owned by uid `owner` is too open for a process running as uid
    `reader` (with the fix), or None. (tests/deploy/test_chart.py applies it to the chart's Secret volumes.)"""
    if owner == reader:
        if mode & 0o077:
            return (f"the secret file {path} is open to {'every local user' if mode & 0o007 else 'its group'} "
                    f"(mode {mode:04o}): run `chmod 600 {path}`")
    elif mode & 0o037:
        return (f"the secret file {path} (owned by uid {owner}) is open to "
                f"{'every local user' if mode & 0o007 else 'its group for writing'} (mode {mode:04o}): "
                f"its owner runs `chmod 640 {path}` (group read at most) or `chmod 600 {path}`")
    return None


def exposure(path: Path) -> str | None:
    """Why the secret file `path` is too open for this process (with the fix), or None."""
    info = Path(path).stat()  # follows symlinks: Kubernetes' Secret files are links into ..data/
    return exposure_of(path, stat.S_IMODE(info.st_mode), info.st_uid, os.geteuid())


def check_private(path: Path) -> None:
    """Raises ExposedSecretFile when `path` breaks the permission rule."""
    if (problem := exposure(path)) is not None:
        raise ExposedSecretFile(problem)


def check_private_files(paths: Iterable[Path]) -> None:
    """Every existing file of `paths` keeps the rule (a missing one is generated 0600, or its reader says it
    is missing); else one ExposedSecretFile naming each file that does not."""
    problems = [problem for path in paths if Path(path).exists() and (problem := exposure(path)) is not None]
    if problems:
        raise ExposedSecretFile("; ".join(problems))


def refuse_to_start_if_exposed(process: str, paths: Iterable[Path]) -> None:
    """A process's start-up check: exits (status 2) with the files and their fix when a secret is exposed."""
    try:
        check_private_files(paths)
    except ExposedSecretFile as exc:
        print(f"{process}: refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def read(path: Path) -> str:
    """The secret in `path` (stripped), after checking its permissions; the file must exist."""
    path = Path(path)
    check_private(path)
    value = path.read_text().strip()
    if not value:
        raise ValueError(f"the secret file {path} is empty: write the secret there")
    return value


def write(path: Path, value: str) -> None:
    """Writes a secret file, mode 0600 from its first byte (an existing file is replaced)."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    os.replace(partial, path)


def read_or_generate(path: Path) -> str:
    """The secret in `path` as 64 hex digits (no 0x), generated there on first use."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    check_private(path)
    value = path.read_text().strip().removeprefix("0x")
    if not value:
        raise ValueError(f"the secret file {path} is empty: delete it to generate a new one, or write the secret")
    return value


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m fitmint.secrets FILE  (prints the secret in FILE, generated if missing)",
              file=sys.stderr)
        return 2
    try:
        print(read_or_generate(Path(argv[0])), end="")
    except ExposedSecretFile as exc:
        print(f"fitmint.secrets: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
