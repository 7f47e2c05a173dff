# Which decisions OPA's decision log keeps (decision_logs.drop_decision = /system/log/drop): the API's
# authorization decisions, each with its input, result and decision_id. Dropped: the API's own reads of
# data (the tenant-policy sync asks whether OPA holds the policies every few seconds).
package system.log

drop if not startswith(input.path, "fitmint/authz/")
