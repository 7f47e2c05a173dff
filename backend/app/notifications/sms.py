"""SMS through a provider interface. The one provider so far, `log`, is the dev/test sink: one JSON line
per message appended to `settings.sms_sink()` (its folder 0700, the file 0600) and a log line. A real
gateway implements `SmsProvider` and is named in `sms_provider(settings)`."""

import asyncio
import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

import orjson

from backend.app.core.config import Settings

log = logging.getLogger("notifications.sms")

SEGMENT_GSM7 = 160   # one SMS: 160 characters of the GSM 03.38 alphabet ...
SEGMENT_UCS2 = 70    # ... or 70 of anything else (one non-GSM character switches the whole text to UCS-2)
_GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM7_EXTENDED = set("^{}\\[~]|€\f")  # two septets each (escape + character)


class SmsError(Exception):
    """A provider's refusal. `permanent`: the number or text is refused (retrying cannot help)."""

    def __init__(self, reason: str, *, permanent: bool):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@runtime_checkable
class SmsProvider(Protocol):
    async def send(self, to: str, text: str) -> str:
        """Sends `text` to the E.164 number `to`; returns the provider's message id. Raises SmsError."""
        ...


def _length(text: str) -> tuple[int, int]:
    """(length in the text's encoding units, the limit of one message for that encoding)."""
    if all(c in _GSM7 or c in _GSM7_EXTENDED for c in text):
        return sum(2 if c in _GSM7_EXTENDED else 1 for c in text), SEGMENT_GSM7
    return len(text), SEGMENT_UCS2


def fit_message(text: str) -> str:
    """`text` fitted to one SMS: whitespace collapsed, cut at a word boundary with "..." when too long
    (160 GSM characters; 70 if it needs UCS-2, e.g. an emoji or a Cyrillic name)."""
    text = " ".join(text.split())
    size, limit = _length(text)
    if size <= limit:
        return text
    budget = limit - 3
    cut = ""
    for i in range(min(len(text), budget), 0, -1):  # the longest prefix that fits (extended count twice)
        if _length(text[:i])[0] <= budget:
            cut = text[:i]
            break
    if " " in cut[len(cut) // 2:]:  # prefer a word boundary unless it throws away more than half
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" .,;:-") + "..."


class LogSmsProvider:
    """Appends {"id", "to", "text", "at"} as one JSON line to `sink` (one write per line, O_APPEND, so
    concurrent senders do not interleave) and logs it."""

    def __init__(self, sink: Path):
        self.sink = sink
        sink.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(sink.parent, 0o700)

    async def send(self, to: str, text: str) -> str:
        if not to.startswith("+") or not to[1:].isdigit():
            raise SmsError(f"not an E.164 number: {to!r}", permanent=True)
        message_id = f"log-{uuid.uuid4()}"
        line = orjson.dumps({"id": message_id, "to": to, "text": text,
                             "at": datetime.now(UTC).isoformat()}) + b"\n"
        try:
            await asyncio.to_thread(self._append, line)
        except OSError as exc:
            raise SmsError(f"cannot write the SMS sink {self.sink}: {exc}", permanent=False) from exc
        log.info("sms %s to %s: %s", message_id, to, text)
        return message_id

    def _append(self, line: bytes) -> None:
        fd = os.open(self.sink, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


PROVIDERS = {"log": lambda settings: LogSmsProvider(settings.sms_sink())}


def sms_provider(settings: Settings) -> SmsProvider:
    """The provider named by `settings.sms_provider`; an unknown name is refused at start-up."""
    factory = PROVIDERS.get(settings.sms_provider)
    if factory is None:
        raise ValueError(f"unknown SMS provider {settings.sms_provider!r} (SMS_PROVIDER); "
                         f"known: {', '.join(sorted(PROVIDERS))}")
    return factory(settings)
