"""The catalog through HTTP against the stack's real Kubo, PostgreSQL and Redis: images and product
versions pinned under CIDs recomputed here (with `multiformats`, independently of the API's own code),
history, search, metadata verified and cached, and every refusal with its reason."""

import asyncio
import hashlib
import json
import os
import struct
import uuid
import zlib
from pathlib import Path

import asyncpg
import httpx
import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from multiformats import CID, multihash
from redis import Redis
from web3 import Web3

from backend.app.catalog.service import product_for_item
from backend.app.main import create_app
from fitmint import events as ev
from fitmint.chain.manifest import Manifest
from fitmint.settings import KernelSettings
from tests.support.api import db
from tests.support.processes import free_port
from tests.support.queue_worker import deployment_decoder, funded_key, queue_worker
from tests.support.roles import grant_operator_roles
from tests.support.units import FIT


def cid_of(data: bytes) -> str:
    return str(CID("base32", 1, "raw", multihash.wrap(hashlib.sha256(data).digest(), "sha2-256")))


def png(size: int = 0) -> bytes:
    """A valid 1x1 PNG of a random colour, padded with a private chunk to about `size` bytes."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    pixel = zlib.compress(b"\x00" + os.urandom(3))
    image = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
             + chunk(b"IDAT", pixel))
    if size > len(image) + 24:
        image += chunk(b"prVt", os.urandom(size - len(image) - 24))
    return image + chunk(b"IEND", b"")


@pytest.fixture
def kubo(stack):
    with httpx.Client(base_url=f"http://127.0.0.1:{stack['IPFS_API_PORT']}/api/v0", timeout=10) as http:
        yield http


@pytest.fixture
def redis(stack):
    connection = Redis(host="127.0.0.1", port=int(stack["REDIS_PORT"]))
    yield connection
    connection.close()


def upload(client, member, data: bytes | None = None, content_type: str = "image/png", **params):
    return client.post("/catalog/images", content=png() if data is None else data, params=params,
                       headers={**member.headers, "Content-Type": content_type})


def product_body(images: list[str], **fields) -> dict:
    body = {"name": "Trail Running Shoes", "description": "Light shoes with grip for muddy trails.",
            "images": images, "attributes": [{"trait_type": "size", "value": "42"},
                                             {"trait_type": "weight_g", "value": 280}],
            "price_fit": "12.5", "supply": 100}
    return body | fields


@pytest.fixture
def create(client):
    def make(member, **fields):
        image = upload(client, member)
        assert image.status_code == 201, image.text
        response = client.post("/catalog/products", json=product_body([image.json()["cid"]], **fields),
                               headers=member.headers)
        assert response.status_code == 201, response.text
        return response.json()
    return make


def test_images_and_documents_are_pinned_under_their_locally_computed_cids(client, tenants, kubo):
    admin = tenants["alpha"]["admin"]
    first, second = png(), png(size=200_000)  # the second is over the API's 64 KiB body limit: allowed here
    uploaded = [upload(client, admin, first, expected_cid=cid_of(first)), upload(client, admin, second)]
    assert [u.status_code for u in uploaded] == [201, 201], [u.text for u in uploaded]
    assert uploaded[0].json() == {"cid": cid_of(first), "size": len(first), "content_type": "image/png"}
    image_cids = [u.json()["cid"] for u in uploaded]
    assert image_cids[1] == cid_of(second)
    assert kubo.post("/cat", params={"arg": image_cids[1]}).content == second
    served = client.get(f"/catalog/images/{image_cids[1]}")
    assert served.status_code == 200 and served.content == second
    assert served.headers["content-type"] == "image/png" and "immutable" in served.headers["cache-control"]

    response = client.post("/catalog/products", json=product_body(image_cids), headers=admin.headers)
    assert response.status_code == 201, response.text
    product = response.json()
    pinned = kubo.post("/cat", params={"arg": product["cid"]}).content
    assert cid_of(pinned) == product["cid"] and product["metadata_uri"] == f"ipfs://{product['cid']}"
    assert pinned == json.dumps(json.loads(pinned), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    document = json.loads(pinned)
    assert document["name"] == "Trail Running Shoes" and document["image"] == f"ipfs://{image_cids[0]}"
    assert document["attributes"] == [{"trait_type": "size", "value": "42"}, {"trait_type": "weight_g", "value": 280}]
    assert document["properties"] | {"attributes": None} == {
        "product_id": product["id"], "item_id": str(uuid.UUID(product["id"]).int), "version": 1,
        "images": [f"ipfs://{cid}" for cid in image_cids],
        "price": {"fit": "12.5", "wei": str(12_500_000_000_000_000_000)},
        "supply": 100, "attributes": None}
    assert product["item_id"] == str(uuid.UUID(product["id"]).int)
    assert (product["tenant"], product["version"], product["status"], product["listing"]) == ("alpha", 1, "draft", None)
    assert (product["price_fit"], product["price_wei"], product["images"]) == ("12.5", str(125 * FIT // 10), image_cids)
    assert client.get(f"/catalog/products/{product['id']}").json() == product
    assert client.get(f"/catalog/items/{product['item_id']}").json() == product


def test_an_update_is_a_new_version_and_history_is_kept(client, tenants, create, kubo):
    product = create(tenants["alpha"]["admin"])
    coach = tenants["alpha"]["coach"]
    body = product_body(product["images"], price_fit=15, description="Now with a rock plate.")
    updated = client.put(f"/catalog/products/{product['id']}", json=body, headers=coach.headers)
    assert updated.status_code == 200, updated.text
    v2 = updated.json()
    assert v2["version"] == 2 and v2["cid"] != product["cid"] and v2["price_fit"] == "15"
    assert json.loads(kubo.post("/cat", params={"arg": v2["cid"]}).content)["properties"]["version"] == 2
    # The same body again changes nothing (PUT is idempotent).
    again = client.put(f"/catalog/products/{product['id']}", json=body, headers=coach.headers)
    assert again.status_code == 200 and again.json()["version"] == 2 and again.json()["cid"] == v2["cid"]

    versions = client.get(f"/catalog/products/{product['id']}/versions").json()["data"]
    assert [(v["version"], v["cid"]) for v in versions] == [(2, v2["cid"]), (1, product["cid"])]
    assert versions[1]["document"]["properties"]["price"]["fit"] == "12.5"
    old = client.get(f"/catalog/metadata/{product['cid']}")  # earlier versions stay readable
    assert old.status_code == 200 and cid_of(old.content) == product["cid"]


def test_search_by_words_tenant_and_listing(client, tenants, create):
    shoes = create(tenants["alpha"]["admin"], name="Trail Running Shoes")
    mat = create(tenants["alpha"]["coach"], name="Yoga Mat", description="Non-slip, 6 mm.")
    socks = create(tenants["beta"]["admin"], name="Running Socks", description="Merino wool.")

    def ids(**params):
        response = client.get("/catalog/products", params=params)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["data"]]

    assert ids(q="run") == [socks["id"], shoes["id"]]  # prefix match, newest first
    assert ids(q="RUNNING", tenant="alpha") == [shoes["id"]]
    assert ids(q="non-slip mat") == [mat["id"]]
    assert ids(q="merino") == [socks["id"]]  # the description is searched too
    assert ids(q="yoga socks") == [] and ids(q="!!!") == []
    assert ids(tenant="beta") == [socks["id"]] and ids(tenant="nowhere") == []
    assert ids(listed="true") == [] and len(ids(listed="false")) == 3

    seen, cursor = [], None
    while True:
        page = client.get("/catalog/products", params={"limit": 1} | ({"cursor": cursor} if cursor else {})).json()
        seen += [p["id"] for p in page["data"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == [socks["id"], mat["id"], shoes["id"]]


def test_metadata_is_verified_on_read_and_cached_in_redis(client, settings, tenants, create, kubo, redis):
    product = create(tenants["alpha"]["admin"])
    key = f"catalog:metadata:{product['cid']}"
    redis.delete(key)
    pinned = kubo.post("/cat", params={"arg": product["cid"]}).content

    first = client.get(f"/catalog/metadata/{product['cid']}")
    assert first.status_code == 200 and first.content == pinned and first.headers["x-cache"] == "miss"
    assert first.headers["content-type"] == "application/json"
    assert redis.get(key) == pinned and 0 < redis.ttl(key) <= settings.metadata_cache_ttl_seconds
    assert client.get(f"/catalog/metadata/{product['cid']}").headers["x-cache"] == "hit"

    # The cache is really used: an API whose IPFS node is unreachable still serves the cached document.
    offline = settings.model_copy(update={"ipfs_api_url": f"http://127.0.0.1:{free_port()}"})
    with TestClient(create_app(offline)) as no_kubo:
        cached = no_kubo.get(f"/catalog/metadata/{product['cid']}")
        assert cached.status_code == 200 and cached.content == pinned and cached.headers["x-cache"] == "hit"

        # A tampered cache entry is never served: that API drops it and cannot refetch it (503) ...
        redis.set(key, b'{"name":"Free FIT"}')
        refused = no_kubo.get(f"/catalog/metadata/{product['cid']}")
        assert refused.status_code == 503 and "does not answer" in refused.json()["detail"]
        assert redis.get(key) is None
    # ... this one refetches it from Kubo, verified, and caches the right bytes again.
    redis.set(key, pinned[:-1] + b" }")
    refetched = client.get(f"/catalog/metadata/{product['cid']}")
    assert refetched.status_code == 200 and refetched.content == pinned and refetched.headers["x-cache"] == "refetched"
    assert redis.get(key) == pinned


def test_invalid_products_are_refused_with_every_field(client, settings, tenants):
    admin = tenants["alpha"]["admin"]
    image = upload(client, admin).json()["cid"]
    bad = product_body([image, image], name="", price_fit="0.0000000000000000001", supply=0,
                       attributes=[{"trait_type": "x", "value": None}], extra="field")
    response = client.post("/catalog/products", json=bad, headers=admin.headers)
    assert response.status_code == 422
    fields = {tuple(error["loc"][1:2]) for error in response.json()["detail"]}
    assert {("name",), ("images",), ("price_fit",), ("supply",), ("attributes",), ("extra",)} <= fields
    assert "more than 18 decimals" in response.text

    for price, reason in (("-1", "greater than 0"), ("1e12", "maximum"), ("abc", "not a decimal")):
        refused = client.post("/catalog/products", json=product_body([image], price_fit=price), headers=admin.headers)
        assert refused.status_code == 422 and reason in refused.text, (price, refused.text)

    never_uploaded = cid_of(b"not uploaded " + os.urandom(8))
    unknown = client.post("/catalog/products", json=product_body([image, never_uploaded]), headers=admin.headers)
    assert unknown.status_code == 422 and "unknown CID" in unknown.json()["detail"]
    assert never_uploaded in unknown.json()["detail"]
    malformed = client.post("/catalog/products", json=product_body(["QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"]),
                            headers=admin.headers)
    assert malformed.status_code == 422 and malformed.json()["detail"][0]["loc"][1] == "images"
    assert db(settings, "SELECT count(*) FROM products")[0][0] == 0


def test_bad_images_are_refused_with_the_reason(client, settings, tenants):
    admin = tenants["alpha"]["admin"]
    image = png()
    wrong = upload(client, admin, image, expected_cid=cid_of(b"something else"))
    assert wrong.status_code == 422 and f"its CID is {cid_of(image)}" in wrong.json()["detail"]
    malformed = upload(client, admin, image, expected_cid="not-a-cid")
    assert malformed.status_code == 422 and "not a CIDv1" in malformed.json()["detail"]
    magic = upload(client, admin, image, content_type="image/jpeg")
    assert magic.status_code == 422 and "not a image/jpeg image" in magic.json()["detail"]
    kind = upload(client, admin, b"<svg/>", content_type="image/svg+xml")
    assert kind.status_code == 415 and "image/png" in kind.json()["detail"]
    empty = upload(client, admin, b"")
    assert empty.status_code == 422
    too_large = upload(client, admin, png(size=settings.max_image_bytes + 1))
    assert too_large.status_code == 413 and str(settings.max_image_bytes) in too_large.json()["detail"]
    # Chunked (no Content-Length): counted as it arrives.
    chunks = iter([png(size=600_000), os.urandom(600_000)])
    streamed = client.post("/catalog/images", content=chunks, headers={**admin.headers, "Content-Type": "image/png"})
    assert streamed.status_code == 413
    # Every other route keeps the API's 64 KiB limit.
    big = client.post("/catalog/products", json=product_body([cid_of(b"x")], description="x" * 70_000),
                      headers=admin.headers)
    assert big.status_code == 413
    assert db(settings, "SELECT count(*) FROM images")[0][0] == 0


def test_metadata_and_image_reads_of_unknown_or_malformed_cids(client, tenants, create):
    product = create(tenants["alpha"]["admin"])
    unknown = cid_of(b"never pinned " + os.urandom(8))
    for path in ("metadata", "images"):
        missing = client.get(f"/catalog/{path}/{unknown}")
        assert missing.status_code == 404 and unknown in missing.json()["detail"]
        for bad in ("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "bafkrei" + "!" * 52,
                    "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"):
            refused = client.get(f"/catalog/{path}/{bad}")
            assert refused.status_code == 422 and "CIDv1" in refused.json()["detail"], (path, bad, refused.text)
    # An image CID is not a metadata CID, and the other way round.
    assert client.get(f"/catalog/metadata/{product['images'][0]}").status_code == 404
    assert client.get(f"/catalog/images/{product['cid']}").status_code == 404
    assert client.get(f"/catalog/products/{uuid.uuid4()}").status_code == 404
    assert client.get(f"/catalog/items/{2**256}").status_code == 404
    assert client.get("/catalog/items/12").status_code == 404


def test_only_admins_and_coaches_of_the_tenant_write(client, tenants, create):
    user = tenants["alpha"]["user"]
    assert upload(client, user).status_code == 403
    refused = client.post("/catalog/products", json=product_body([cid_of(b"x")]), headers=user.headers)
    assert refused.status_code == 403 and "may not catalog.write" in refused.json()["detail"]
    product = create(tenants["alpha"]["coach"])
    assert client.put(f"/catalog/products/{product['id']}", json=product_body(product["images"]),
                      headers=user.headers).status_code == 403
    beta = tenants["beta"]["admin"]
    for method, url in (("PUT", f"/catalog/products/{product['id']}"),
                        ("POST", f"/catalog/products/{product['id']}/listing")):
        response = client.request(method, url, json=product_body(product["images"], name="Hijacked"),
                                  headers=beta.headers)
        assert response.status_code == 404 and response.json()["detail"] == "not found in your tenant"
    assert client.get(f"/catalog/products/{product['id']}").json()["version"] == 1


def test_listing_without_a_chain_answers_503_with_the_reason(client, tenants, create):
    product = create(tenants["alpha"]["admin"])  # this API's state folder has no deployment manifest
    response = client.post(f"/catalog/products/{product['id']}/listing", headers=tenants["alpha"]["admin"].headers)
    assert response.status_code == 503 and "no deployment manifest" in response.json()["detail"]
    assert client.get(f"/catalog/products/{product['id']}").json()["status"] == "draft"


def test_product_for_item_finds_the_product_of_an_on_chain_item(client, settings, tenants, create):
    product = create(tenants["alpha"]["admin"])

    async def lookup(item_id):
        connection = await asyncpg.connect(**settings.postgres(settings.backend_database))
        try:
            return await product_for_item(connection, item_id)
        finally:
            await connection.close()

    found = asyncio.run(lookup(int(product["item_id"])))
    assert found["product_id"] == product["id"] and found["name"] == product["name"]
    assert (found["cid"], found["version"]) == (product["cid"], 1)
    assert asyncio.run(lookup(7)) is None


def test_an_in_process_api_lists_on_the_stacks_chain_through_a_queue_worker_of_its_own(settings, stack, tenants,
                                                                                       create):
    """The API submits, a queue worker signs: here a worker of the test's own with a fresh key (no other queue
    sends from it) given the operator roles on the stack's deployment, beside this test's API and database."""
    rpc_url = stack["FITMINT_RPC_URL"]
    manifest_path = KernelSettings(fitmint_state_dir=Path(stack["FITMINT_STATE_DIR"])).manifest_path()
    manifest = Manifest.load(manifest_path)
    on_stack = settings.model_copy(update={"fitmint_rpc_url": rpc_url, "manifest": manifest_path})
    key = funded_key(rpc_url)
    operator = Account.from_key(key).address
    grant_operator_roles(rpc_url, manifest, operator)
    admin = tenants["alpha"]["admin"]
    with TestClient(create_app(on_stack)) as client, \
            queue_worker(on_stack.postgres(on_stack.backend_database), rpc_url, [key], deployment_decoder(manifest)):
        image = upload(client, admin)
        traits = [{"trait_type": "Activity", "value": "Run"}, {"trait_type": "size", "value": "42"},
                  {"trait_type": "category", "value": "shoes"}, {"trait_type": "sport", "value": "run"}]
        product = client.post("/catalog/products", json=product_body([image.json()["cid"]], supply=4,
                                                                     attributes=traits),
                              headers=admin.headers).json()
        listed = client.post(f"/catalog/products/{product['id']}/listing", headers=admin.headers)
        assert listed.status_code == 201, listed.text
    listing = listed.json()["listing"]
    # The ProductListed event carries what the product is for (its tag traits), for the recommender.
    async def listed_event():
        connection = await asyncpg.connect(**on_stack.postgres(on_stack.backend_database))
        try:
            return await connection.fetchval("SELECT payload::text FROM outbox WHERE type = $1 "
                                             "AND payload->>'productId' = $2", ev.PRODUCT_LISTED.ce_type, product["id"])
        finally:
            await connection.close()

    assert json.loads(asyncio.run(listed_event()))["tags"] == ["run", "shoes"]
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    assert w3.eth.get_transaction(listing["tx_hash"])["from"] == operator
    market = manifest.contract("Marketplace")
    seller, unit_price, item_id, remaining, primary = w3.eth.contract(
        address=market.checksum_address, abi=market.abi).functions.getListing(int(listing["listing_id"])).call()
    assert (seller, unit_price, item_id, remaining, primary) == (manifest.treasury, 125 * FIT // 10,
                                                                 int(product["item_id"]), 4, True)
