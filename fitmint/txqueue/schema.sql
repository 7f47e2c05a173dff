-- The transaction queue: every server-side transaction, from submission to its outcome.
-- A request is what a caller asked for (idempotency_key UNIQUE: one request, ever, per key); an attempt is
-- one signed transaction for it, recorded BEFORE it is broadcast, so a restarted worker re-broadcasts the
-- recorded bytes instead of signing anew. Every attempt of a request shares its (signer, nonce), and no two
-- requests share one (UNIQUE below): at most one transaction per idempotency key can ever be mined.
-- Re-runnable (IF NOT EXISTS). Statements end with ";" and a newline, which nothing else here contains.
CREATE TABLE IF NOT EXISTS txqueue_request (
    id bigserial PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    requester text NOT NULL,
    tenant_id text,                           -- the API's tenant whose admins may read it (NULL: the platform's own)
    target text NOT NULL,                     -- lowercase 0x address
    calldata bytea NOT NULL,
    value numeric(78, 0) NOT NULL CHECK (value >= 0),
    mine_within_seconds double precision,     -- replaced with a higher fee when not mined this long after sending
    state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'mined', 'failed', 'replaced')),
    reason text,                              -- why it is in its state (a decoded revert, a fee cap, ...)
    signer text,                              -- lowercase; set when a worker takes the request
    nonce bigint,                             -- set, once and for good, when the first attempt is recorded
    gas_limit bigint,
    mined_hash text,
    block_number bigint,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (signer, nonce),
    CHECK (nonce IS NULL OR signer IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS txqueue_request_waiting ON txqueue_request (id) WHERE state = 'queued' AND nonce IS NULL;
CREATE INDEX IF NOT EXISTS txqueue_request_by_tenant ON txqueue_request (tenant_id, id);
CREATE INDEX IF NOT EXISTS txqueue_request_by_tenant_state ON txqueue_request (tenant_id, state, id);
CREATE INDEX IF NOT EXISTS txqueue_request_in_flight ON txqueue_request (signer, nonce) WHERE state IN ('queued', 'sent');

CREATE TABLE IF NOT EXISTS txqueue_attempt (
    tx_hash text PRIMARY KEY,
    request_id bigint NOT NULL REFERENCES txqueue_request (id),
    signer text NOT NULL,
    nonce bigint NOT NULL,
    raw text NOT NULL,                        -- the signed transaction, re-broadcast as is
    max_fee_per_gas numeric(78, 0) NOT NULL,
    max_priority_fee_per_gas numeric(78, 0) NOT NULL,
    -- signed: recorded, maybe not broadcast yet; broadcast: the node took it; mined: this one was mined,
    -- replaced: another transaction took its nonce (a fee bump of the same request, or someone else's)
    state text NOT NULL DEFAULT 'signed' CHECK (state IN ('signed', 'broadcast', 'mined', 'replaced')),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    broadcast_at timestamptz
);
CREATE INDEX IF NOT EXISTS txqueue_attempt_request ON txqueue_attempt (request_id, recorded_at);
