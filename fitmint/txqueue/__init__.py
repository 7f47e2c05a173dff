"""The transaction queue: every server-side transaction submitted once (idempotency key), simulated, signed,
recorded before broadcast, sent from a pool of operator keys with managed nonces, watched and recovered
(fee bumps, re-broadcasts, nonce gaps) until mined, failed or replaced. See submit.py and worker.py.

Not yet here (later steps of issue 16): outcome events through the outbox and the event catalogue, the API
surface, the catalog's listing journal and epoch roots moved onto the queue, resync after a chain restart."""
