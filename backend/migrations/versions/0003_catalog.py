"""Catalog: products (current version, search, on-chain listing state), every pinned version, uploaded
images, and the operator's chain transactions (a journal so a crash never sends one twice).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from backend.app.core.db import run_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
-- Images added to our Kubo node through POST /catalog/images. Content-addressed, so shared by every
-- tenant: a product may only reference CIDs in this table (the node has them pinned).
CREATE TABLE images (
    cid text PRIMARY KEY CHECK (cid ~ '^bafkrei[a-z2-7]{52}$'),  -- CIDv1, raw, sha2-256, base32
    content_type text NOT NULL,
    size integer NOT NULL CHECK (size > 0),
    uploaded_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A product and its current version. item_id (the ERC-1155 id) is the product's uuid as a 128-bit
-- integer: ids never collide between databases that share one chain. price_fit is in wei.
-- chain_cid / chain_price / chain_supply: what the mined operator transactions last set on-chain, so an
-- update sends only what changed.
CREATE TABLE products (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    item_id numeric(78, 0) NOT NULL UNIQUE,
    version integer NOT NULL CHECK (version >= 1),
    cid text NOT NULL,
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    price_fit numeric(78, 0) NOT NULL CHECK (price_fit > 0),
    supply bigint NOT NULL CHECK (supply BETWEEN 1 AND 1000000000),
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'listing', 'listed')),
    listing_id numeric(78, 0),
    listing_tx text,
    listed_at timestamptz,
    chain_cid text,
    chain_price numeric(78, 0),
    chain_supply bigint,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- Search: a tsvector over name and description with the 'simple' configuration (no stemming or stop
    -- words: tenants write in any language, and product names are mostly brand words), GIN-indexed.
    -- Queries match every word as a prefix ("sneak" finds "Sneakers"); ILIKE would scan every row.
    search tsvector GENERATED ALWAYS AS (to_tsvector('simple', name || ' ' || description)) STORED
);
CREATE INDEX products_search ON products USING gin (search);
CREATE INDEX products_page ON products (created_at, id);
CREATE INDEX products_tenant_page ON products (tenant_id, created_at, id);

-- Every pinned version: the document is the ERC-1155 metadata JSON whose canonical bytes have `cid`.
CREATE TABLE product_versions (
    product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    version integer NOT NULL,
    cid text NOT NULL,
    document jsonb NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, version)
);
CREATE INDEX product_versions_cid ON product_versions (cid);

-- The operator's transactions for the catalog, written (hash, nonce, what it sets) before they are sent:
-- after a crash the next attempt looks this transaction up instead of sending another.
CREATE TABLE catalog_chain_txs (
    tx_hash text PRIMARY KEY,
    product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    action text NOT NULL CHECK (action IN ('createListing', 'setCid', 'updatePrice', 'updateSupply')),
    args jsonb NOT NULL,
    nonce bigint NOT NULL,
    status text NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'mined', 'reverted', 'dropped')),
    error text,
    sent_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz
);
CREATE INDEX catalog_chain_txs_pending ON catalog_chain_txs (product_id) WHERE status = 'sent';
"""

DOWNGRADE = """
DROP TABLE catalog_chain_txs, product_versions, products, images;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
