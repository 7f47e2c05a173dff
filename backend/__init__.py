"""fitmint backend."""
