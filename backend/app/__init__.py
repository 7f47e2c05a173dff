"""The fitmint HTTP API (FastAPI): one router per domain, one settings object."""
