"""The member's notifications: the inbox over HTTP (pages, an iterator over all of them, marking read) and
live ones over the WebSocket /notifications/ws (unread backlog first, then new ones as they are stored)."""

import json
import time
from collections.abc import Iterator, Sequence

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from fitmint_client import validate
from fitmint_client.errors import FitmintApiError, FitmintError, FitmintInputError
from fitmint_client.http import Session
from fitmint_client.models import Notification, NotificationsPage
from fitmint_client.paging import walk

TOKEN_REFUSED = 4401  # the server's close code for an expired or revoked access token


class Notifications:
    def __init__(self, session: Session):
        self.session = session

    def list(self, *, unread: bool = False, limit: int = 50, cursor: str | None = None) -> NotificationsPage:
        """One page of the inbox, newest first (`unread`: only the unread)."""
        return NotificationsPage.model_validate(self.session.get_json(
            "/notifications", auth=True,
            params={"unread": "true" if unread else None, "limit": validate.page_size(limit), "cursor": cursor}))

    def iterate(self, *, unread: bool = False, page_size: int = 50) -> Iterator[Notification]:
        return walk(self.list, unread=unread, limit=page_size)

    def mark_read(self, ids: Sequence[str] | None = None, *, all: bool = False) -> int:
        """Marks the listed notifications (or `all`) read; returns how many changed."""
        if (ids is None) == (not all):
            raise FitmintInputError("give either ids or all=True")
        body = {"all": True} if all else {"ids": list(ids)}
        return self.session.request("POST", "/notifications/read", auth=True, json=body).json()["updated"]

    def live(self, *, idle_timeout: float | None = None, reconnects: int = 5) -> "LiveNotifications":
        """Live notifications: `with client.notifications.live(idle_timeout=10) as live: for n in live: ...`.
        Iteration ends after `idle_timeout` seconds without a message (None: never) or on close()."""
        return LiveNotifications(self.session, idle_timeout=idle_timeout, reconnects=reconnects)


class LiveNotifications:
    """The WebSocket as an iterator of Notification. A connection closed because the access token expired
    is reopened after a refresh; other drops are reopened with a growing pause, `reconnects` times at most
    in a row. On reconnecting, the server sends the unread backlog again (already yielded ones are skipped)."""

    def __init__(self, session: Session, *, idle_timeout: float | None, reconnects: int):
        self.session = session
        self.idle_timeout = idle_timeout
        self.reconnects = reconnects
        self.unread_at_start: int | None = None
        self._socket: ClientConnection | None = None
        self._seen: set[str] = set()
        self._closed = False

    def __enter__(self) -> "LiveNotifications":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __iter__(self) -> Iterator[Notification]:
        failures = 0
        while not self._closed:
            try:
                if self._socket is None:
                    self._socket = self._open()
                raw = self._socket.recv(timeout=self.idle_timeout)
            except TimeoutError:
                return
            except ConnectionClosed as closed:
                self._socket = None
                if self._closed:
                    return
                if closed.rcvd is not None and closed.rcvd.code == TOKEN_REFUSED:
                    self.session.refresh()  # raises when the session has ended: nothing to reconnect with
                failures += 1
                if failures > self.reconnects:
                    raise FitmintError(f"the notifications socket closed {failures} times in a row "
                                       f"(last: {closed}); giving up") from closed
                time.sleep(min(10.0, 0.5 * 2 ** (failures - 1)))
                continue
            failures = 0
            message = json.loads(raw)
            if message.get("type") == "ready":
                self.unread_at_start = message.get("unread")
            elif message.get("type") == "notification" and message.get("id") not in self._seen:
                self._seen.add(message["id"])
                yield Notification.model_validate(message)

    def _open(self) -> ClientConnection:
        if self.session.tokens is None:
            raise FitmintApiError(401, "not signed in: call sign_in(wallet) first")
        url = self.session.url("/notifications/ws").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        headers = {"Authorization": f"Bearer {self.session.tokens.access_token}"}
        try:
            return connect(url, additional_headers=headers, open_timeout=10)
        except InvalidStatus as exc:
            raise FitmintApiError(exc.response.status_code, f"the notifications socket was refused: {exc}") from exc
