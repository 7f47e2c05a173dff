"""The API's settings: environment variables with dev defaults; secrets from files outside git."""

import os
import secrets
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[3]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    fitmint_state_dir: Path = ROOT / ".state"
    redis_host: str = "127.0.0.1"
    redis_port: int = 56379
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 55432
    postgres_user: str = "fitmint"
    postgres_password_file: Path | None = None  # default: <state>/secrets/postgres-password
    indexer_database: str = "fitmint_indexer"  # wallet reads come from the indexer's tables
    backend_database: str = "fitmint_backend"  # users, fitness, vouchers, the API's outbox
    kafka_port: int = 59092
    kafka_bootstrap: str | None = None  # default: 127.0.0.1:<kafka_port>
    kafka_topic_prefix: str = ""  # tests publish to their own topics
    relay_enabled: bool = True  # publish the API's outbox to Kafka (one replica at a time: advisory lock)
    fitmint_rpc_url: str = "http://127.0.0.1:8545"
    manifest: Path | None = None  # default: <state>/deployments/<chain id>.json

    # Tenancy: sign-in names a tenant; this one is created on start so a fresh stack has one.
    default_tenant: str = "fitmint"

    # Sign-In with Ethereum: what a message must name to be accepted here.
    siwe_domain: str = "localhost:8000"
    siwe_uri: str = "http://localhost:8000"
    chain_id: int = 31337
    siwe_nonce_ttl_seconds: int = 300

    # Requests per window and caller IP on the sign-in endpoints.
    rate_limit_auth: int = 30
    rate_limit_auth_window_seconds: int = 60

    # Requests per window and signed-in account on every authenticated endpoint.
    rate_limit_account: int = 600
    rate_limit_account_window_seconds: int = 60
    max_body_bytes: int = 64 * 1024

    # Rewards: vouchers are signed with the attestor key (a file outside git, generated for dev).
    fitmint_attestor_key_file: Path | None = None  # same variable as `ape run deploy`; default: <state>/secrets/attestor.key
    voucher_ttl_seconds: int = 24 * 3600
    user_cache_ttl_seconds: int = 300

    # Catalog: product documents and images pinned on the stack's Kubo node; listed on-chain by the
    # operator key (a file outside git, generated for dev and granted its roles by `ape run deploy`).
    ipfs_api_port: int = 55001
    ipfs_api_url: str | None = None  # default: http://127.0.0.1:<ipfs_api_port>
    fitmint_operator_key_file: Path | None = None  # same variable as `ape run deploy` (FITMINT_OPERATOR_KEY_FILE); default: <state>/secrets/operator.key
    metadata_cache_ttl_seconds: int = 3600
    max_image_bytes: int = 1024 * 1024  # one IPFS chunk: an image's CID is verifiable locally

    # Notifications: the worker's Kafka consumer groups, SMTP for email, the SMS provider, schedules.
    notifications_consumer_group: str = "fitmint-notifications"  # chain/API events -> notifications
    deliveries_consumer_group: str = "fitmint-deliveries"  # NotificationQueued -> deliveries, live pushes
    email_consumer_group: str = "fitmint-email"  # EmailBatchReady -> SMTP
    notifications_batch_size: int = 500  # Kafka records applied per PostgreSQL transaction
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 58025
    smtp_username: str | None = None
    smtp_password_file: Path | None = None
    smtp_starttls: bool = False
    mail_from: str = "fitmint <no-reply@fitmint.localhost>"
    sms_provider: str = "log"  # log: a JSON-lines sink file (the dev/test provider)
    sms_sink_file: Path | None = None  # default: <state>/sms/outbox.jsonl
    email_batch_size: int = 100  # email deliveries per EmailBatchReady (one SMTP session each)
    # A delivery claimed ('sending') longer than this was left by a worker that died mid-send: it is
    # reported failed, not resent (at most once). Must exceed the time one message takes to send.
    delivery_stale_after_seconds: float = 300.0
    scheduler_enabled: bool = True
    worker_metrics_port: int = 0  # the worker's Prometheus endpoint (make up: 59465); 0: none
    worker_metrics_host: str = "127.0.0.1"
    ws_auth_timeout_seconds: float = 5.0

    # Identity: the ACA-Py agent's admin API (the key also authenticates its webhooks to us), exchange
    # deadlines and the reconciler (run by the worker under an advisory lock).
    acapy_admin_url: str = "http://127.0.0.1:58021"
    acapy_admin_key_file: Path | None = None  # default: <state>/secrets/acapy-admin-key
    acapy_timeout_seconds: float = 10.0
    identity_invitation_ttl_seconds: int = 3600      # an invitation not accepted by then: failed
    identity_exchange_timeout_seconds: int = 60      # an offer/request not answered by then: re-sent once, then failed
    identity_exchange_attempts: int = 2
    identity_reconcile_interval_seconds: float = 5.0
    identity_reconciler_enabled: bool = True

    # The platform's clock for what depends on the date and time of day (anti-cheat days, reward days
    # and deadlines, scheduled jobs): the wall clock shifted by this many seconds. Tests pin the time of
    # day with it (make test runs the time-sensitive suites at 00:05, 11:00 and 23:55 UTC).
    clock_offset_seconds: float = 0.0

    jwt_secret_file: Path | None = None  # default: <state>/secrets/jwt-secret (generated on first use)
    jwt_algorithm: str = "HS256"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600

    def now(self) -> datetime:
        """The platform's current time (UTC, aware): see `clock_offset_seconds`."""
        return datetime.now(timezone.utc) + timedelta(seconds=self.clock_offset_seconds)

    def postgres_password(self) -> str:
        path = self.postgres_password_file or self.fitmint_state_dir / "secrets" / "postgres-password"
        return path.read_text().strip()

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def ipfs_url(self) -> str:
        return self.ipfs_api_url or f"http://127.0.0.1:{self.ipfs_api_port}"

    def sms_sink(self) -> Path:
        return self.sms_sink_file or self.fitmint_state_dir / "sms" / "outbox.jsonl"

    def operator_key(self) -> str:
        """The catalog operator's private key (0x-hex): lists items and sets their metadata on-chain."""
        return "0x" + _generated_secret(self.fitmint_operator_key_file or
                                        self.fitmint_state_dir / "secrets" / "operator.key")

    def manifest_path(self) -> Path:
        return self.manifest or self.fitmint_state_dir / "deployments" / f"{self.chain_id}.json"

    def jwt_secret(self) -> str:
        return _generated_secret(self.jwt_secret_file or self.fitmint_state_dir / "secrets" / "jwt-secret")

    def acapy_admin_key(self) -> str | None:
        """The agent's admin API key (written by `scripts/stack/stack.sh secrets`); None when absent."""
        path = self.acapy_admin_key_file or self.fitmint_state_dir / "secrets" / "acapy-admin-key"
        try:
            return path.read_text().strip() or None
        except OSError:
            return None

    def attestor_key(self) -> str:
        """The attestor's private key (0x-hex). The deploy script grants this key's address ATTESTOR_ROLE."""
        return "0x" + _generated_secret(self.fitmint_attestor_key_file or self.fitmint_state_dir / "secrets" / "attestor.key")


@lru_cache
def get_settings() -> Settings:
    return Settings()


def _generated_secret(path: Path) -> str:
    """32 random bytes as hex, generated into `path` (0600) on first use; dev default, never in git."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: if another process just created it, read theirs; 0600 from the first byte
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return path.read_text().strip().removeprefix("0x")
