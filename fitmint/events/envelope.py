"""The CloudEvents 1.0 structured-mode JSON envelope every event travels in, written and read."""

from datetime import UTC, datetime

import msgspec

SPEC_VERSION = "1.0"


def source(chain_id: int, producer: str = "indexer") -> str:
    return f"/fitmint/{producer}/chain/{chain_id}"


def envelope(*, id, ce_type: str, chain_id: int, subject: str, time: datetime | None, data,
             producer: str = "indexer", traceparent: str | None = None) -> bytes:
    """The CloudEvents structured-mode JSON of one event. `data`: a payload Struct, a dict, or its JSON
    already encoded (msgspec.Raw). `traceparent`: the trace the event continues (CloudEvents'
    distributed-tracing extension attribute of that name), if it was published in one."""
    document = {
        "specversion": SPEC_VERSION,
        "id": str(id),
        "source": source(chain_id, producer),
        "type": ce_type,
        "subject": subject,
        "datacontenttype": "application/json",
        "data": data,
    }
    if traceparent is not None:
        document["traceparent"] = traceparent
    if time is not None:
        document["time"] = time.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return msgspec.json.encode(document)


class CloudEvent(msgspec.Struct, frozen=True):
    """A received envelope; `data` stays encoded until the catalogue decodes it for its type."""
    id: str
    type: str
    source: str = ""
    specversion: str = SPEC_VERSION
    subject: str | None = None
    time: str | None = None
    datacontenttype: str | None = None
    traceparent: str | None = None  # the distributed-tracing extension: the trace that published it
    data: msgspec.Raw = msgspec.Raw(b"null")


_ENVELOPE = msgspec.json.Decoder(CloudEvent)


def parse(value: bytes) -> CloudEvent:
    """The envelope of a Kafka record's value; msgspec.DecodeError (a ValueError) if it is not one."""
    return _ENVELOPE.decode(value)
