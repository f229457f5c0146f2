"""One settings object, built at start-up from ``RAMPWIRE_*`` environment variables.

Nothing reads the environment after start-up: the :class:`Settings` instance is passed down.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Final, TypeAlias

from .domain.orders import OrderStatus
from .domain.stuck import DEFAULT_SLAS, SlaError, parse_slas
from .errors import ConfigError
from .metrics.partners import PartnerLabels
from .ssrf import TargetPolicy

DEFAULT_DATA_DIR: Final = "var"
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8080
DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024  # 1 MiB
DEFAULT_PAGE_LIMIT: Final = 50  # items per page when the client names none
MAX_PAGE_LIMIT: Final = 500  # items per page, at most
DEFAULT_PORTAL_LINK_TTL_S: Final = 3600  # a partner portal link is valid an hour


Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


class Secret:
    """A string that does not show itself in ``repr`` or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _strict_targets() -> TargetPolicy:
    return TargetPolicy()


def _targets_from_env(env: Mapping[str, str]) -> TargetPolicy:
    return TargetPolicy.from_env(env)


# Group commit of inbound requests (repository.inbound): a bigger batch costs less per request
# and waits longer; a second writer fills one batch while the other commits.
# Group commit (API order creates and changes, and ingest): requests that arrive while a writer
# is busy share one transaction; a second writer fills one batch while the other commits.
GROUP_COMMIT_BATCH = 64  # requests per transaction, at most
GROUP_COMMIT_WRITERS = 2


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str
    data_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    log_format: str = "text"  # "text" or "json"
    log_level: str = "INFO"
    master_key: Secret | None = None  # URL-safe base64 of 32 bytes; None: <data_dir>/master.key
    previous_master_keys: tuple[Secret, ...] = ()  # decrypt only, during a master key rotation
    target_policy: TargetPolicy = field(default_factory=_strict_targets)  # where webhooks may go
    run_worker: bool = True  # `serve` runs a delivery worker (and the sweeper) in its process
    stuck_slas: Mapping[OrderStatus, timedelta] = field(default_factory=lambda: dict(DEFAULT_SLAS))
    sweep_interval_s: int = 60  # how often the stuck-order sweeper looks
    ingest_batch: int = GROUP_COMMIT_BATCH  # inbound requests per transaction, at most
    ingest_writers: int = GROUP_COMMIT_WRITERS  # inbound transactions at once, per process
    # reverse proxies whose X-Forwarded-For is believed (api.proxies); none by default
    trusted_proxies: tuple[Network, ...] = ()
    metrics: bool = True  # count Prometheus metrics (RAMPWIRE_METRICS=0: off)
    metrics_token: Secret | None = None  # bearer token of the API's /metrics; None: no /metrics
    metrics_addr: tuple[str, int] | None = None  # host:port of a separate /metrics listener
    # per-partner counters, and which partners get a label of their own; None: none
    metrics_partner_labels: PartnerLabels | None = None
    log_sql: bool = False  # the database drivers' statement logging at DEBUG
    tracing_sample: float = 0.0  # share of traces sampled (OpenTelemetry, the tracing extra)
    # requests/s per partner (per key for operator keys) on /v1, and per source on /ingest;
    # None: unlimited. Bursts up to rate_burst (default: one second's worth).
    partner_rate_limit: int | None = None
    ingest_rate_limit: int | None = None
    rate_burst: int | None = None
    # the partner portal (ui.portal): how long a one-time link stays valid, and the origins
    # that may frame the portal (CSP frame-ancestors); none: no page may be framed
    portal_link_ttl_s: int = DEFAULT_PORTAL_LINK_TTL_S
    portal_frame_ancestors: tuple[str, ...] = ()
    listen_idle_s: int = 60  # a listen session with no stream open this long expires

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("RAMPWIRE_DATA_DIR", DEFAULT_DATA_DIR))
        default_db = f"sqlite:///{data_dir / 'rampwire.db'}"
        log_format = env.get("RAMPWIRE_LOG_FORMAT", "text").lower()
        if log_format not in ("text", "json"):
            raise ConfigError(f"RAMPWIRE_LOG_FORMAT must be 'text' or 'json', not {log_format!r}")
        return cls(
            database_url=env.get("RAMPWIRE_DATABASE_URL", default_db),
            data_dir=data_dir,
            host=env.get("RAMPWIRE_HOST", DEFAULT_HOST),
            port=_int(env, "RAMPWIRE_PORT", DEFAULT_PORT),
            max_body_bytes=_int(env, "RAMPWIRE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            log_format=log_format,
            log_level=env.get("RAMPWIRE_LOG_LEVEL", "INFO").upper(),
            master_key=Secret(master) if (master := env.get("RAMPWIRE_MASTER_KEY")) else None,
            previous_master_keys=tuple(
                Secret(key.strip())
                for key in env.get("RAMPWIRE_MASTER_KEY_PREVIOUS", "").split(",")
                if key.strip()
            ),
            target_policy=_targets_from_env(env),
            run_worker=env.get("RAMPWIRE_SERVE_WORKER", "1").lower() not in ("0", "false", "no"),
            stuck_slas=_slas(env.get("RAMPWIRE_STUCK_AFTER", "")),
            sweep_interval_s=_int(env, "RAMPWIRE_STUCK_SWEEP_SECONDS", 60),
            ingest_batch=_int(env, "RAMPWIRE_INGEST_BATCH", GROUP_COMMIT_BATCH),
            ingest_writers=_int(env, "RAMPWIRE_INGEST_WRITERS", GROUP_COMMIT_WRITERS),
            trusted_proxies=_networks(env, "RAMPWIRE_TRUSTED_PROXIES"),
            metrics=_flag(env, "RAMPWIRE_METRICS", default=True),
            metrics_token=Secret(token) if (token := env.get("RAMPWIRE_METRICS_TOKEN")) else None,
            metrics_addr=_address(env.get("RAMPWIRE_METRICS_ADDR", "")),
            metrics_partner_labels=_partner_labels(env.get("RAMPWIRE_METRICS_PARTNER_LABELS", "")),
            log_sql=_flag(env, "RAMPWIRE_LOG_SQL", default=False),
            tracing_sample=_ratio(env, "RAMPWIRE_TRACING_SAMPLE"),
            partner_rate_limit=_optional_int(env, "RAMPWIRE_PARTNER_RATE_LIMIT"),
            ingest_rate_limit=_optional_int(env, "RAMPWIRE_INGEST_RATE_LIMIT"),
            rate_burst=_optional_int(env, "RAMPWIRE_RATE_BURST"),
            portal_link_ttl_s=_int(env, "RAMPWIRE_PORTAL_LINK_TTL", DEFAULT_PORTAL_LINK_TTL_S),
            portal_frame_ancestors=_origins(env, "RAMPWIRE_PORTAL_FRAME_ANCESTORS"),
            listen_idle_s=_int(env, "RAMPWIRE_LISTEN_IDLE_SECONDS", 60),
        )

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _partner_labels(raw: str) -> PartnerLabels | None:
    try:
        return PartnerLabels.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"RAMPWIRE_METRICS_PARTNER_LABELS: {exc}") from exc


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw not in ("1", "true", "yes", "0", "false", "no"):
        raise ConfigError(f"{name} must be 1 or 0 (true or false), not {raw!r}")
    return raw in ("1", "true", "yes")


