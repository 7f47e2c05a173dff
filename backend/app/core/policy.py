"""Who may do what: roles x action -> scope, kept as data in this one table. Deny by default.

Every principal belongs to exactly one tenant (its token names it), and no rule reaches across
tenants: `authorize` refuses a target in another tenant before it looks at the table. Within the
tenant, a rule's scope says whose data the role may touch: only its own user's (OWN) or any member's
(TENANT).

One exception, and only for the actions in `PLATFORM_WIDE`: the platform's own tenant (the API's
`default_tenant`, "fitmint", the operator's) is where platform staff sign in, and its members whose role
has TENANT scope for such an action have it over every tenant, and all of them at once
(`authorize_platform`). For ANALYTICS_READ these are the "platform admins": the admins of the platform's
tenant read any tenant's dashboards, and the whole platform's (`?tenant=all`).
"""

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    USER = "user"
    COACH = "coach"
    ADMIN = "admin"
    ATTESTOR = "attestor"  # a service: devices/integrations that submit verified activity
    AGENT = "agent"        # a service: the DIDComm agent controller


class Scope(StrEnum):
    OWN = "own"
    TENANT = "tenant"


class Action(StrEnum):
    PROFILE_READ = "profile.read"
    PROFILE_UPDATE = "profile.update"
    WALLET_LINK = "wallet.link"
    MEMBERS_LIST = "members.list"
    MEMBER_ROLE_SET = "member.role.set"
    SERVICE_CLIENT_CREATE = "service_client.create"
    WORKOUT_CREATE = "workout.create"
    WORKOUT_READ = "workout.read"
    WORKOUT_REVIEW = "workout.review"     # the rejected entries kept for review, the anti-cheat model's flags
    NUTRITION_CREATE = "nutrition.create"
    NUTRITION_READ = "nutrition.read"
    VOUCHER_ISSUE = "voucher.issue"
    VOUCHER_READ = "voucher.read"
    CATALOG_WRITE = "catalog.write"       # upload images, create, update and list products
    NOTIFICATION_READ = "notification.read"   # the inbox, marking read, the live WebSocket
    ORDER_RECEIPT_READ = "order_receipt.read"  # receipts of orders the member's wallets bought or sold
    IDENTITY_USE = "identity.use"      # own DIDComm connections, credentials, presentations, gates
    IDENTITY_ADMIN = "identity.admin"  # revoke credentials, trusted issuers
    TRANSACTION_SUBMIT = "transaction.submit"  # a transaction through the queue, from the operator keys
    TRANSACTION_READ = "transaction.read"      # the tenant's queued transactions, their states and attempts
    RELAY_REQUEST = "relay.request"    # have the platform send one's own voucher claim or purchase intent
    RELAY_READ = "relay.read"          # relays and their states
    SPONSORSHIP_READ = "sponsorship.read"  # the tenant's sponsored relays today, per member, and the limits
    ANALYTICS_READ = "analytics.read"  # the tenant's dashboards (GET /analytics/...): aggregates, no member's data


U, C, A, T, G = Role.USER, Role.COACH, Role.ADMIN, Role.ATTESTOR, Role.AGENT
OWN, TENANT = Scope.OWN, Scope.TENANT

