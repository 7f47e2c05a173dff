"""Transport: an async client of ACA-Py's admin API (httpx). Nothing here knows our tables.

Errors: `AgentUnavailable` (the agent is down, times out, or no admin key is configured: the API answers
503) and `AgentError` (the agent answered with an error: status and its text; 404 `NotFound`).
"""

import httpx

from agent.controller.interop import proof_created_timestamp
from backend.app.core.config import Settings


class AgentUnavailable(Exception):
    """The agent cannot be reached (or is not configured)."""


class AgentError(Exception):
    def __init__(self, status: int, method: str, path: str, text: str):
        super().__init__(f"agent answered {status} to {method} {path}: {text[:500]}")
        self.status = status


class NotFound(AgentError):
    pass


class AcaPy:
    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        self._client = httpx.AsyncClient(base_url=settings.acapy_admin_url.rstrip("/"),
                                         timeout=settings.acapy_timeout_seconds, transport=transport)

    async def close(self) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, *, json: dict | None = None, params: dict | None = None) -> dict:
        key = self.settings.acapy_admin_key()
        if key is None:
            raise AgentUnavailable("the agent's admin API key is not configured (ACAPY_ADMIN_KEY_FILE)")
        try:
            response = await self._client.request(method, path, json=json, params=params,
                                                  headers={"X-API-Key": key})
        except httpx.TimeoutException as exc:
            raise AgentUnavailable(f"the agent did not answer {method} {path} within "
                                   f"{self.settings.acapy_timeout_seconds:g} s") from exc
        except httpx.TransportError as exc:
            raise AgentUnavailable(f"the agent at {self.settings.acapy_admin_url} is unreachable: {exc!r}") from exc
        if response.status_code == 404:
            raise NotFound(404, method, path, response.text)
        if response.status_code >= 400:
            raise AgentError(response.status_code, method, path, response.text)
        return response.json() if response.content else {}

    # --- the calls the controller makes -------------------------------------------------------------

    async def create_did_key(self) -> str:
        result = await self.request("POST", "/wallet/did/create",
                                    json={"method": "key", "options": {"key_type": "ed25519"}})
        return result["result"]["did"]

    async def create_invitation(self, *, label: str, alias: str, fresh_did: bool = False) -> dict:
        """OOB 1.1 invitation with the DID Exchange 1.1 handshake and a did:peer:4 DID: the agent's one
        reusable invitation DID, or with `fresh_did` a new one for this invitation only.

        Multi-use and not auto-accepted, although a member's invitation connects one wallet: every request
        on it then reaches the controller (a `request` webhook), which accepts the first and refuses any
        other with a reason the wallet shows (`refuse_request`). A single-use invitation, once used, makes
        ACA-Py drop a second request silently (no record, no webhook, no problem-report) and lose its
        out-of-band record, so a wallet asking to reuse its connection for it got no answer either."""
        return await self.request(
            "POST", "/out-of-band/create-invitation",
            params={"auto_accept": "false", "multi_use": "true", "create_unique_did": "true" if fresh_did else "false"},
            json={"handshake_protocols": ["https://didcomm.org/didexchange/1.1"], "use_did_method": "did:peer:4",
                  "my_label": label, "alias": alias, "protocol_version": "1.1"})

    async def accept_request(self, connection_id: str) -> dict:
        """Answers a received DID Exchange request with our response (the connection goes active on the
        wallet's `complete`)."""
        return await self.request("POST", f"/didexchange/{connection_id}/accept-request")

    async def refuse_request(self, connection_id: str, reason: str) -> dict:
        """Refuses a received DID Exchange request: the wallet gets a problem-report (request_not_accepted,
        `reason` as its text) on its request's thread, through our plugin (agent/acapy_plugin: ACA-Py 1.7's
        own /didexchange/{id}/reject cannot deliver one for a request on an invitation)."""
        return await self.request("POST", f"/fitmint/didexchange/{connection_id}/refuse", json={"reason": reason})

    async def report_problem(self, connection_id: str, *, reason: str, code: str, thid: str,
                             pthid: str | None = None) -> None:
        """A problem-report (RFC 0035) on thread `thid` over an active connection (our plugin), for a refusal
        the agent made no report of itself."""
        await self.request("POST", f"/fitmint/connections/{connection_id}/problem-report",
                           json={"reason": reason, "code": code, "thid": thid, "pthid": pthid})

    async def connections_for_invitation(self, invitation_msg_id: str) -> list[dict]:
        return (await self.request("GET", "/connections",
                                   params={"invitation_msg_id": invitation_msg_id}))["results"]

    async def requests_received(self) -> list[dict]:
        """Connection records of DID Exchange requests wallets sent us that are still waiting for our answer."""
        return (await self.request("GET", "/connections", params={"state": "request", "their_role": "invitee"}))[
            "results"]

    async def connection(self, connection_id: str) -> dict:
        return await self.request("GET", f"/connections/{connection_id}")

    async def send_credential(self, connection_id: str, credential: dict, *, proof_type: str) -> dict:
        """issue-credential v2 with an ld_proof offer; the agent issues when the holder requests."""
        # `created` in the "...Z" form: ACA-Py's own default ("+00:00") is rewritten by other verifiers
        # (didkit) before they check the signature, and then fails there (see identity/interop.py).
        options = {"proofType": proof_type, "created": proof_created_timestamp()}
        if "credentialStatus" in credential:  # a holder's ACA-Py refuses a status its request did not name
            options["credentialStatus"] = {"type": credential["credentialStatus"]["type"]}
        return await self.request("POST", "/issue-credential-2.0/send", json={
            "connection_id": connection_id, "auto_remove": False, "comment": "fitmint credential",
            "filter": {"ld_proof": {"credential": credential, "options": options}}})

    async def sign_credential(self, credential: dict, *, proof_type: str) -> dict:
        """A credential signed by the agent outright (no exchange): its issuer DID must be in the wallet."""
        signed = await self.request("POST", "/vc/credentials/issue", json={
            "credential": credential, "options": {"proofType": proof_type, "created": proof_created_timestamp()}})
        return signed["verifiableCredential"]

    async def credential_exchange(self, cred_ex_id: str) -> dict:
        return await self.request("GET", f"/issue-credential-2.0/records/{cred_ex_id}")

    async def send_proof_request(self, connection_id: str, definition: dict, *, challenge: str, domain: str) -> dict:
        """present-proof v2 with a DIF presentation definition. The presentation is verified by
        `verify_presentation` and then acked or refused by the controller (no auto_verify: ACA-Py would ack it
        on its own signature check, before ours)."""
        return await self.request("POST", "/present-proof-2.0/send-request", json={
            "connection_id": connection_id, "auto_verify": False, "auto_remove": False,
            "presentation_request": {"dif": {"options": {"challenge": challenge, "domain": domain},
                                             "presentation_definition": definition}}})

    async def presentation_exchange(self, pres_ex_id: str) -> dict:
        return await self.request("GET", f"/present-proof-2.0/records/{pres_ex_id}")

    async def verify_presentation(self, pres_ex_id: str) -> dict:
        """ACA-Py's check of a received presentation, without telling the wallet (our plugin's route): the
        record moves to `done` with `verified`; 409 when it is not `presentation-received` (already verified)."""
        return await self.request("POST", f"/fitmint/present-proof/{pres_ex_id}/verify")

    async def acknowledge_presentation(self, pres_ex_id: str) -> None:
        """The wallet's ack for a presentation we accepted (our plugin's route)."""
        await self.request("POST", f"/fitmint/present-proof/{pres_ex_id}/ack")

    async def withdraw(self, kind: str, record_id: str, reason: str) -> None:
        """Abandons an offer (`issue`) or a proof request (`present`): the agent sends the holder an RFC 0035
        problem-report (code `abandoned`, `reason` as its text) on the record's thread, and the holder's
        record ends abandoned with that reason; ours too (its webhook says `abandoned`)."""
        path = {"issue": "/issue-credential-2.0/records", "present": "/present-proof-2.0/records"}[kind]
        await self.request("POST", f"{path}/{record_id}/problem-report", json={"description": reason})

    async def send_message(self, connection_id: str, content: str) -> None:
        await self.request("POST", f"/connections/{connection_id}/send-message", json={"content": content})
