"""The API's settings: environment variables with dev defaults; secrets from files outside git."""

import os
import secrets
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

    # Sign-In with Ethereum: what a message must name to be accepted here.
    siwe_domain: str = "localhost:8000"
    siwe_uri: str = "http://localhost:8000"
    chain_id: int = 31337
    siwe_nonce_ttl_seconds: int = 300

    # Requests per window and caller IP on the sign-in endpoints.
    rate_limit_auth: int = 30
    rate_limit_auth_window_seconds: int = 60

    jwt_secret_file: Path | None = None  # default: <state>/secrets/jwt-secret (generated on first use)
    jwt_algorithm: str = "HS256"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600

    def postgres_password(self) -> str:
        path = self.postgres_password_file or self.fitmint_state_dir / "secrets" / "postgres-password"
        return path.read_text().strip()

    def jwt_secret(self) -> str:
        path = self.jwt_secret_file or self.fitmint_state_dir / "secrets" / "jwt-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:  # O_EXCL: if another process just created it, read theirs; 0600 from the first byte
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_hex(32))
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
