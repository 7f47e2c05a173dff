"""The indexer's settings: environment variables (as exported by scripts/toolchain/env.sh), with the
same defaults as the stack."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    fitmint_state_dir: Path = ROOT / ".state"
    fitmint_rpc_url: str = "http://127.0.0.1:8545"
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 55432
    postgres_user: str = "fitmint"
    postgres_password: str | None = None
    postgres_password_file: Path | None = None  # default: <state>/secrets/postgres-password
    indexer_database: str = "fitmint_indexer"
    kafka_port: int = 59092
    kafka_bootstrap: str | None = None  # default: 127.0.0.1:<kafka_port>
    kafka_topic_prefix: str = ""  # tests publish to their own topics

    manifest: Path | None = None  # default: <state>/deployments/<chain id>.json
    rpc_timeout_seconds: float = 10.0  # a node that does not answer in time counts as down (retried)
    reorg_depth: int = 64
    poll_interval: float = 0.05
    initial_range: int = 100
    max_range: int = 100_000
    target_logs_per_range: int = 40_000
    relay_batch: int = 5_000
    indexer_metrics_port: int = 0  # Prometheus endpoint; 0: none
    indexer_metrics_host: str = "127.0.0.1"

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    def password(self) -> str:
        if self.postgres_password:
            return self.postgres_password
        path = self.postgres_password_file or self.fitmint_state_dir / "secrets" / "postgres-password"
        return path.read_text().strip()

    def manifest_path(self, chain_id: int) -> Path:
        return self.manifest or self.fitmint_state_dir / "deployments" / f"{chain_id}.json"
