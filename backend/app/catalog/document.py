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


# The traits that say what a product is for: the recommender matches these tags with members' activities.
TAG_TRAITS = frozenset({"activity", "sport", "category", "kind", "type"})
MAX_TAGS = 8


def product_tags(attributes: list[dict]) -> list[str]:
    """The product's tags: the text values of its TAG_TRAITS traits, lower-case, in order, distinct."""
    tags: list[str] = []
    for attribute in attributes:
        value = attribute.get("value")
        if str(attribute.get("trait_type", "")).lower() in TAG_TRAITS and isinstance(value, str):
            tag = value.strip().lower()
            if tag and tag not in tags:
                tags.append(tag)
    return tags[:MAX_TAGS]
