"""GET /recommendations/products and /workouts for the signed-in member, and their goals: the API's side of
the recommendation service (recommend/, its own process and venv). The API knows what is true now (the
member's tenant, wallets, the items they own, the tenant's open listings) and asks the service to rank."""