def _ratio(env: Mapping[str, str], name: str) -> float:
    raw = env.get(name, "").strip() or "0"
    try:
        ratio = float(raw)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"{name} must be a number from 0 to 1, not {raw!r}")
    return ratio


def _address(text: str) -> tuple[str, int] | None:
    """``host:port`` (``[::1]:9100`` for IPv6); empty: None."""
    text = text.strip()
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"RAMPWIRE_METRICS_ADDR must be host:port, not {text!r}")
    return host.strip("[]"), int(port)


def _slas(text: str) -> dict[OrderStatus, timedelta]:
    try:
        return parse_slas(text)
    except SlaError as exc:
        raise ConfigError(f"RAMPWIRE_STUCK_AFTER: {exc}") from exc


def _networks(env: Mapping[str, str], name: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDR networks: ``10.0.0.0/8, 127.0.0.1, ::1``."""
    found = []
    for item in env.get(name, "").split(","):
        if item.strip():
            try:
                found.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError as exc:
                raise ConfigError(
                    f"{name}: {item.strip()!r} is not an IP address or network"
                ) from exc
    return tuple(found)


_ORIGIN = re.compile(r"^https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated origins (``https://app.example.com``, ``https://*.example.com:8443``):
    each goes into a Content-Security-Policy header as is, so nothing else is accepted."""
    found = []
    for item in env.get(name, "").split(","):
        origin = item.strip().rstrip("/")
        if not origin:
            continue
        if not _ORIGIN.match(origin):
            raise ConfigError(
                f"{name}: {origin!r} is not an origin such as https://app.example.com"
            )
        found.append(origin)
    return tuple(found)


def _optional_int(env: Mapping[str, str], name: str) -> int | None:
    """A positive integer, or None when unset."""
    return _int(env, name, 0) or None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from exc
    if value <= 0:
        raise ConfigError(f"{name} must be positive, not {value}")
    return value
