"""Admin routes ACA-Py 1.7 lacks: two send RFC 0035 problem-reports a wallet receives, two let the controller
answer a presentation with an ack or a problem-report, never both.

POST /fitmint/didexchange/{conn_id}/refuse {"reason": ...}: refuses a DID Exchange request with a
problem-report the requester receives.

ACA-Py 1.7's own `POST /didexchange/{conn_id}/reject` abandons our record but cannot deliver its report for a
request received on an invitation: the record has no DID of ours yet, so the agent finds no target ("Cannot
queue message for delivery, no supported transport") and the requester waits in `request-sent` forever; the
report carries no thread either, so a requester could not tie it to its request. This route threads the report
on the request (thid = the request's id, pthid = the invitation's, which is how a wallet finds its connection),
sends it to the requester's DID document (recorded from its request) from the invitation's key (which the
requester encrypted its request to), and abandons our record with the reason, like `reject`.

POST /fitmint/connections/{conn_id}/problem-report {"reason", "code", "thid", "pthid"}: a generic problem-report
(report-problem 1.0) over an active connection, on a thread the controller names: for refusals of messages
ACA-Py handled without one (an out-of-band handshake reuse it accepted on its own). The wallet's agent
gets it as a problem-report of that thread (ACA-Py: its `problem_report` webhook).

POST /fitmint/present-proof/{pres_ex_id}/verify: ACA-Py's own check of a received presentation (signatures,
challenge, definition) without the ack that `/present-proof-2.0/records/{id}/verify-presentation` sends at
once: the record moves to `done` with `verified` (its webhook runs the controller's checks), and the wallet
hears nothing yet. POST /fitmint/present-proof/{pres_ex_id}/ack: the ack, once the controller accepted the
presentation (a refused one gets a problem-report instead: `/present-proof-2.0/records/{id}/problem-report`).
ACA-Py 1.7 always asks a wallet to confirm and acks on its own check, before the controller's checks (issuer
trusted, not revoked, claims, holder) have run: a wallet was told "verified" and then "refused".
"""

from acapy_agent.admin.decorators.auth import tenant_authentication
from acapy_agent.admin.request_context import AdminRequestContext
from acapy_agent.connections.base_manager import BaseConnectionManager
from acapy_agent.connections.models.conn_record import ConnRecord
from acapy_agent.messaging.models.openapi import OpenAPISchema
from acapy_agent.protocols.didexchange.v1_0.message_types import DIDEX_1_0
from acapy_agent.protocols.didexchange.v1_0.messages.problem_report import (
    DIDXProblemReport,
    ProblemReportReason,
)
from acapy_agent.protocols.present_proof.v2_0.manager import V20PresManager
from acapy_agent.protocols.present_proof.v2_0.messages.pres_format import V20PresFormat
from acapy_agent.protocols.present_proof.v2_0.models.pres_exchange import V20PresExRecord
from acapy_agent.protocols.problem_report.v1_0.message import ProblemReport
from acapy_agent.storage.error import StorageError, StorageNotFoundError
from aiohttp import web
from aiohttp_apispec import docs, match_info_schema, request_schema
from marshmallow import fields


class RefuseMatchInfoSchema(OpenAPISchema):
    conn_id = fields.Str(required=True, metadata={"description": "Connection identifier"})


class RefuseRequestSchema(OpenAPISchema):
    reason = fields.Str(required=True, metadata={"description": "What the requester's wallet shows"})


@docs(tags=["fitmint"], summary="Refuse a received DID Exchange request with a delivered, threaded problem-report")
@match_info_schema(RefuseMatchInfoSchema())
@request_schema(RefuseRequestSchema())
@tenant_authentication
async def refuse_request(request: web.BaseRequest):
    context: AdminRequestContext = request["context"]
    send = request["outbound_message_router"]
    reason = (await request.json()).get("reason") or "DID exchange request not accepted"
    profile = context.profile
    try:
        async with profile.session() as session:
            connection = await ConnRecord.retrieve_by_id(session, request.match_info["conn_id"])
            if connection.rfc23_state != ConnRecord.State.REQUEST.rfc23 + "-received":
                raise web.HTTPBadRequest(reason=f"cannot refuse a connection in state {connection.rfc23_state}")
            didx_request = await connection.retrieve_request(session)
    except StorageNotFoundError as err:
        raise web.HTTPNotFound(reason=err.roll_up) from err
    except StorageError as err:
        raise web.HTTPBadRequest(reason=err.roll_up) from err

    report = DIDXProblemReport(description={"code": ProblemReportReason.REQUEST_NOT_ACCEPTED.value, "en": reason})
    report.assign_thread_from(didx_request)
    if connection.connection_protocol == DIDEX_1_0:
        report.assign_version("1.0")
    targets = await BaseConnectionManager(profile).resolve_connection_targets(
        connection.their_did, sender_verkey=connection.invitation_key, their_label=connection.their_label)
    async with profile.session() as session:
        await connection.abandon(session, reason=reason)
    if not targets:
        raise web.HTTPBadRequest(reason=f"no way to reach {connection.their_did}: refused, but not told")
    await send(report, target_list=targets)
    return web.json_response(connection.serialize())


