-- docker-compose.yml: one database per component that owns a schema (as POSTGRES_DATABASES in
-- scripts/toolchain/env.sh; tests/stack/test_compose.py checks they agree).
CREATE DATABASE fitmint_indexer;
CREATE DATABASE fitmint_backend;
CREATE DATABASE fitmint_analytics;
