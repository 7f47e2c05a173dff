"""From stored CloudEvents to facts: one typed row (schema.sql `facts`) per event analytics reads.

The mapping is one SQL statement over the store, with a `{scope}` filter: the live consumer derives the
facts of the events its batch stored (`e.id = ANY($1)`), a rebuild derives all of them (`TRUE`) in one
pass inside PostgreSQL (no event crosses into Python: 1M events map in seconds). One statement for both,
so live and rebuilt facts are the same by construction. Each event type's columns come from its
payload's JSON (camelCase, fitmint/events/payloads.py); the one legacy type still read (RewardIssued v1,
snake_case) maps through the same columns. An event whose payload did not validate on arrival
(`events.readable` false) has no fact. Notifications, email batches and the transaction queue's
outcomes are stored and have no fact: no projection reads them yet. A `...reverted.v1` compensation
has no fact of its own; its original's fact is `reverted`.
"""

from fitmint import events as ev

NIL_TENANT = "00000000-0000-0000-0000-000000000000"  # an event that names no tenant

COLUMNS = ("event_id", "kind", "occurred_at", "day", "tenant_id", "user_id", "address", "activity", "status", "reasons",
           "flagged", "distance_m", "duration_s", "claim_id", "listing_id", "item_id", "name", "joined", "amount",
           "fee", "burned", "quantity", "reverted")
_TYPES = {"user_id": "uuid", "reasons": "text[]", "flagged": "boolean", "distance_m": "float8",
          "duration_s": "float8", "listing_id": "bigint", "item_id": "numeric", "joined": "boolean",
          "amount": "numeric", "fee": "numeric", "burned": "numeric", "quantity": "numeric"}
# What a kind leaves out: a typed NULL (the kinds' SELECTs are one UNION), the nil tenant.
DEFAULTS = {c: f"NULL::{_TYPES.get(c, 'text')}" for c in COLUMNS[4:-1]} | {"tenant_id": f"'{NIL_TENANT}'::uuid"}

D = "e.document->'data'"


def _text(field: str) -> str:
    return f"{D}->>'{field}'"


# Per fact kind: the event types it comes from, its time, and its columns (the rest NULL).
KINDS = {
    "signed_in": ((ev.MEMBER_SIGNED_IN,), "e.time", {
        "tenant_id": f"({_text('tenantId')})::uuid", "user_id": f"({_text('userId')})::uuid",
        "address": f"lower({_text('address')})", "joined": f"({_text('joined')})::boolean"}),
    # A workout counts on the day it started, not the day it was uploaded.
    "workout": ((ev.WORKOUT_RECORDED,), f"({_text('startedAt')})::timestamptz", {
        "tenant_id": f"({_text('tenantId')})::uuid", "user_id": f"({_text('userId')})::uuid",
        "activity": _text("activity"), "status": _text("status"),
        "reasons": f"ARRAY(SELECT jsonb_array_elements_text(coalesce({D}->'rejections', '[]'::jsonb)))",
        "flagged": f"coalesce(({_text('flagged')})::boolean, false)",
        "distance_m": f"({_text('distanceM')})::float8",
        "duration_s": f"extract(epoch FROM ({_text('endedAt')})::timestamptz - ({_text('startedAt')})::timestamptz)"}),
    "reward_issued": ((ev.REWARD_ISSUED,), "e.time", {
        "tenant_id": f"(coalesce({_text('tenantId')}, {_text('tenant_id')}))::uuid",
        "user_id": f"(coalesce({_text('userId')}, {_text('user_id')}))::uuid",
        "address": f"lower({_text('account')})",
        "claim_id": f"lower(coalesce({_text('claimId')}, {_text('claim_id')}))",
        "amount": f"({_text('amount')})::numeric"}),
    "reward_claimed": ((ev.FITNESS_REWARD,), "e.time", {
        "address": f"lower({_text('account')})", "status": _text("kind"),
        "claim_id": f"lower({_text('claimId')})", "amount": f"({_text('amount')})::numeric"}),
    "minted": ((ev.TOKEN_MINTED,), "e.time", {
        "address": f"lower({_text('account')})", "amount": f"({_text('amount')})::numeric"}),
    "order": ((ev.ORDER_CREATED,), "e.time", {
        "address": f"lower({_text('buyer')})", "listing_id": f"({_text('listingId')})::bigint",
        "item_id": f"({_text('itemId')})::numeric",
        "amount": f"({_text('unitPrice')})::numeric * ({_text('quantity')})::numeric",
        "fee": f"({_text('fee')})::numeric", "burned": f"({_text('burned')})::numeric",
        "quantity": f"({_text('quantity')})::numeric"}),
    "listed": ((ev.PRODUCT_LISTED,), "e.time", {
        "tenant_id": f"({_text('tenantId')})::uuid", "listing_id": f"({_text('listingId')})::bigint",
        "item_id": f"({_text('itemId')})::numeric", "name": _text("name"),
        "amount": f"({_text('unitPrice')})::numeric"}),
}


def _types(event_types) -> list[str]:
    return sorted(ev.readable(*event_types))


def _select(kind: str) -> str:
    event_types, at, columns = KINDS[kind]
    values = DEFAULTS | columns
    types = ", ".join(f"'{t}'" for t in _types(event_types))
    return (f"SELECT e.id, '{kind}', {at}, CAST(({at}) AT TIME ZONE 'UTC' AS date), "
            + ", ".join(values[c] for c in COLUMNS[4:-1])
            + ", EXISTS (SELECT 1 FROM events r WHERE r.reverts = e.id) "
            f"FROM events e WHERE e.type IN ({types}) AND e.readable AND {{scope}}")


# The facts of the stored events in {scope} (a filter on `e`); returns what the live path recomputes by.
DERIVE = (f"INSERT INTO facts ({', '.join(COLUMNS)}) "
          + " UNION ALL ".join(_select(kind) for kind in KINDS)
          + " ON CONFLICT (event_id) DO NOTHING")
TOUCHED = "kind, day, tenant_id, user_id, address, claim_id, listing_id"


def derive(scope: str) -> str:
    return DERIVE.format(scope=scope)
