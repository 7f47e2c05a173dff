"""The HTTP session with the API: the bearer token, one refresh and one retry on a 401, waiting out a
429 as its Retry-After says (a bounded number of times), and error answers as FitmintApiError."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from fitmint_client.errors import FitmintApiError


@dataclass
class Tokens:
    """The signed-in session: a short-lived access token and the rotating refresh token."""

    access_token: str
    refresh_token: str | None = None


class Session:
    def __init__(self, api_url: str, *, client: httpx.Client | None = None, timeout: float = 30,
                 max_retries: int = 3, max_retry_wait: float = 65, sleep: Callable[[float], None] = time.sleep):
        """`client`: an httpx.Client to send with (its base_url is set to `api_url` if it has none);
        `max_retries`: how many times a 429 is waited out; `max_retry_wait`: the longest Retry-After
        honoured (longer: the 429 is raised at once)."""
        self.api_url = api_url.rstrip("/")
        self.client = client or httpx.Client(timeout=timeout)
        self._own_client = client is None
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.sleep = sleep
        self.tokens: Tokens | None = None

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.api_url + path

    def request(self, method: str, path: str, *, auth: bool = False, params: dict | None = None,
                json=None, headers: dict | None = None, ok: tuple[int, ...] = ()) -> httpx.Response:
        """Sends a request (with the access token when `auth`); returns a 2xx answer or one of `ok`,
        raises FitmintApiError otherwise. A 401 with a refresh token at hand refreshes once and retries."""
        params = {key: value for key, value in (params or {}).items() if value is not None}
        response = self._send(method, path, auth, params, json, headers)
        if response.status_code == 401 and auth and self.tokens is not None and self.tokens.refresh_token:
            self.refresh()
            response = self._send(method, path, auth, params, json, headers)
        if response.is_success or response.status_code in ok:
            return response
        raise api_error(response)

    def get_json(self, path: str, *, auth: bool = False, params: dict | None = None):
        return self.request("GET", path, auth=auth, params=params).json()

    def refresh(self) -> Tokens:
        """Exchanges the refresh token for a new pair (the old refresh token stops working)."""
        if self.tokens is None or not self.tokens.refresh_token:
            raise FitmintApiError(401, "not signed in: sign in first (no refresh token to use)")
        response = self._send("POST", "/auth/refresh", False, {}, {"refresh_token": self.tokens.refresh_token}, None)
        if not response.is_success:
            error = api_error(response)
            if error.status == 401:
                self.tokens = None
                raise FitmintApiError(401, f"the session has ended ({error.detail}): sign in again",
                                      body=error.body)
            raise error
        body = response.json()
        self.tokens = Tokens(body["access_token"], body["refresh_token"])
        return self.tokens

    def _send(self, method, path, auth, params, json, headers) -> httpx.Response:
        for attempt in range(self.max_retries + 1):
            sent_headers = dict(headers or {})
            if auth:
                if self.tokens is None:
                    raise FitmintApiError(401, "not signed in: call sign_in(wallet) first")
                sent_headers["Authorization"] = f"Bearer {self.tokens.access_token}"
            response = self.client.request(method, self.url(path), params=params, json=json, headers=sent_headers)
            if response.status_code != 429 or attempt == self.max_retries:
                return response
            wait = retry_after(response)
            if wait > self.max_retry_wait:
                return response
            self.sleep(wait)
        raise AssertionError("unreachable")


def retry_after(response: httpx.Response, default: float = 1.0) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return default
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return default


def api_error(response: httpx.Response) -> FitmintApiError:
    """The answer's reason in words: FastAPI's `detail` as a string, as a refused workout's message and
    findings, or as validation errors (each field named)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return FitmintApiError(response.status_code, detail, body=body)
    if isinstance(detail, dict):
        reasons = [item.get("reason", str(item)) for item in detail.get("rejections", []) if isinstance(item, dict)]
        return FitmintApiError(response.status_code, str(detail.get("message", detail)), reasons, body=body)
    if isinstance(detail, list):
        reasons = [_validation_reason(item) for item in detail]
        return FitmintApiError(response.status_code, "the request was refused: " + "; ".join(reasons), reasons,
                               body=body)
    text = response.text.strip()[:500] or response.reason_phrase
    return FitmintApiError(response.status_code, text, body=body)


def _validation_reason(item) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc", []) if part not in ("body", "query", "path"))
    return f"{where}: {item.get('msg', item)}" if where else str(item.get("msg", item))
