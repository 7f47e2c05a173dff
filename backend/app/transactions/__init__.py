"""Transactions through the queue (fitmint/txqueue/): submitted and read by the tenant's admins."""
