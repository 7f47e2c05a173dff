"""Recommendations: a Feast feature store over the analytics store (offline) and Redis (online), a product
model (implicit-feedback matrix factorisation with item metadata for new items), workout suggestions from a
member's own history and goals, and the service the API asks. Runs in its own venv ($RECOMMEND_VENV): Feast
needs numpy 2, which the dev venv's eth-ape refuses."""
