"""A product version as the ERC-1155 metadata document pinned on IPFS, and its canonical bytes.

The bytes are canonical (sorted keys, no whitespace, UTF-8, no escaping of non-ASCII), so the same
product version always has the same CID and anyone can recompute it from the JSON."""

import json

from backend.app.catalog.models import ProductIn, fit_text


def metadata_document(*, product_id: str, item_id: int, version: int, body: ProductIn) -> dict:
    """ERC-1155 metadata JSON (name, description, image, properties) plus OpenSea-style `attributes`."""
    attributes = [attribute.model_dump() for attribute in body.attributes]
    images = [f"ipfs://{cid}" for cid in body.images]
    return {
        "name": body.name,
        "description": body.description,
        "image": images[0],
        "attributes": attributes,
        "properties": {
            "product_id": product_id,
            "item_id": str(item_id),
            "version": version,
            "images": images,
            "price": {"fit": fit_text(body.price_fit), "wei": str(body.price_fit)},
            "supply": body.supply,
            "attributes": attributes,
        },
    }


def canonical_bytes(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def image_cids(document: dict) -> list[str]:
    return [uri.removeprefix("ipfs://") for uri in document["properties"]["images"]]
