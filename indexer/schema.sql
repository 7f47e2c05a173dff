-- The indexer's tables (database fitmint_indexer). Applied at start; every statement is idempotent.
-- Addresses and hashes are lowercase 0x-hex; uint256 values are numeric(78, 0).

-- Which schema this database has, and its generation: a fresh database (or a reset) gets a new
-- generation, so the relay knows Kafka's recorded position belongs to another outbox.
-- `deployment` names the deployment indexed (deploy block, its hash, the addresses): another one, even
-- on the same chain (contracts deployed again), means starting over.
CREATE TABLE IF NOT EXISTS indexer_meta (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    schema_version integer NOT NULL,
    generation uuid NOT NULL,
    deployment text
);

CREATE TABLE IF NOT EXISTS indexer_cursor (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    chain_id bigint NOT NULL,
    block_number bigint NOT NULL,
    block_hash text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Hashes of indexed blocks (all of the recent ones, plus every block with an event): what reorg
-- detection compares with the chain.
CREATE TABLE IF NOT EXISTS blocks (
    number bigint PRIMARY KEY,
    hash text NOT NULL,
    parent_hash text,
    timestamp bigint NOT NULL
);

-- Raw events as the chain gave them (decoded again from the ABI when needed, e.g. on a reorg).
CREATE TABLE IF NOT EXISTS events (
    block_number bigint NOT NULL,
    log_index integer NOT NULL,
    block_hash text NOT NULL,
    tx_hash text NOT NULL,
    address text NOT NULL,
    contract text NOT NULL,
    name text NOT NULL,
    topics text[] NOT NULL,
    data text NOT NULL,
    PRIMARY KEY (block_number, log_index)
);

CREATE TABLE IF NOT EXISTS skipped_logs (
    block_number bigint NOT NULL,
    log_index integer NOT NULL,
    address text NOT NULL,
    reason text NOT NULL,
    PRIMARY KEY (block_number, log_index)
);

CREATE TABLE IF NOT EXISTS token_transfers (
    block_number bigint NOT NULL,
    log_index integer NOT NULL,
    tx_hash text NOT NULL,
    from_address text NOT NULL,
    to_address text NOT NULL,
    value numeric(78, 0) NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX IF NOT EXISTS token_transfers_from ON token_transfers (from_address, block_number);
CREATE INDEX IF NOT EXISTS token_transfers_to ON token_transfers (to_address, block_number);

CREATE TABLE IF NOT EXISTS token_balances (
    account text PRIMARY KEY,
    balance numeric(78, 0) NOT NULL
);

CREATE TABLE IF NOT EXISTS claims (
    claim_id text PRIMARY KEY,           -- the voucher's claim id, or "epoch:<epoch>:<index>"
    kind text NOT NULL,                  -- voucher | epoch
    account text NOT NULL,
    amount numeric(78, 0) NOT NULL,
    epoch bigint NOT NULL,
    attestor text,
    block_number bigint NOT NULL,
    log_index integer NOT NULL,
    tx_hash text NOT NULL
);
CREATE INDEX IF NOT EXISTS claims_account ON claims (account, block_number);

CREATE TABLE IF NOT EXISTS epoch_roots (
    epoch bigint PRIMARY KEY,
    root text NOT NULL,
    total numeric(78, 0) NOT NULL,
    operator text NOT NULL,
    block_number bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS item_metadata (
    block_number bigint NOT NULL,
    log_index integer NOT NULL,
    item_id numeric(78, 0) NOT NULL,
    uri text NOT NULL,
    PRIMARY KEY (block_number, log_index)
);

CREATE TABLE IF NOT EXISTS item_transfers (
    block_number bigint NOT NULL,
    log_index integer NOT NULL,
    position integer NOT NULL,           -- index within a TransferBatch
    item_id numeric(78, 0) NOT NULL,
    from_address text NOT NULL,
    to_address text NOT NULL,
    value numeric(78, 0) NOT NULL,
    PRIMARY KEY (block_number, log_index, position)
);

CREATE TABLE IF NOT EXISTS item_balances (
    item_id numeric(78, 0) NOT NULL,
    account text NOT NULL,
    balance numeric(78, 0) NOT NULL,
    PRIMARY KEY (item_id, account)
);

CREATE TABLE IF NOT EXISTS listings (
    listing_id bigint PRIMARY KEY,
    item_id numeric(78, 0) NOT NULL,
    seller text NOT NULL,
    unit_price numeric(78, 0) NOT NULL,
    remaining numeric(78, 0) NOT NULL,
    is_primary boolean NOT NULL,
    cid text NOT NULL,
    status text NOT NULL,                -- open | sold_out | cancelled
    created_block bigint NOT NULL,
    updated_block bigint NOT NULL
);

CREATE INDEX IF NOT EXISTS listings_seller ON listings (seller, listing_id);
CREATE INDEX IF NOT EXISTS listings_item ON listings (item_id, listing_id);
CREATE INDEX IF NOT EXISTS listings_status_price ON listings (status, unit_price, listing_id);

-- Each listing's state after each of its events (the listings columns but listing_id, as of that
-- event): a reorg restores each listing it touched to its last state at or below the common ancestor
-- (none left: it did not exist yet).
CREATE TABLE IF NOT EXISTS listing_states (
    listing_id bigint NOT NULL,
    block_number bigint NOT NULL,
    log_index integer NOT NULL,
    item_id numeric(78, 0) NOT NULL,
    seller text NOT NULL,
    unit_price numeric(78, 0) NOT NULL,
    remaining numeric(78, 0) NOT NULL,
    is_primary boolean NOT NULL,
    cid text NOT NULL,
    status text NOT NULL,
    created_block bigint NOT NULL,
    updated_block bigint NOT NULL,
    PRIMARY KEY (listing_id, block_number, log_index)
);

CREATE TABLE IF NOT EXISTS orders (
    order_id bigint PRIMARY KEY,
    listing_id bigint NOT NULL,
    buyer text NOT NULL,
    seller text NOT NULL,
    item_id numeric(78, 0) NOT NULL,
    quantity numeric(78, 0) NOT NULL,
    unit_price numeric(78, 0) NOT NULL,
    fee numeric(78, 0) NOT NULL,
    burned numeric(78, 0) NOT NULL,
    block_number bigint NOT NULL,
    log_index integer NOT NULL,
    tx_hash text NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_buyer ON orders (buyer, block_number);
CREATE INDEX IF NOT EXISTS orders_seller ON orders (seller, block_number);

-- The outbox and the relay's position: fitmint/outbox/schema.sql (one definition for every outbox),
-- applied right after this file.

-- Read views: what other components (the API's wallet reads) may read, and all they may read. Their
-- names carry their own version: a view keeps its name and columns across schema versions (rewritten
-- over new tables if need be); a change of its columns or meaning is a new view (`..._v2`) beside it.
CREATE OR REPLACE VIEW indexed_head_v1 AS
    SELECT block_number, block_hash FROM indexer_cursor;

CREATE OR REPLACE VIEW wallet_balances_v1 AS
    SELECT account, balance FROM token_balances;

CREATE OR REPLACE VIEW wallet_transfers_v1 AS
    SELECT block_number, log_index, tx_hash, from_address, to_address, value FROM token_transfers;

CREATE OR REPLACE VIEW wallet_claims_v1 AS
    SELECT account, claim_id, kind, amount, epoch, block_number, log_index, tx_hash FROM claims;

CREATE OR REPLACE VIEW wallet_orders_v1 AS
    SELECT order_id, listing_id, buyer, seller, item_id, quantity, unit_price, fee, burned, block_number, log_index,
           tx_hash
    FROM orders;

-- The items an account holds (a balance of 0 is an item it no longer holds).
CREATE OR REPLACE VIEW wallet_items_v1 AS
    SELECT account, item_id, balance AS quantity FROM item_balances WHERE balance > 0;

-- Marketplace listings as they stand at the indexed block (status: open | sold_out | cancelled).
CREATE OR REPLACE VIEW marketplace_listings_v1 AS
    SELECT listing_id, item_id, seller, unit_price, remaining, is_primary, cid, status, created_block, updated_block
    FROM listings;

-- Each item's metadata URI as last set on-chain (FitItems URI events; ipfs://<cid> for catalog items).
CREATE OR REPLACE VIEW item_uris_v1 AS
    SELECT DISTINCT ON (item_id) item_id, uri FROM item_metadata ORDER BY item_id, block_number DESC, log_index DESC;
