"""The one place configuration is read: `CREDITS_*` environment variables."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("credits.settings")

PROJECT_DIR = Path(__file__).resolve().parent


class Settings(BaseSettings):
    """Validated service settings; every field maps to `CREDITS_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="CREDITS_", extra="ignore")

    env: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Processes serving one port (`--workers`); more than one needs PostgreSQL and Redis.
    workers: int = Field(1, ge=1, le=64)
    # Who sends mail and webhooks: each serving process ("inline"), or only `server.py dispatch`
    # processes ("separate", which needs PostgreSQL and Redis); see the README's "Scaling out".
    outbox_dispatch: Literal["inline", "separate"] = "inline"
    # The port of a `server.py dispatch` process's /healthz, /readyz and /metrics.
    dispatch_port: int = Field(8001, ge=1, le=65535)

    data_dir: Path = PROJECT_DIR / "data"
    database_url: str | None = None
    db_pool_max: int = Field(20, ge=1, le=500)
    # Bounds on waiting for PostgreSQL, so a request during an outage fails fast instead of hanging.
    db_connect_timeout_seconds: float = Field(5.0, gt=0)
    db_command_timeout_seconds: float = Field(15.0, gt=0)
    broadcast_url: str = "memory://"

    jwt_secret: str | None = None
    jwt_ttl_seconds: int = Field(12 * 3600, ge=60)
    # A console login (HttpOnly cookie) lasts this long, whatever the activity; logout ends it sooner.
    console_session_seconds: int = Field(8 * 3600, ge=60)

    admin_email: str | None = None
    admin_password: str | None = None

    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_kib: int = Field(65536, ge=64)

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    # One address (`credits@example.com`), optionally named (`Credits <credits@example.com>`);
    # checked with CREDITS_ADMIN_EMAIL at start (server.py's address_refusal).
    mail_from: str = "credits@localhost"

    mail_batch_size: int = Field(20, ge=1, le=500)
    mail_poll_seconds: float = Field(5.0, gt=0)
    # SQLite's claim on a row being sent; PostgreSQL holds a row lock for the send instead.
    mail_lease_seconds: float = Field(120.0, gt=0)
    mail_max_attempts: int = Field(8, ge=1)
    mail_backoff_seconds: float = Field(2.0, gt=0)
    mail_backoff_max_seconds: float = Field(600.0, gt=0)
    mail_timeout_seconds: float = Field(15.0, gt=0)

    # Webhooks: secrets at rest are sealed (AES-GCM) with a key derived from this, else from the JWT secret.
    webhook_secret_key: str | None = None
    # Destinations on loopback, private, link-local … addresses; None: allowed in development only.
    webhook_allow_private_networks: bool | None = None
    webhook_timeout_seconds: float = Field(15.0, gt=0)
    # The most deliveries one claim takes (a claim fills free send slots, up to this many).
    webhook_batch_size: int = Field(20, ge=1, le=500)
    webhook_poll_seconds: float = Field(2.0, gt=0)
    # A claimed delivery's lease, renewed while its attempt is out: a process that dies leaves its
    # deliveries due again this long after (a SQLite start takes them back at once).
    webhook_lease_seconds: float = Field(10.0, ge=1)
    # Send slots per process: attempts out at once, in all, to one endpoint, to one customer's endpoints.
    webhook_max_in_flight: int = Field(64, ge=1, le=1000)
    webhook_max_in_flight_per_endpoint: int = Field(8, ge=1)
    webhook_max_in_flight_per_customer: int = Field(16, ge=1)
    # sendTestWebhook and redeliverWebhook together, per endpoint: this many per window, then RATE_LIMITED.
    webhook_manual_sends_per_window: int = Field(10, ge=1)
    webhook_manual_send_window_seconds: float = Field(60.0, gt=0)
    # Multiplies the retry schedule (5 s … 10 h) and the five days of failures that disable an endpoint.
    webhook_backoff_scale: float = Field(1.0, gt=0)
    # Endpoints per customer (and for every customer together): each one multiplies what a change writes.
    max_webhook_endpoints_per_customer: int = Field(20, ge=1)
    # Delivered and failed deliveries are pruned this long after they were recorded (pending ones never).
    webhook_retention_days: int = Field(30, ge=1)

    # Deployments that share one Redis keep apart by channel (staging must not see production's events).
    bus_channel: str = Field("credits.events", min_length=1, max_length=200)
    subscriber_queue_size: int = Field(1000, ge=1)
    bus_heartbeat_seconds: float = Field(1.0, gt=0)
    bus_liveness_seconds: float = Field(3.0, gt=0)
    ws_auth_recheck_seconds: float = Field(5.0, gt=0)
    # A `: ping` comment on an idle SSE stream, so that proxies do not cut it.
    sse_heartbeat_seconds: float = Field(15.0, gt=0)

    # API.md keeps idempotency keys at least 24 hours; after that their records are pruned.
    idempotency_retention_hours: int = Field(48, ge=24)
    housekeeping_seconds: float = Field(600.0, gt=0)
    # API.md: a lot's credits expire within 10 s of its expiresAt; the sweep runs this often.
    lot_sweep_seconds: float = Field(1.0, gt=0)
    # API.md: RUNWAY_LOW fires within 60 s of the change that brings it; the runway sweep runs this
    # often. Above 30 s that promise is not kept (tests set a day: they sweep at the times they choose).
    runway_sweep_seconds: float = Field(15.0, gt=0)

    # Failed logins within the window before RATE_LIMITED: for one email from one client address;
    # from one address, whatever the emails; for one email from all addresses together (a ceiling
    # against guessing spread over many addresses, well above the first so nobody locks out an owner).
    login_max_failures_per_email_and_address: int = Field(10, ge=1)
    login_max_failures_per_address: int = Field(50, ge=1)
    login_max_failures_per_email: int = Field(100, ge=1)
    login_window_seconds: int = Field(900, ge=1)
    # Peers whose X-Forwarded-For names the client (uvicorn's forwarded_allow_ips): comma-separated
    # IPs or networks; empty trusts none. Anyone else's header is ignored.
    trusted_proxies: str = "127.0.0.1,::1"

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] | None = None
    # /metrics is unauthenticated (Prometheus scrapes it): expose it only on an internal network.
    metrics_enabled: bool = True
    # The web console at / (its static files stay served: GraphiQL uses them in development).
    console_enabled: bool = True

    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_query_depth: int = Field(12, ge=2)
    max_query_aliases: int = Field(30, ge=0)
    max_query_tokens: int = Field(5000, ge=100)
    # Characters (code points) of a query document; comments count, so a padded document is refused.
    max_query_length: int = Field(100_000, ge=1000)
    # Fields an operation may resolve: each counted once per item of the lists around it (first, or 20).
    max_query_cost: int = Field(10_000, ge=100)
    # Operations in one HTTP batch (a JSON array, Apollo's BatchHttpLink), each within the limits
    # above; 0 turns batching off.
    max_batch_operations: int = Field(10, ge=0, le=100)
    # Estimated memory of the parsed and validated documents kept for reuse (at most 1,000 of them).
    query_cache_bytes: int = Field(64 * 1024 * 1024, ge=0)
    # Automatic persisted queries (Apollo's protocol): the documents registered by hash, kept per
    # process up to this estimate of memory (least recently used go first; 0 keeps none).
    apq_max_bytes: int = Field(16 * 1024 * 1024, ge=0)
    # Manifests of trusted documents (JSON: sha256 hash → document), comma-separated paths; the
    # console's own documents are always added. Their documents run by hash without being sent.
    trusted_documents: str | None = None
    # Refuse every document not in a manifest or the console; None: in production when a manifest is set.
    trusted_documents_only: bool | None = None
    max_subscriptions_per_socket: int = Field(20, ge=1)
    ws_init_timeout_seconds: float = Field(10.0, gt=0)
    # A frame before `connection_ack` carries a token or one subscribe: 64 KB is plenty. After it,
    # a frame may be as large as a request body (uvicorn's ws_max_size is set to max_body_bytes).
    ws_max_message_bytes: int = Field(65_536, ge=1024)
    # None: derived from the descriptor limit (see api.socket_limits.default_max_websockets).
    max_websockets: int | None = Field(None, ge=1)
    max_unauthenticated_websockets_per_address: int = Field(50, ge=1)
    # Authenticated websockets and SSE streams (together) of one user, and of one customer's users,
    # per process: a console tab holds one socket, so tabs and a dashboard wall stay well inside.
    max_streams_per_user: int = Field(32, ge=1)
    max_streams_per_customer: int = Field(256, ge=1)
    # `afterSequence` replays one user runs at once per process; the others wait their turn.
    max_replays_per_user: int = Field(2, ge=1)
    cors_origins: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        """IPs or networks only ("localhost" would silently match nothing), normalised for uvicorn."""
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            if entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"not an IP address or network: {entry!r}") from None
        return ",".join(entries)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        """`debug` and `DEBUG` alike."""
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _production_requirements(self) -> Settings:
        """Production refuses to start on generated secrets or a missing first admin."""
        if self.env == "production":
            missing = [
                name
                for name, value in (
                    ("CREDITS_JWT_SECRET", self.jwt_secret),
                    ("CREDITS_ADMIN_EMAIL", self.admin_email),
                    ("CREDITS_ADMIN_PASSWORD", self.admin_password),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"production requires {', '.join(missing)}")
        return self

    @property
    def is_development(self) -> bool:
        """True outside production: GraphiQL, generated secrets, console credentials."""
        return self.env == "development"

    @property
    def effective_database_url(self) -> str:
        """The configured database, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'credits.sqlite3').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.effective_database_url.startswith("sqlite")

    @property
    def emails_enabled(self) -> bool:
        """Mail leaves the outbox only when an SMTP host is configured."""
        return bool(self.smtp_host)

    @property
    def webhooks_may_reach_private_networks(self) -> bool:
        """Whether webhook destinations may resolve to internal addresses (default: development only)."""
        if self.webhook_allow_private_networks is None:
            return self.is_development
        return self.webhook_allow_private_networks

    @property
    def trusted_documents_paths(self) -> list[Path]:
        """The manifests named by CREDITS_TRUSTED_DOCUMENTS, in order."""
        return [Path(part.strip()) for part in (self.trusted_documents or "").split(",") if part.strip()]

    @property
    def enforces_trusted_documents(self) -> bool:
        """Whether only trusted documents run (default: in production, when a manifest is named)."""
        if self.trusted_documents_only is None:
            return not self.is_development and bool(self.trusted_documents_paths)
        return self.trusted_documents_only

    def resolved_jwt_secret(self) -> str:
        """The signing secret; in development one is generated once and kept on disk."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt-secret"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        path.write_text(secret)
        path.chmod(0o600)
        log.warning("CREDITS_JWT_SECRET is not set: using a generated development secret in %s", path)
        return secret


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
