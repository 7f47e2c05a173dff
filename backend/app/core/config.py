"""The API's settings: environment variables with dev defaults; secrets from files outside git."""

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from authlib.common.security import is_secure_transport
from pydantic import Field, IPvAnyNetwork, field_validator, model_validator
from pydantic_settings import NoDecode

from backend.app.auth.keyring import key_files
from backend.app.core.cors import origin_problem
from fitmint import secrets
from fitmint.keys import KeySettings
from fitmint.settings import KernelSettings, default


class Settings(KernelSettings, KeySettings):
    redis_host: str = "127.0.0.1"
    redis_port: int = int(default("REDIS_PORT"))
    backend_database: str = default("BACKEND_DATABASE")  # users, fitness, vouchers, the API's outbox
    relay_enabled: bool = True  # publish the API's outbox to Kafka (one replica at a time: advisory lock)

    # How long the API waits on PostgreSQL (a connection attempt, a query) and on Redis (a command) before the
    # request answers 504 naming it: a stalled dependency must not hold requests (and connections) forever.
    postgres_timeout_seconds: float = 10.0
    redis_timeout_seconds: float = 5.0

    # Tenancy: sign-in names a tenant; this one is created on start so a fresh stack has one.
    default_tenant: str = "fitmint"

    # Sign-In with Ethereum: what a message must name to be accepted here.
    siwe_domain: str = "localhost:8000"
    siwe_uri: str = "http://localhost:8000"
    siwe_nonce_ttl_seconds: int = 300
    siwe_statement: str | None = None  # the statement a wallet's message carries, if this API wants one

    # Browsers: the origins (scheme://host[:port]) whose pages may call the API (CORS_ORIGINS, comma-separated
    # or a JSON list). Default: none, only same-origin pages (the dApp served at /app/) and non-browser clients.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    cors_max_age_seconds: int = 600

    # The client surface: the RPC URL GET /chain gives wallets (default: the node the API itself uses),
    # how long a purchase quote's permit stays valid, and the reference dApp's build served at /app/.
    public_rpc_url: str | None = None
    quote_ttl_seconds: int = 1800
    dapp_dir: Path = Path(__file__).resolve().parents[3] / "clients" / "dapp" / "dist"

    # Requests per window and caller IP on the sign-in endpoints.
    rate_limit_auth: int = 30
    rate_limit_auth_window_seconds: int = 60

    # Requests per window and service client on the OAuth endpoints (token, introspection, revocation), once
    # the client has authenticated; failed authentications count per IP in the sign-in limit above.
    rate_limit_oauth: int = 600
    rate_limit_oauth_window_seconds: int = 60

    # Requests per window and signed-in account on every authenticated endpoint.
    rate_limit_account: int = 600
    rate_limit_account_window_seconds: int = 60

    # Requests per window and caller IP on purchase quotes (public reads of the chain).
    rate_limit_quote: int = 120
    rate_limit_quote_window_seconds: int = 60

    # Requests per window and caller IP on what anyone may read without signing in (wallets, the chain,
    # marketplace listings, reward epochs, the catalog).
    rate_limit_public: int = 600
    rate_limit_public_window_seconds: int = 60

    # The proxies whose X-Forwarded-For is believed (TRUSTED_PROXIES: IPs or CIDRs, comma-separated, e.g.
    # "10.0.0.0/8,192.168.1.7"). A request from one of them is the client's nearest address in the header
    # that is not itself a trusted proxy; anyone else's header is ignored. Default: none, the peer is the
    # client. (uvicorn runs with --no-proxy-headers: its own default would trust 127.0.0.1.)
    trusted_proxies: Annotated[tuple[IPvAnyNetwork, ...], NoDecode] = ()
    max_body_bytes: int = 64 * 1024
    # The access log (backend/app/core/access_log.py): "writes" (writes, errors and slow requests), "all", "off".
    access_log: str = "writes"
    slow_request_seconds: float = 0.5
    # Of the reads that arrive without a traceparent, the share traced (writes always are, and a caller's
    # sampled traceparent always is: backend/app/core/observe.py). A traced read costs ~4x its CPU with the
    # export of its spans (measured on the balance endpoint: 1% of reads traced added 5% to every read's
    # CPU); 1 in 1,000 still records several reads a second at the rates where it matters.
    trace_read_ratio: float = 0.001
    # The API's RED metrics per route (backend/app/core/http_metrics.py); off: the benchmark's baseline.
    http_metrics_enabled: bool = True

    # The recommendation service (recommend/service.py) and how long a tenant's products on sale are cached
    # between reads (a new or sold-out listing shows in recommendations within that time).
    recommend_url: str = f"http://127.0.0.1:{default('RECOMMEND_PORT')}"
    recommend_timeout_seconds: float = 2.0
    recommend_catalog_ttl_seconds: float = 5.0

    # Authorization: the Open Policy Agent beside this process (backend/app/core/opa.py), over its unix socket
    # (default: unix://<state>/run/opa.sock, what `make up` starts) or http://127.0.0.1:<port>. No decision
    # within `opa_timeout_seconds`: the request answers 504 naming opa (fail closed). Every
    # `opa_sync_seconds` the API checks that its OPA holds the tenants' policies as PostgreSQL has them
    # (backend/app/tenant_policy/sync.py): a tightening made on another replica applies here within that time.
    opa_url: str | None = None
    opa_timeout_seconds: float = 0.5
    opa_sync_seconds: float = 2.0

    # Rewards: vouchers are signed with the attestor key (KeySettings.attestor_key).
    voucher_ttl_seconds: int = 24 * 3600
    user_cache_ttl_seconds: int = 300

    # The relayer (backend/app/relayer): members' voucher claims gathered into claimBatch transactions and
    # their signed purchase intents, sent through the transaction queue at the platform's expense. A batch
    # goes out when `relayer_batch_size` relays wait, or when the oldest has waited
    # `relayer_batch_interval_seconds`; a relay whose batches failed `relayer_claim_attempts` times fails.
    relayer_enabled: bool = True  # the batcher runs in every API and worker process (row locks share the work)
    relayer_batch_size: int = 50
    relayer_batch_interval_seconds: float = 1.0
    relayer_poll_seconds: float = 0.2
    relayer_claim_attempts: int = 3
    relayer_voucher_margin_seconds: int = 60  # a voucher expiring sooner than this is not worth sending
    # Sponsorship: relays the platform pays the gas of, per UTC day (the platform's clock); 0: none at all.
    sponsor_member_daily_relays: int = 20
    sponsor_tenant_daily_relays: int = 5000

    # Catalog: product documents and images pinned on the stack's Kubo node; listed on-chain through the
    # transaction queue (its worker signs with the operator pool). A listing or update request waits this
    # long for each step's outcome, then answers 202 with the transaction still in flight.
    catalog_chain_wait_seconds: float = 30.0
    ipfs_api_port: int = int(default("IPFS_API_PORT"))
    ipfs_api_url: str | None = None  # default: http://127.0.0.1:<ipfs_api_port>
    metadata_cache_ttl_seconds: int = 3600
    max_image_bytes: int = 1024 * 1024  # one IPFS chunk: an image's CID is verifiable locally

    # Notifications: the worker's Kafka consumer groups, SMTP for email, the SMS provider, schedules.
    notifications_consumer_group: str = "fitmint-notifications"  # chain/API events -> notifications
    deliveries_consumer_group: str = "fitmint-deliveries"  # NotificationQueued -> deliveries, live pushes
    email_consumer_group: str = "fitmint-email"  # EmailBatchReady -> SMTP
    notifications_batch_size: int = 500  # Kafka records applied per PostgreSQL transaction
    smtp_host: str = "127.0.0.1"
    smtp_port: int = int(default("SMTP_PORT"))
    smtp_username: str | None = None
    smtp_password_file: Path | None = None
    smtp_starttls: bool = False
    mail_from: str = "fitmint <no-reply@fitmint.localhost>"
    sms_provider: str = "log"  # log: a JSON-lines sink file (the dev/test provider)
    sms_sink_file: Path | None = None  # default: <state>/sms/outbox.jsonl
    email_batch_size: int = 100  # email deliveries per EmailBatchReady (one SMTP session each)
    # A delivery claimed ('sending') longer than this was left by a worker that died mid-send: it is
    # reported failed, not resent (at most once). Must exceed the time one message takes to send.
    delivery_stale_after_seconds: float = 300.0
    scheduler_enabled: bool = True
    worker_metrics_port: int = 0  # the worker's Prometheus endpoint (make up: 59465); 0: none
    worker_metrics_host: str = "127.0.0.1"
    ws_auth_timeout_seconds: float = 5.0

    # Identity: the ACA-Py agent's admin API (the key also authenticates its webhooks to us), exchange
    # deadlines and the reconciler (run by the worker under an advisory lock).
    acapy_admin_url: str = f"http://127.0.0.1:{default('ACAPY_ADMIN_PORT')}"
    acapy_admin_key_file: Path | None = None  # default: <state>/secrets/acapy-admin-key
    acapy_timeout_seconds: float = 10.0
    identity_invitation_ttl_seconds: int = 3600      # an invitation not accepted by then: failed
    identity_exchange_timeout_seconds: int = 60      # an offer/request not answered by then: re-sent once, then failed
    identity_exchange_attempts: int = 2
    identity_reconcile_interval_seconds: float = 5.0
    identity_reconciler_enabled: bool = True
    # Where verifiers fetch our credential status lists: <base>/identity/status/<list> (default: SIWE_URI,
    # the API's public origin). A list's URL is fixed when it opens (the credentials name it): set this first.
    identity_status_base_url: str | None = None
    identity_status_max_age_seconds: int = Field(default=60, ge=0, le=86400)  # Cache-Control max-age, list ttl
    # A signed list's validity (its expirationDate): a list an old cache or mirror serves stops counting. The
    # reconciler re-signs each list once half of it has passed.
    identity_status_valid_seconds: int = Field(default=3 * 86400, ge=600)
    # Out-of-band invitations: one reusable did:peer:4 for every member ("shared": wallets can reuse their
    # connection) or a new one per invitation ("fresh": no DID common to two members). README "Identity".
    identity_invitation_did: Literal["shared", "fresh"] = "shared"

    # The anti-cheat model (backend/app/fitness/fraud): how often an API process asks whether another version
    # was activated, and the simulator's size when the worker retrains it (weekly, and at once when no
    # usable version is active).
    fraud_model_refresh_seconds: float = 60.0
    fraud_train_members: int = 1000
    fraud_train_days: int = 120


    # Access tokens: EdDSA, signed by the key ring in `jwt_keys_dir` (backend/app/auth/keyring.py; default
    # <state>/secrets/jwt-keys, its first key generated on first start). `manage rotate-jwt-key` publishes a
    # new key `jwt_key_publish_seconds` before it signs: longer than a JWKS cache may keep the old key set
    # (`jwks_max_age_seconds`) plus how often every process re-reads the ring (`jwt_keys_reload_seconds`).
    # The issuer (tokens' `iss`, the OAuth metadata's) is the API's public URL; default: `siwe_uri`.
    jwt_keys_dir: Path | None = None
    jwt_key_publish_seconds: int = 600
    jwt_keys_reload_seconds: float = 30.0
    jwks_max_age_seconds: int = 300
    oauth_issuer: str | None = None
    # The access tokens' `aud`, which every resource server verifying them must require (RFC 9068). Default:
    # the issuer.
    oauth_audience: str | None = None
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600

    @model_validator(mode="after")
    def _issuer_over_tls(self):
        # OAuth 2.0 (RFC 8414 3, RFC 6749 3.2) wants the issuer and its endpoints on https; loopback is for dev.
        if not is_secure_transport(self.issuer):
            raise ValueError(f"the token issuer {self.issuer!r} (oauth_issuer, default siwe_uri) must be an https "
                             "URL (http only on localhost or a loopback address)")
        return self

    @model_validator(mode="after")
    def _keys_published_before_they_sign(self):
        if self.jwt_key_publish_seconds <= self.jwks_max_age_seconds + self.jwt_keys_reload_seconds:
            raise ValueError("jwt_key_publish_seconds must exceed jwks_max_age_seconds + jwt_keys_reload_seconds: "
                             "a new signing key must reach every JWKS cache and process before it signs")
        return self

    @field_validator("trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _proxy_list(cls, value):
        if isinstance(value, str):  # from the environment: comma-separated, or a JSON list
            value = value.strip()
            items = json.loads(value) if value.startswith("[") else value.split(",")
            return tuple(item.strip() for item in items if item.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]):
        problems = [problem for origin in value if (problem := origin_problem(origin)) is not None]
        if problems:
            raise ValueError("CORS_ORIGINS: " + "; ".join(problems))
        return value

    def identity_status_url(self) -> str:
        """The public URL under which each status list is published (…/identity/status/<list id>)."""
        return (self.identity_status_base_url or self.siwe_uri).rstrip("/") + "/identity/status"

    @model_validator(mode="after")
    def _status_lists_over_tls(self):
        # Every credential names its list's URL for good, and verifiers (didkit) fetch status lists over
        # https only: the issuer's rule (loopback http is for dev).
        base = self.identity_status_base_url or self.siwe_uri
        parts = urlsplit(base)
        if not is_secure_transport(base) or parts.query or parts.fragment:
            raise ValueError(f"the status list base URL {base!r} (identity_status_base_url, default siwe_uri) must "
                             "be an https URL without query or fragment (http only on localhost or a loopback "
                             "address): every credential names it for good and verifiers fetch it over https")
        if self.identity_status_valid_seconds / 2 <= (self.identity_status_max_age_seconds
                                                      + self.identity_reconcile_interval_seconds):
            raise ValueError("identity_status_valid_seconds must be more than twice identity_status_max_age_seconds "
                             "+ identity_reconcile_interval_seconds: lists are re-signed at half their validity, "
                             "and a re-signed list must reach every cache before the one it replaces expires")
        return self

    @property
    def ipfs_url(self) -> str:
        return self.ipfs_api_url or f"http://127.0.0.1:{self.ipfs_api_port}"

    @property
    def opa_address(self) -> str:
        return self.opa_url or f"unix://{self.fitmint_state_dir / 'run' / 'opa.sock'}"

    def sms_sink(self) -> Path:
        return self.sms_sink_file or self.fitmint_state_dir / "sms" / "outbox.jsonl"

    @property
    def issuer(self) -> str:
        return (self.oauth_issuer or self.siwe_uri).rstrip("/")

    @property
    def audience(self) -> str:
        return self.oauth_audience or self.issuer

    def jwt_keys_path(self) -> Path:
        return self.jwt_keys_dir or self.secrets_dir / "jwt-keys"

    def acapy_admin_key(self) -> str | None:
        """The agent's admin API key (written by `scripts/stack/stack.sh secrets`); None when absent."""
        path = self.secret_file("acapy-admin-key", self.acapy_admin_key_file)
        return secrets.read(path) if path.is_file() else None

    def secret_files(self) -> list[Path]:
        own = [*key_files(self.jwt_keys_path()), self.secret_file("acapy-admin-key", self.acapy_admin_key_file)]
        return [*super().secret_files(), *own, *([self.smtp_password_file] if self.smtp_password_file else [])]


@lru_cache
def get_settings() -> Settings:
    return Settings()

