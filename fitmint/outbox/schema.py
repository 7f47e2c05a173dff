"""The outbox's DDL (schema.sql beside this file), for whoever creates an outbox."""

from pathlib import Path

DDL = Path(__file__).with_name("schema.sql").read_text()