class ReportRequestSchema(OpenAPISchema):
    reason = fields.Str(required=True, metadata={"description": "What the wallet shows"})
    code = fields.Str(required=True, metadata={"description": "A machine-readable code"})
    thid = fields.Str(required=True, metadata={"description": "The thread refused"})
    pthid = fields.Str(required=False, metadata={"description": "Its parent thread (an invitation)"})


@docs(tags=["fitmint"], summary="Send a problem-report on a thread of an active connection")
@match_info_schema(RefuseMatchInfoSchema())
@request_schema(ReportRequestSchema())
@tenant_authentication
async def report_problem(request: web.BaseRequest):
    context: AdminRequestContext = request["context"]
    body = await request.json()
    try:
        async with context.profile.session() as session:
            connection = await ConnRecord.retrieve_by_id(session, request.match_info["conn_id"])
    except StorageNotFoundError as err:
        raise web.HTTPNotFound(reason=err.roll_up) from err
    if not connection.is_ready:
        raise web.HTTPBadRequest(reason=f"connection {connection.connection_id} is {connection.state}, not active")
    report = ProblemReport(description={"en": body["reason"], "code": body["code"]})
    report.assign_thread_id(thid=body["thid"], pthid=body.get("pthid"))
    await request["outbound_message_router"](report, connection_id=connection.connection_id)
    return web.json_response({"thread_id": body["thid"]})


class PresExMatchInfoSchema(OpenAPISchema):
    pres_ex_id = fields.Str(required=True, metadata={"description": "Presentation exchange identifier"})


async def _presentation(profile, pres_ex_id: str, state: str) -> V20PresExRecord:
    try:
        async with profile.session() as session:
            record = await V20PresExRecord.retrieve_by_id(session, pres_ex_id)
    except StorageNotFoundError as err:
        raise web.HTTPNotFound(reason=err.roll_up) from err
    if record.state != state:
        raise web.HTTPConflict(reason=f"presentation exchange {pres_ex_id} is {record.state}, not {state}")
    return record


@docs(tags=["fitmint"], summary="Verify a received presentation without acking it")
@match_info_schema(PresExMatchInfoSchema())
@tenant_authentication
async def verify_presentation(request: web.BaseRequest):
    profile = request["context"].profile
    record = await _presentation(profile, request.match_info["pres_ex_id"],
                                 V20PresExRecord.STATE_PRESENTATION_RECEIVED)
    for requested in record.pres_request.formats:  # as V20PresManager.verify_pres, less its ack
        pres_format = V20PresFormat.Format.get(requested.format)
        if pres_format:
            record = await pres_format.handler(profile).verify_pres(record)
            if record.verified == "false":
                break
    record.state = V20PresExRecord.STATE_DONE
    async with profile.session() as session:
        await record.save(session, reason="verified (fitmint: the controller acks or reports)")
    return web.json_response(record.serialize())


@docs(tags=["fitmint"], summary="Ack a verified presentation the controller accepted")
@match_info_schema(PresExMatchInfoSchema())
@tenant_authentication
async def ack_presentation(request: web.BaseRequest):
    profile = request["context"].profile
    record = await _presentation(profile, request.match_info["pres_ex_id"], V20PresExRecord.STATE_DONE)
    if record.verified != "true":
        raise web.HTTPConflict(reason=f"presentation exchange {record.pres_ex_id} was not verified")
    await V20PresManager(profile).send_pres_ack(record)  # through the agent's responder, as ACA-Py's own ack
    return web.json_response({"pres_ex_id": record.pres_ex_id, "thread_id": record.thread_id})


async def register(app: web.Application):
    app.add_routes([web.post("/fitmint/didexchange/{conn_id}/refuse", refuse_request),
                    web.post("/fitmint/connections/{conn_id}/problem-report", report_problem),
                    web.post("/fitmint/present-proof/{pres_ex_id}/verify", verify_presentation),
                    web.post("/fitmint/present-proof/{pres_ex_id}/ack", ack_presentation)])


def post_process_routes(app: web.Application):
    app._state["swagger_dict"].setdefault("tags", []).append(
        {"name": "fitmint", "description": "fitmint's plugin (agent/acapy_plugin)"})
