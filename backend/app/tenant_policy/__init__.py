"""A tenant's own tightening of the authorization policy: stored in PostgreSQL (store.py), pushed to each API
replica's OPA (sync.py), read and set by the tenant's admins (routes.py: GET/PUT /tenant/policy)."""
