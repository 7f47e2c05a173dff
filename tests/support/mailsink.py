"""A real SMTP server for tests: aiosmtpd on a free loopback port, keeping every message it accepts."""

import asyncio
from contextlib import contextmanager
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

from tests.support.processes import free_port


class Mailbox:
    """An aiosmtpd handler keeping what it accepted; `answers[address]` scripts RCPT replies first."""

    def __init__(self):
        self.messages = []  # (peer, mail_from, rcpt_tos, parsed message)
        self.answers: dict[str, list[str]] = {}
        self.drop_after_data: set[str] = set()  # take the message, then hang up before answering
        self.answer_delay = 0.0  # seconds between taking a message and answering its data (a slow server)
        self.port: int | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        scripted = self.answers.get(address)
        if scripted:
            return scripted.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((session.peer, envelope.mail_from, list(envelope.rcpt_tos), parsed))
        if self.drop_after_data & set(envelope.rcpt_tos):
            server.transport.close()
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        return "250 2.0.0 queued"

    def to(self, address: str) -> list:
        return [m for _, _, rcpt, m in self.messages if address in rcpt]


@contextmanager
def serving_mailbox():
    """A Mailbox behind a running SMTP server; its `port` is where to send."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    mailbox.port = controller.port
    try:
        yield mailbox
    finally:
        controller.stop()
