"""Email over SMTP (aiosmtplib): composes a notification's message (plain text + HTML alternative, the
HTML with its inline images in a multipart/related part, a Message-ID derived from the notification id)
and sends batches over one connection.

A failed send is a `SendError` saying whether a retry is safe:
- `permanent=False` (retry later): the server answered 4xx, or the connection failed before the message
  data was handed over (refused, timed out, dropped during the envelope);
- `permanent=True`: the server answered 5xx, the address cannot be used, or the connection broke while
  the message data was in flight (the server may have accepted it: retrying could send it twice, and
  delivery is at most once).
"""

import email.policy
import logging
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
from aiosmtplib.email import flatten_message

from backend.app.core.config import Settings
from backend.app.notifications import templates
from fitmint import secrets

log = logging.getLogger("notifications.email")
TIMEOUT_SECONDS = 30.0


class SendError(Exception):
    def __init__(self, reason: str, *, permanent: bool, connection_lost: bool = False, unreachable: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.connection_lost = connection_lost  # the next message needs a new connection
        self.unreachable = unreachable  # no session could be opened: every message of the batch would fail


class EmailSender:
    """Builds messages and opens SMTP connections with the settings' server, account and sender."""

    def __init__(self, settings: Settings, *, timeout: float = TIMEOUT_SECONDS):
        self.settings = settings
        self.timeout = timeout
        name, address = parseaddr(settings.mail_from)
        if "@" not in address:
            raise ValueError(f"mail_from {settings.mail_from!r} has no address")
        self.sender = address
        self.domain = address.rpartition("@")[2]
        self.password = secrets.read(settings.smtp_password_file) if settings.smtp_password_file else None

    def message_id(self, notification_id) -> str:
        """Deterministic: the same notification always has the same Message-ID (a receiving system can
        drop a duplicate; a correction refers to the email it corrects)."""
        return f"<{notification_id}@{self.domain}>"

    def compose(self, notification: dict, to: str) -> EmailMessage:
        """`notification`: id, kind, title, body, data (dict), corrects, created_at."""
        rendered = templates.render_email(notification)
        message = EmailMessage(policy=email.policy.SMTP)
        message["From"] = self.settings.mail_from
        try:
            message["To"] = Address(addr_spec=to)
        except (ValueError, IndexError) as exc:  # the header parser's refusals of an unusable address
            raise SendError(f"bad address {to!r}: {exc}", permanent=True) from exc
        message["Subject"] = rendered.subject
        message["Message-ID"] = self.message_id(notification["id"])
        if notification.get("created_at") is not None:
            message["Date"] = format_datetime(notification["created_at"])
        if notification.get("corrects"):
            message["In-Reply-To"] = message["References"] = self.message_id(notification["corrects"])
        message["Auto-Submitted"] = "auto-generated"
        message["X-Fitmint-Kind"] = str(notification["kind"])
        message.set_content(rendered.text, cte="quoted-printable")
        message.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
        html = message.get_body(preferencelist=("html",))
        for image in rendered.images:  # the HTML part becomes multipart/related: the HTML, then each image
            html.add_related(image.png, maintype="image", subtype="png", cid=f"<{image.cid}>",
                             filename=image.filename, disposition="inline")
        return message

    def connection(self) -> "SmtpConnection":
        return SmtpConnection(self)


class SmtpConnection:
    """One SMTP session for a batch: connects on the first send, reconnects after a lost connection,
    QUIT on exit. `async with sender.connection() as smtp: await smtp.send(message)`."""

    def __init__(self, sender: EmailSender):
        self.sender = sender
        self.client: aiosmtplib.SMTP | None = None

    async def __aenter__(self) -> "SmtpConnection":
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None and client.is_connected:
            try:
                await client.quit(timeout=5)
            except (aiosmtplib.SMTPException, OSError):
                client.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        settings = self.sender.settings
        client = aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port,
                                 start_tls=settings.smtp_starttls, timeout=self.sender.timeout,
                                 local_hostname=self.sender.domain)
        try:
            await client.connect()
            if settings.smtp_username:
                await client.login(settings.smtp_username, self.sender.password or "")
        except aiosmtplib.SMTPAuthenticationError as exc:
            client.close()
            raise SendError(f"SMTP login refused: {exc.code} {exc.message}", permanent=False,
                            connection_lost=True, unreachable=True) from exc
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            raise SendError(f"SMTP server refused the session: {exc.code} {exc.message}",
                            permanent=False, connection_lost=True, unreachable=True) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise SendError(f"cannot reach SMTP server {settings.smtp_host}:{settings.smtp_port}: {exc!r}",
                            permanent=False, connection_lost=True, unreachable=True) from exc
        return client

    async def send(self, message: EmailMessage) -> str:
        """Sends one message to its To address; returns the server's answer to the data (often its
        queue id). Raises SendError."""
        if self.client is None or not self.client.is_connected:
            self.client = None
            self.client = await self._connect()
        client = self.client
        recipient = message["To"].addresses[0].addr_spec
        try:
            content = flatten_message(message, utf8=False, cte_type="7bit")
        except (ValueError, UnicodeError) as exc:
            raise SendError(f"message cannot be encoded: {exc}", permanent=True) from exc
        try:  # the envelope: nothing is delivered until the data is accepted, so any failure may retry
            await client.mail(self.sender.sender)
            await client.rcpt(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            raise await self._refused(exc) from exc
        except ValueError as exc:  # aiosmtplib refuses addresses it cannot quote safely
            await self._reset()
            raise SendError(f"bad address {recipient!r}: {exc}", permanent=True) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self._drop()
            raise SendError(f"SMTP connection lost before the message data: {exc!r}", permanent=False,
                            connection_lost=True) from exc
        try:
            response = await client.data(content)
        except aiosmtplib.SMTPResponseException as exc:  # a definite answer: the server did not take it
            raise await self._refused(exc) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self._drop()
            raise SendError(f"SMTP connection lost while the message data was in flight ({exc!r}); "
                            "the server may have accepted it, so it is not resent (at most once)",
                            permanent=True, connection_lost=True) from exc
        return response.message

    async def _refused(self, exc: aiosmtplib.SMTPResponseException) -> SendError:
        error = _refusal(exc)
        if error.connection_lost:
            await self._drop()
        else:
            await self._reset()
        return error

    async def _reset(self) -> None:
        """RSET after a refused transaction so the next message starts a clean envelope."""
        if self.client is None:
            return
        try:
            await self.client.rset(timeout=5)
        except (aiosmtplib.SMTPException, OSError):
            await self._drop()

    async def _drop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()


def _refusal(exc: aiosmtplib.SMTPResponseException) -> SendError:
    text = f"SMTP {exc.code} {exc.message}"
    if exc.code == 421:  # service closing the channel: the session is over, try again later
        return SendError(text, permanent=False, connection_lost=True)
    return SendError(text, permanent=exc.code >= 500)
