"""What browsers on other origins may do with the API (CORS), in one place: the origins a deployment names
(CORS_ORIGINS) call it with a member's bearer token; the public documents a verifier checks tokens and
credentials with are readable from any origin."""

from urllib.parse import urlsplit

# Request headers a page may send: besides the token and JSON, the idempotency key of POST /fitness/workouts
# and the transactions routes, the ETag revalidation of GET /chain (the TypeScript client), and tracing.
ALLOW_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "If-None-Match", "traceparent"]
# Response headers a page may read: when to retry (429, 503), the ETag to revalidate with, where a created
# resource is (202/201 of the transactions routes).
EXPOSE_HEADERS = ["Retry-After", "ETag", "Location"]
# The JWKS, the OAuth metadata and the credential status lists: public, no credentials, for any origin.
READABLE_BY_ANY_ORIGIN = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "ETag"}


def origin_problem(origin: str) -> str | None:
    """Why `origin` is not an origin as browsers send it (scheme://host[:port], lowercase, nothing after), or
    None. The CORS middleware compares strings, so anything else would silently match no page."""
    if origin == "*":
        return "'*' would let every site's pages call the API with a member's token: name the origins"
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None
            or parts.password is not None or f"{parts.scheme}://{parts.netloc}" != origin):
        return f"{origin!r} is not an origin: write scheme://host[:port] with nothing after (no path, no slash)"
    if origin != origin.lower():
        return f"{origin!r} must be lowercase, as browsers send it: {origin.lower()!r}"
    return None
