"""The recommendation service's settings: the kernel's (PostgreSQL, the analytics database) and the
feature store's (Feast's registry, the Redis online store, the materialisation schedule)."""

from pathlib import Path

from fitmint.settings import KernelSettings, default


class RecommendSettings(KernelSettings):
    redis_host: str = "127.0.0.1"
    redis_port: int = int(default("REDIS_PORT"))
    recommend_redis_db: int = int(default("RECOMMEND_REDIS_DB"))  # the online store's Redis database
    recommend_host: str = "127.0.0.1"  # where the service listens (loopback: only the API asks it)
    recommend_port: int = int(default("RECOMMEND_PORT"))
    # Feast's project: its registry entries and the prefix of its Redis keys (tests use their own).
    feast_project: str = "fitmint"
    feast_registry: Path | None = None  # default: <state>/feast/registry.db
    # The scheduled incremental materialisation: a backstop, the follower keeps the online store fresh.
    materialize_interval_seconds: float = 900.0
    freshness_poll_seconds: float = 1.0  # the freshness follower's poll of the analytics store
    recommend_model_dir: Path | None = None  # default: <state>/recommend
    retrain_interval_seconds: float = 24 * 3600.0  # the product model's retraining (and at once without one)

    @property
    def registry_path(self) -> Path:
        return self.feast_registry or self.fitmint_state_dir / "feast" / "registry.db"

    @property
    def model_dir(self) -> Path:
        return self.recommend_model_dir or self.fitmint_state_dir / "recommend"

    def psycopg_conninfo(self, database: str | None = None) -> str:
        """libpq's connection string for `database` (default: the analytics store)."""
        from psycopg.conninfo import make_conninfo  # here: Compose's check imports these settings without psycopg

        return make_conninfo(host=self.postgres_host, port=self.postgres_port, user=self.postgres_user,
                             password=self.postgres_password(), dbname=database or self.analytics_database)