POLICY: dict[tuple[Role, Action], Scope] = {
    (U, Action.PROFILE_READ): OWN, (C, Action.PROFILE_READ): TENANT, (A, Action.PROFILE_READ): TENANT,
    (G, Action.PROFILE_READ): TENANT,
    (U, Action.PROFILE_UPDATE): OWN, (C, Action.PROFILE_UPDATE): OWN, (A, Action.PROFILE_UPDATE): OWN,
    (U, Action.WALLET_LINK): OWN, (C, Action.WALLET_LINK): OWN, (A, Action.WALLET_LINK): OWN,
    (C, Action.MEMBERS_LIST): TENANT, (A, Action.MEMBERS_LIST): TENANT,
    (A, Action.MEMBER_ROLE_SET): TENANT,
    (A, Action.SERVICE_CLIENT_CREATE): TENANT,
    (U, Action.WORKOUT_CREATE): OWN, (C, Action.WORKOUT_CREATE): OWN, (A, Action.WORKOUT_CREATE): OWN,
    (T, Action.WORKOUT_CREATE): TENANT,
    (U, Action.WORKOUT_READ): OWN, (C, Action.WORKOUT_READ): TENANT, (A, Action.WORKOUT_READ): TENANT,
    (T, Action.WORKOUT_READ): TENANT,
    (C, Action.WORKOUT_REVIEW): TENANT, (A, Action.WORKOUT_REVIEW): TENANT,
    (U, Action.NUTRITION_CREATE): OWN, (C, Action.NUTRITION_CREATE): OWN, (A, Action.NUTRITION_CREATE): OWN,
    (U, Action.NUTRITION_READ): OWN, (C, Action.NUTRITION_READ): TENANT, (A, Action.NUTRITION_READ): TENANT,
    (U, Action.VOUCHER_ISSUE): OWN, (C, Action.VOUCHER_ISSUE): OWN, (A, Action.VOUCHER_ISSUE): OWN,
    (T, Action.VOUCHER_ISSUE): TENANT,
    (U, Action.VOUCHER_READ): OWN, (C, Action.VOUCHER_READ): OWN, (A, Action.VOUCHER_READ): TENANT,
    (T, Action.VOUCHER_READ): TENANT,
    (C, Action.CATALOG_WRITE): TENANT, (A, Action.CATALOG_WRITE): TENANT,
    (U, Action.NOTIFICATION_READ): OWN, (C, Action.NOTIFICATION_READ): OWN, (A, Action.NOTIFICATION_READ): OWN,
    (U, Action.ORDER_RECEIPT_READ): OWN, (C, Action.ORDER_RECEIPT_READ): OWN, (A, Action.ORDER_RECEIPT_READ): OWN,
    (U, Action.IDENTITY_USE): OWN, (C, Action.IDENTITY_USE): OWN, (A, Action.IDENTITY_USE): OWN,
    (A, Action.IDENTITY_ADMIN): TENANT,
    (A, Action.TRANSACTION_SUBMIT): TENANT, (A, Action.TRANSACTION_READ): TENANT,
    (U, Action.RELAY_REQUEST): OWN, (C, Action.RELAY_REQUEST): OWN, (A, Action.RELAY_REQUEST): OWN,
    (U, Action.RELAY_READ): OWN, (C, Action.RELAY_READ): OWN, (A, Action.RELAY_READ): TENANT,
    (A, Action.SPONSORSHIP_READ): TENANT,
    (A, Action.ANALYTICS_READ): TENANT,
}

# Actions the platform's own tenant's members may do across tenants (see the module's docstring).
PLATFORM_WIDE: frozenset[Action] = frozenset({Action.ANALYTICS_READ})


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in member (user_id set) or a service client (client_id set)."""
    tenant_id: str
    role: Role
    user_id: str | None = None
    client_id: str | None = None
    scopes: frozenset[str] | None = None  # a service token's granted OAuth scope (actions); None: the role's

    @property
    def name(self) -> str:
        return self.user_id or f"service:{self.client_id}"


class Denied(Exception):
    """`status` 404 when the target is outside the caller's tenant (its existence is not revealed),
    403 when the role may not do this."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


def authorize(principal: Principal, action: Action, *, tenant_id: str, user_id: str | None = None) -> None:
    """Raises Denied unless `principal` may do `action` on the data of `user_id` in `tenant_id`
    (user_id None: a tenant-wide action)."""
    if str(tenant_id) != principal.tenant_id:
        raise Denied(404, "not found in your tenant")
    check_token_scope(principal, action)
    scope = POLICY.get((principal.role, action))
    if scope is None:
        raise Denied(403, f"role '{principal.role}' may not {action}")
    if scope is Scope.OWN and (user_id is None or str(user_id) != principal.user_id):
        raise Denied(403, f"role '{principal.role}' may {action} only for itself")


def check_token_scope(principal: Principal, action: Action) -> None:
    """A token narrowed by its OAuth scope (a service's) may do only what it was granted, whatever its role
    may: every gate applies this first."""
    if principal.scopes is not None and action.value not in principal.scopes:
        raise Denied(403, f"the token's scope does not include {action}")


def actions_of(role: Role) -> list[str]:
    """The actions `role` may do at all: a service client's OAuth scopes."""
    return sorted(action.value for (r, action) in POLICY if r is role)


def authorize_platform(principal: Principal, action: Action, *, platform_tenant_id: str) -> None:
    """Raises Denied (403) unless `principal` may do `action` across tenants: a PLATFORM_WIDE action, a
    member of the platform's own tenant, and a role with TENANT scope for it there."""
    check_token_scope(principal, action)
    if (action not in PLATFORM_WIDE or principal.tenant_id != str(platform_tenant_id)
            or POLICY.get((principal.role, action)) is not Scope.TENANT):
        raise Denied(403, f"only the platform's own tenant's admins may {action} across tenants")
