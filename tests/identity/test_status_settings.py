"""The status lists' base URL (IDENTITY_STATUS_BASE_URL) is checked when the settings load: every credential
names it for good, and verifiers fetch status lists over https only."""

import pytest
from pydantic import ValidationError

from backend.app.core.config import Settings


@pytest.mark.parametrize("base", ["https://status.example", "https://fitmint.example/api", "http://127.0.0.1:8000",
                                  "http://localhost:8000", "http://[::1]:8000"])
def test_https_or_loopback_is_accepted(base):
    settings = Settings(identity_status_base_url=base)
    assert settings.identity_status_url() == base + "/identity/status"


@pytest.mark.parametrize("base", ["http://status.example", "http://10.0.0.7:8000", "ftp://status.example",
                                  "status.example", "https://", "https://status.example/?list=1",
                                  "https://status.example/#x"])
def test_anything_else_stops_the_start_with_the_reason(base):
    with pytest.raises(ValidationError, match="identity_status_base_url, default siwe_uri.*must be an https URL"):
        Settings(identity_status_base_url=base)


def test_the_default_is_the_sign_in_origin_and_follows_the_same_rule():
    assert Settings(siwe_uri="https://app.example", identity_status_base_url=None).identity_status_url() == (
        "https://app.example/identity/status")
    with pytest.raises(ValidationError, match="status list base URL 'http://app.example'"):
        Settings(siwe_uri="http://app.example", oauth_issuer="https://app.example", identity_status_base_url=None)
