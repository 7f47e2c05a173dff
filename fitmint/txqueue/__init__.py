"""The transaction queue: every server-side transaction submitted once (idempotency key), simulated, signed,
recorded before broadcast, sent from a pool of operator keys with managed nonces, watched and recovered
(fee bumps, re-broadcasts, nonce gaps) until mined, failed or replaced. See submit.py and worker.py.

Each outcome is an event of the catalogue written to the outbox in the transaction that records it
(outcomes.py); `python -m fitmint.txqueue run` is the worker process (settings.py). See README.md."""
