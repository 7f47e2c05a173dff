"""Dev secrets: one generator and one file format for every secret the platform keeps outside git
(database password, JWT key, agent API and wallet keys, the attestor's and the operator's private keys).

A secret file holds 64 hex digits (32 random bytes), mode 0600 from its first byte; a key a user puts
there may carry a `0x` prefix and a trailing newline. The first process that needs a missing secret
generates it; a concurrent one reads the same file (O_EXCL). Shell scripts use the command line:
`python -m fitmint.secrets FILE` prints the secret of FILE, generating it if missing.
"""

import os
import secrets
import sys
from pathlib import Path


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
    value = path.read_text().strip().removeprefix("0x")
    if not value:
        raise ValueError(f"the secret file {path} is empty: delete it to generate a new one, or write the secret")
    return value


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m fitmint.secrets FILE  (prints the secret in FILE, generated if missing)",
              file=sys.stderr)
        return 2
    print(read_or_generate(Path(argv[0])), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
