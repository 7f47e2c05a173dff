"""The benchmark's baseline API (bench/opa_bench.py): the same app, its decisions made in the process from
policy/data.json the way backend/app/core/policy.py made them before OPA (a dict lookup). Not a way to run
the API: tenants' own policies are ignored here.

    uvicorn --factory bench.opa_baseline:app
"""

import asyncio
import json

from backend.app import main
from tests.support.paths import ROOT

RULES = json.loads((ROOT / "policy" / "data.json").read_text())["fitmint"]["base"]
ALLOWED = {"allow": True, "status": 200, "reason": "allowed"}


class InProcessTable:
    """Answers what backend/app/core/opa.Opa answers, without OPA."""

    def __init__(self, url: str, timeout_seconds: float):
        self.url, self.data_missing = "in-process", asyncio.Event()

    async def decide(self, rule: str, decision: dict) -> dict:
        who, action = decision["principal"], decision["action"]
        scope = RULES["rules"].get(who["role"], {}).get(action)
        if rule == "platform_decision":
            allowed = (action in RULES["platform_wide"] and who["tenant_id"] == decision["platform_tenant_id"]
                       and scope == "tenant")
            return ALLOWED if allowed else {"allow": False, "status": 403, "reason": "not across tenants"}
        target = decision["target"]
        if target["tenant_id"] != who["tenant_id"]:
            return {"allow": False, "status": 404, "reason": "not found in your tenant"}
        if scope is None or (scope == "own" and (target["user_id"] is None or target["user_id"] != who["user_id"])):
            return {"allow": False, "status": 403, "reason": f"role '{who['role']}' may not {action}"}
        return ALLOWED

    async def healthy(self) -> bool:
        return True

    async def read(self, path: str):
        return {"tenant_policy/loaded": True, "fitmint/base/rules": RULES["rules"]}.get(path)

    async def write(self, path: str, value, *, only_if_absent: bool = False) -> None:
        pass

    async def patch(self, path: str, operations: list) -> None:
        pass

    async def close(self) -> None:
        pass


def app():
    main.Opa = InProcessTable
    return main.create_app()
