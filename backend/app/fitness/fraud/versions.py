"""Model versions in PostgreSQL (`fraud_models`, migration 0015): every trained version is kept with its
metrics and training description; at most one is active, and every API replica scores with that one.

The artifact is the ensemble's arrays (`Ensemble.to_bytes`, an .npz: loading it runs no code), checked
against its stored SHA-256 before use.
"""

import hashlib
from dataclasses import dataclass

import asyncpg
import orjson

from backend.app.core.db import from_jsonb
from backend.app.fitness.fraud.ensemble import Ensemble, FraudModel
from backend.app.fitness.fraud.features import FEATURES


class UnknownVersion(Exception):
    pass


class UnusableArtifact(Exception):
    """The stored artifact does not match its digest, or is not an ensemble."""


@dataclass(frozen=True)
class StoredModel:
    version: int
    active: bool
    model: FraudModel


def _digest(artifact: bytes) -> str:
    return hashlib.sha256(artifact).hexdigest()


async def save(connection: asyncpg.Connection, model: FraudModel, *, activate: bool, decision: str) -> int:
    """Stores a version (in the caller's transaction) and, if `activate`, makes it the active one."""
    artifact = model.ensemble.to_bytes()
    version = await connection.fetchval(
        "INSERT INTO fraud_models (trained_at, features, threshold, metrics, training, artifact, artifact_sha256, "
        "decision) VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8) RETURNING version",
        model.trained_at, list(model.features), model.threshold, _json(model.metrics), _json(model.training),
        artifact, _digest(artifact), decision)
    if activate:
        await activate_version(connection, version)
    return version


async def activate_version(connection: asyncpg.Connection, version: int) -> None:
    """Makes `version` the active one (the API replicas pick it up at their next check)."""
    async with connection.transaction():
        if not await connection.fetchval("SELECT true FROM fraud_models WHERE version = $1 FOR UPDATE", version):
            raise UnknownVersion(f"no model version {version}")
        await connection.execute("UPDATE fraud_models SET active = false WHERE active AND version <> $1", version)
        await connection.execute(
            "UPDATE fraud_models SET active = true, activated_at = now() WHERE version = $1 AND NOT active", version)


async def active_version(executor) -> int | None:
    return await executor.fetchval("SELECT version FROM fraud_models WHERE active")


async def load(executor, version: int) -> StoredModel:
    row = await executor.fetchrow("SELECT * FROM fraud_models WHERE version = $1", version)
    if row is None:
        raise UnknownVersion(f"no model version {version}")
    artifact = bytes(row["artifact"])
    if _digest(artifact) != row["artifact_sha256"]:
        raise UnusableArtifact(f"model version {version}: the artifact does not match its SHA-256")
    try:
        ensemble = Ensemble.from_bytes(artifact)
    except (ValueError, OSError) as exc:
        raise UnusableArtifact(f"model version {version}: {exc}") from exc
    model = FraudModel(ensemble=ensemble, threshold=row["threshold"], metrics=from_jsonb(row["metrics"]),
                       training=from_jsonb(row["training"]), trained_at=row["trained_at"],
                       features=tuple(row["features"]))
    return StoredModel(row["version"], row["active"], model)


async def load_active(executor) -> StoredModel | None:
    version = await active_version(executor)
    return None if version is None else await load(executor, version)


def check_usable(stored: StoredModel) -> None:
    """UnusableArtifact unless the version scores the features this code computes."""
    if stored.model.features != FEATURES:
        raise UnusableArtifact(f"model version {stored.version} was trained on other features than this code "
                               f"computes (python -m backend.app.fitness.fraud train makes one that is not)")


async def usable_active(executor) -> StoredModel | None:
    """The active version, if there is one this process can score with."""
    try:
        stored = await load_active(executor)
        if stored is not None:
            check_usable(stored)
        return stored
    except UnusableArtifact:
        return None


async def listing(executor) -> list[dict]:
    """Every version, newest first: what an operator compares before activating one."""
    rows = await executor.fetch(
        "SELECT version, trained_at, active, activated_at, threshold, decision, metrics, training "
        "FROM fraud_models ORDER BY version DESC")
    return [dict(row) | {"metrics": from_jsonb(row["metrics"]), "training": from_jsonb(row["training"])}
            for row in rows]


def _json(value: dict) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
