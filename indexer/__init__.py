"""fitmint indexer: chain logs -> PostgreSQL rows + a transactional outbox -> Kafka.

sync (sync.py) -> decode (decode.py) -> handle (projections.py) -> store (batches.py, cursor.py; reorgs:
reorg.py; the schema and its read views: schema.py, schema.sql) -> publish (fitmint/outbox/relay.py).
One direction of data; fitmint/events is the one place event types and topics are defined.
"""
