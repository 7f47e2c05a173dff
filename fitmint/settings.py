"""What every fitmint process reads the same way: where the state is, how to reach PostgreSQL, Kafka and
the chain, the deployment manifest, and the secret files. Each component's settings extend
`KernelSettings`; the defaults come from `fitmint/defaults.env`, which the shell scripts export too."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from fitmint import secrets

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = Path(__file__).with_name("defaults.env")


def _read_defaults(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


DEFAULTS = _read_defaults(DEFAULTS_FILE)


def default(key: str) -> str:
    return DEFAULTS[key]


class StateSettings(BaseSettings):
    """Where this clone's state is: the deployment manifest and the secret files. All a script that only
    deploys or signs needs (scripts/deploy.py); every process's settings extend it."""
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    fitmint_state_dir: Path = ROOT / ".state"
    chain_id: int = int(default("CHAIN_ID"))
    manifest: Path | None = None  # default: <state>/deployments/<chain id>.json

    @property
    def secrets_dir(self) -> Path:
        return self.fitmint_state_dir / "secrets"

    def secret_file(self, name: str, file: Path | None = None) -> Path:
        """`file`, or else <state>/secrets/<name>."""
        return file or self.secrets_dir / name

    def secret(self, name: str, file: Path | None = None) -> str:
        """The secret in `secret_file(name, file)`, generated there on first use."""
        return secrets.read_or_generate(self.secret_file(name, file))

    def secret_files(self) -> list[Path]:
        """Every secret file this process reads (each settings class adds its own): checked at start-up."""
        return []

    def refuse_exposed_secrets(self, process: str) -> None:
        """Start-up: exits with the file and the fix when a secret file breaks the permission rule
        (fitmint/secrets.py: 0600, or 0640 when another user, e.g. root in Kubernetes, owns it)."""
        secrets.refuse_to_start_if_exposed(process, self.secret_files())

    def manifest_path(self, chain_id: int | None = None) -> Path:
        """Where `ape run deploy` wrote (and every reader finds) the deployment manifest of the chain."""
        return self.manifest or self.fitmint_state_dir / "deployments" / f"{chain_id or self.chain_id}.json"


class KernelSettings(StateSettings):
    """What the indexer, the API and the worker all read: PostgreSQL, Kafka, the chain node, the clock."""
    fitmint_rpc_url: str = f"http://{default('ANVIL_HOST')}:{default('ANVIL_PORT')}"

    postgres_host: str = "127.0.0.1"
    postgres_port: int = int(default("POSTGRES_PORT"))
    postgres_user: str = default("POSTGRES_USER")
    postgres_password_file: Path | None = None  # default: <state>/secrets/postgres-password
    indexer_database: str = default("INDEXER_DATABASE")
    analytics_database: str = default("ANALYTICS_DATABASE")  # the event store and its projections (analytics/)

    kafka_port: int = int(default("KAFKA_PORT"))
    kafka_bootstrap: str | None = None  # default: 127.0.0.1:<kafka_port>
    kafka_topic_prefix: str = ""  # tests publish to their own topics

    # The platform's clock for what depends on the date and time of day (anti-cheat days, reward days
    # and deadlines, scheduled jobs): the wall clock shifted by this many seconds. Tests pin the time of
    # day with it (make test runs the time-sensitive suites at 00:05, 11:00 and 23:55 UTC).
    clock_offset_seconds: float = 0.0

    def now(self) -> datetime:
        """The platform's current time (UTC, aware): see `clock_offset_seconds`."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_seconds)

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    def secret_files(self) -> list[Path]:
        return [*super().secret_files(), self.secret_file("postgres-password", self.postgres_password_file)]

    def postgres_password(self) -> str:
        return secrets.read(self.secret_file("postgres-password", self.postgres_password_file))

    def postgres(self, database: str | None = None) -> dict:
        """asyncpg's connection arguments for `database` (without one: the server, e.g. to create one)."""
        arguments = {"host": self.postgres_host, "port": self.postgres_port, "user": self.postgres_user,
                     "password": self.postgres_password()}
        return arguments if database is None else {**arguments, "database": database}
