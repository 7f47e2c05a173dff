"""The transactional outbox: the one way to write an event in a transaction, and the relay to Kafka."""
