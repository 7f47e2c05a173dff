"""The product model's versions on disk and the one in memory.

Training writes each version to `<model dir>/products/<version>/` (ProductModel.save: arrays and JSON, never
a pickle), then points `<model dir>/products/CURRENT` at it with an atomic rename: a reader sees the old
version or the new one, never half of one. The last KEEP versions are kept (to go back: write an older name
into CURRENT). The service reloads when CURRENT changes.

`rank` is what a request calls: the model's ranking of the candidates, or, before any model exists, the
items' popularity (recent orders) blended with how well their tags fit the member's activities.
"""

import logging
import os
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from recommend.products import Item, ProductModel, Scored

log = logging.getLogger("recommend")
KEEP = 5


@dataclass(frozen=True)
class Loaded:
    version: str
    model: ProductModel


def versions_dir(model_dir: Path) -> Path:
    return model_dir / "products"


def publish(model_dir: Path, version: str, model: ProductModel) -> Path:
    """Write `model` as `version` and make it the current one; drop the oldest beyond KEEP."""
    root = versions_dir(model_dir)
    target = root / version
    staging = root / f".{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    pointer = root / ".CURRENT.partial"
    pointer.write_text(version + "\n")
    os.replace(pointer, root / "CURRENT")
    for old in sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: p.stat().st_mtime)[:-KEEP]:
        if old.name != version:
            shutil.rmtree(old, ignore_errors=True)
    return target


def current_version(model_dir: Path) -> str | None:
    try:
        return (versions_dir(model_dir) / "CURRENT").read_text().strip() or None
    except FileNotFoundError:
        return None


class Current:
    """The current version in memory; `refresh` loads a newly published one (a broken one is logged and
    the loaded one kept)."""

    def __init__(self, model_dir: Path):
        self.model_dir = model_dir
        self._loaded: Loaded | None = None
        self._lock = threading.Lock()
        self.refresh()

    def get(self) -> Loaded | None:
        return self._loaded

    def refresh(self) -> bool:
        version = current_version(self.model_dir)
        if version is None or (self._loaded and self._loaded.version == version):
            return False
        with self._lock:
            try:
                self._loaded = Loaded(version, ProductModel.load(versions_dir(self.model_dir) / version))
            except Exception:
                log.exception("product model %s could not be loaded", version)
                return False
        log.info("product model %s loaded", version)
        return True


def item_of(item_id: str, row: Mapping) -> Item:
    """An `item_stats` online row as the model's Item."""
    return Item(item_id=item_id, tenant_id=row["tenant_id"], tags=tuple(row.get("tags") or ()),
                unit_price=float(row.get("unit_price") or 0.0), listed_at=float(row.get("listed_at") or 0))


def rank(loaded: Loaded | None, member_id: str, *, tenant_id: str, limit: int, exclude: set[str],
         items: Mapping[str, Item], recent_items: Sequence[str], activity_mix: Mapping[str, float],
         now: float, popularity: Mapping[str, float] | None = None) -> list[Scored]:
    """The best `limit` of `items` (the candidates) for the member."""
    candidates = {i for i, item in items.items() if item.tenant_id == tenant_id and i not in exclude}
    if loaded is not None:
        return loaded.model.recommend(member_id, tenant_id=tenant_id, k=limit, exclude=exclude,
                                      candidates=candidates, recent_items=list(recent_items),
                                      activity_mix=dict(activity_mix), items=items, now=now)
    popularity = popularity or {}

    def fit(item: Item) -> float:
        return sum(activity_mix.get(tag, 0.0) for tag in item.tags)

    ordered = sorted(candidates, key=lambda i: (-(popularity.get(i, 0.0) + 5 * fit(items[i])), i))[:limit]
    return [Scored(i, popularity.get(i, 0.0) + 5 * fit(items[i]),
                   "matches your activities" if fit(items[i]) > 0 else "popular in your community")
            for i in ordered]
