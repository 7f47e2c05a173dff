"""The catalog's listing steps go through the transaction queue (backend/app/catalog/listing.py): its own
journal of signed transactions, catalog_chain_txs, is dropped. A product records the queue request of its
step in flight (chain_request_id, set in the transaction that submits it) and counts its settled steps
(chain_steps, part of each step's idempotency key: a retry of a step is the same request, the next step a new
one).

A deployment upgraded mid-listing loses nothing and lists nothing twice: a createListing the old code had
journaled and maybe sent leaves its product 'listing' with the transaction's hash in listing_tx (as the old
code wrote it), and the new code settles it from that hash's receipt before anything else (listed if mined,
a draft again if it reverted or the node never had it, waited for while pending). A pending update (setCid,
updatePrice, updateSupply) needs nothing: chain_cid/chain_price/chain_supply still hold what was last mined,
so the update is submitted again, and setting a value twice sets it once. The journal's settled rows are
history only the old code read; their count starts each product's step counter.

Revision ID: 0013
Revises: 0010
Create Date: 2026-11-30
"""

from backend.app.core.db import run_script

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE products ADD COLUMN chain_request_id bigint REFERENCES txqueue_request (id),
                     ADD COLUMN chain_steps integer NOT NULL DEFAULT 0 CHECK (chain_steps >= 0);
UPDATE products p SET chain_steps = (SELECT count(*) FROM catalog_chain_txs t WHERE t.product_id = p.id);
DROP TABLE catalog_chain_txs;
"""

DOWNGRADE = """
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
ALTER TABLE products DROP COLUMN chain_request_id, DROP COLUMN chain_steps;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
