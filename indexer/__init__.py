"""fitmint indexer: chain logs -> PostgreSQL rows + a transactional outbox -> Kafka.

sync (rpc.py, chain.py) -> decode (decode.py) -> handle (projections.py) -> store (store.py) -> publish
(relay.py). One direction of data; events.py is the one place event types and topics are defined.
"""
