# Who may do what on fitmint's API, decided for backend/app/core/policy.py (Rego v1).
#
# The base policy is data.fitmint.base (policy/data.json): rules[role][action] is the role's scope for the
# action, "own" (only its own user's data) or "tenant" (any member's); a pair that is not there is denied.
# No rule reaches across tenants, except the actions in platform_wide for the platform's own tenant's
# members with "tenant" scope for them (platform_decision).
#
# Each tenant's admins may tighten it: data.tenant_policy.tenants[tenant_id].denied[role] lists actions that
# role may not do in that tenant. That document is pushed by the API from PostgreSQL (its source of truth);
# it can only take rules away: nothing in it is read as a grant. Until the API has pushed it
# (data.tenant_policy.loaded), every decision that could depend on it is refused with status 503.
package fitmint.authz

base := data.fitmint.base

principal := input.principal

default loaded := false

loaded if data.tenant_policy.loaded == true

denied_in_tenant if {
	some action in data.tenant_policy.tenants[principal.tenant_id].denied[principal.role]
	action == input.action
}

# The caller's scope for the action: the base rule, unless its tenant took it away.
scope := base.rules[principal.role][input.action] if not denied_in_tenant

# A service token carries the OAuth scope it was granted (the actions it may use, a subset of its role's);
# a member's token has none (null): its role's rules are all it has.
outside_token_scope if {
	is_array(principal.scopes)
	not input.action in principal.scopes
}

own_target if {
	is_string(input.target.user_id)
	input.target.user_id == principal.user_id
}

# input: {"principal": {"tenant_id", "role", "user_id", "scopes"}, "action", "target": {"tenant_id", "user_id"}}
# (target.user_id null: a tenant-wide action). status: 200 allowed, 404 another tenant's target (its
# existence is not revealed), 403 refused, 503 the tenants' data not loaded yet.
decision := {"allow": false, "status": 404, "reason": "not found in your tenant"} if {
	input.target.tenant_id != principal.tenant_id
} else := not_loaded if {
	not loaded
} else := {"allow": false, "status": 403, "reason": sprintf("the token's scope does not include %s", [input.action])} if {
	outside_token_scope
} else := {"allow": false, "status": 403, "reason": sprintf("role '%s' may not %s in this tenant (its admins' policy)", [principal.role, input.action])} if {
	denied_in_tenant
	base.rules[principal.role][input.action]
} else := {"allow": false, "status": 403, "reason": sprintf("role '%s' may not %s", [principal.role, input.action])} if {
	not scope
} else := {"allow": false, "status": 403, "reason": sprintf("role '%s' may %s only for itself", [principal.role, input.action])} if {
	scope == "own"
	not own_target
} else := {"allow": true, "status": 200, "reason": "allowed"}

# input: {"principal", "action", "platform_tenant_id"}: may the caller do the action across tenants?
platform_decision := not_loaded if {
	not loaded
} else := {"allow": true, "status": 200, "reason": "allowed"} if {
	not outside_token_scope
	input.action in base.platform_wide
	principal.tenant_id == input.platform_tenant_id
	scope == "tenant"
} else := {"allow": false, "status": 403, "reason": sprintf("only the platform's own tenant's admins may %s across tenants", [input.action])}

not_loaded := {"allow": false, "status": 503, "reason": "the tenants' policies are not loaded in OPA yet"}
