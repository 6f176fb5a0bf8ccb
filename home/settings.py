"""Settings, read once from the environment into one typed object that is passed in.

Entry points (the app factory, `piccolo_conf.py`, the CLI tasks, `python -m home.server`)
call `get_settings()`, which reads the environment once per process; everything else takes
a `Settings` as an argument, so a test builds the app for any configuration with
`create_app(Settings(...))`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = PROJECT_DIR / "roster.sqlite"
ENVIRONMENTS = ("development", "production")
MIN_SECRET_LENGTH = 16
# Standard Webhooks' retry schedule: seconds after each failed attempt.
DEFAULT_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class SettingsError(ValueError):
    """A setting in the environment is missing or invalid."""


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    database_url: str | None = None
    sqlite_path: Path = DEFAULT_SQLITE_PATH
    debug: bool = False
    admin_username: str | None = None
    admin_password: str | None = None
    environment: str = "development"
    allowed_hosts: tuple[str, ...] = ()
    fetch_token: str | None = None
    session_expiry: timedelta = timedelta(hours=1)
    session_max_expiry: timedelta = timedelta(hours=24)
    login_rate_limit: int = 20
    login_pair_limit: int = 5
    login_account_limit: int = 10
    login_global_limit: int = 300
    login_max_delay: int = 60
    login_rate_window: int = 300
    login_rate_state: Path | None = None
    api_rate_limit: int = 600
    api_key_failure_limit: int = 30
    db_connect_timeout: float = 5.0
    db_command_timeout: float = 60.0
    db_pool_size: int = 10
    health_timeout: float = 2.0
    db_required_at_start: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    forwarded_allow_ips: str = "127.0.0.1"
    graceful_timeout: int = 30
    keep_alive_timeout: int = 5
    metrics: bool = False
    metrics_token: str | None = None
    changes_retention_days: int = 30
    stream_heartbeat_seconds: float = 15.0
    webhook_retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    webhook_allow_private: bool = False
    webhook_timeout: float = 10.0
    webhook_lease_seconds: float = 30.0
    webhook_relay: bool = True

    @property
    def login_attempts_path(self) -> Path:
        """The file every worker on this host counts admin login attempts in, with SQLite
        (home/storage/login_attempts.py; PostgreSQL counts them in its database).

        `LOGIN_RATE_STATE` when set; otherwise beside the SQLite database.
        """
        if self.login_rate_state is not None:
            return self.login_rate_state
        return self.sqlite_path.with_name(f"{self.sqlite_path.stem}-login-attempts.sqlite")

    @property
    def production(self) -> bool:
        """Served to the public over HTTPS: secure cookies, host checks, no debug."""
        return self.environment == "production"

    def unsafe_for_production(self) -> list[str]:
        """What makes these settings unsafe to serve in production, each with its fix."""
        problems = []
        if self.debug:
            problems.append("DEBUG is on, which shows stack traces to clients: unset DEBUG")
        if not self.allowed_hosts:
            problems.append(
                "ALLOWED_HOSTS is empty: list the host names clients use, e.g. "
                "ALLOWED_HOSTS=roster.example.com"
            )
        elif any("*" in host for host in self.allowed_hosts):
            problems.append(
                "ALLOWED_HOSTS contains a wildcard, which lets any Host header through: "
                "list the exact host names"
            )
        if self.metrics and self.metrics_token is None:
            problems.append(
                "METRICS is on without a METRICS_TOKEN, which shows /metrics (routes, error "
                "counts, webhook hosts) to anyone: set METRICS_TOKEN, e.g. from "
                "`openssl rand -hex 32`, or unset METRICS"
            )
        for name, token in (
            ("FETCH_TOKEN", self.fetch_token),
            ("METRICS_TOKEN", self.metrics_token),
        ):
            if token is not None and len(token) < MIN_SECRET_LENGTH:
                problems.append(
                    f"{name} is {len(token)} characters long: use at least "
                    f"{MIN_SECRET_LENGTH} random characters, e.g. from `openssl rand -hex 32`"
                )
        if self.admin_password is not None and len(self.admin_password) < MIN_SECRET_LENGTH:
            problems.append(
                f"ADMIN_PASSWORD is {len(self.admin_password)} characters long: use at least "
                f"{MIN_SECRET_LENGTH}, or unset it to get a random one printed once"
            )
        return problems


def _flag(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean: use true or false")


def _number(
    environ: Mapping[str, str], name: str, default: float, low: float, high: float, kind=int
):
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return kind(default)
    try:
        value = kind(raw.strip())
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number: use e.g. {name}={default}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={raw!r} is out of range: use a value from {low} to {high}")
    return value


def _schedule(raw: str | None) -> tuple[float, ...]:
    """WEBHOOK_RETRY_SCHEDULE: seconds after each failed delivery, comma separated."""
    if raw is None or not raw.strip():
        return DEFAULT_RETRY_SCHEDULE
    try:
        delays = tuple(float(part) for part in raw.split(","))
    except ValueError:
        delays = ()
    if not delays or not all(0 < delay <= 7 * 86_400 for delay in delays) or len(delays) > 50:
        raise SettingsError(
            f"WEBHOOK_RETRY_SCHEDULE={raw!r} is not a list of delays: give up to 50 numbers of "
            "seconds (each above 0, at most a week), comma separated, e.g. 5,300,1800"
        )
    return delays


def _environment(environ: Mapping[str, str]) -> str:
    # Only APP_ENV: POSIX shells use ENV for their start-up file, so it is not ours to read.
    raw = environ.get("APP_ENV") or "development"
    value = raw.strip().lower()
    if value not in ENVIRONMENTS:
        raise SettingsError(f"APP_ENV={raw!r} is not known: use development or production")
    return value


def _hosts(raw: str | None) -> tuple[str, ...]:
    """Host names as clients send them in Host, without scheme, port or path."""
    hosts = tuple(
        # An IPv6 address is matched as clients send it in Host: in brackets.
        f"[{host}]" if host.count(":") > 1 and not host.startswith("[") else host
        for host in (host.strip().lower() for host in (raw or "").split(","))
        if host
    )
    for host in hosts:
        problem = None
        if "://" in host:
            problem = "has a scheme"
        elif "/" in host:
            problem = "has a path"
        elif not host.startswith("[") and host.count(":") == 1:
            problem = "has a port (ports are not compared)"
        elif host.startswith("[") and not host.endswith("]"):
            problem = "has a port after the IPv6 address (ports are not compared)"
        elif any(character.isspace() for character in host):
            problem = "contains a space"
        if problem:
            raise SettingsError(
                f"ALLOWED_HOSTS entry {host!r} {problem}: list bare host names separated by "
                "commas, e.g. ALLOWED_HOSTS=roster.example.com,localhost"
            )
    return hosts


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (default: the process environment), refusing values
    that cannot work."""
    env = os.environ if environ is None else environ
    url = env.get("DATABASE_URL") or None
    if url is not None:
        scheme = urlsplit(url).scheme
        if scheme not in {"postgres", "postgresql"}:
            raise SettingsError(
                f"DATABASE_URL scheme {scheme!r} is not supported: use "
                "postgresql://user:password@host:5432/dbname, or unset it for SQLite"
            )
    loaded = Settings(
        database_url=url,
        sqlite_path=Path(env.get("SQLITE_PATH") or DEFAULT_SQLITE_PATH),
        debug=_flag(env, "DEBUG"),
        admin_username=env.get("ADMIN_USERNAME") or None,
        admin_password=env.get("ADMIN_PASSWORD") or None,
        environment=_environment(env),
        allowed_hosts=_hosts(env.get("ALLOWED_HOSTS")),
        fetch_token=env.get("FETCH_TOKEN") or None,
        session_expiry=timedelta(
            minutes=_number(env, "SESSION_EXPIRY_MINUTES", 60, 1, 7 * 24 * 60)
        ),
        session_max_expiry=timedelta(
            hours=_number(env, "SESSION_MAX_EXPIRY_HOURS", 24, 1, 24 * 30)
        ),
        login_rate_limit=_number(env, "LOGIN_RATE_LIMIT", 20, 1, 10_000),
        login_pair_limit=_number(env, "LOGIN_PAIR_LIMIT", 5, 1, 10_000),
        login_account_limit=_number(env, "LOGIN_ACCOUNT_LIMIT", 10, 1, 10_000),
        login_global_limit=_number(env, "LOGIN_GLOBAL_LIMIT", 300, 1, 1_000_000),
        login_max_delay=_number(env, "LOGIN_MAX_DELAY", 60, 1, 3600),
        login_rate_window=_number(env, "LOGIN_RATE_WINDOW", 300, 1, 86_400),
        login_rate_state=Path(env["LOGIN_RATE_STATE"]) if env.get("LOGIN_RATE_STATE") else None,
        api_rate_limit=_number(env, "API_RATE_LIMIT", 600, 1, 1_000_000),
        api_key_failure_limit=_number(env, "API_KEY_FAILURE_LIMIT", 30, 1, 1_000_000),
        db_connect_timeout=_number(env, "DB_CONNECT_TIMEOUT", 5, 0.1, 300, float),
        db_command_timeout=_number(env, "DB_COMMAND_TIMEOUT", 60, 0.1, 3600, float),
        db_pool_size=_number(env, "DB_POOL_SIZE", 10, 1, 1000),
        health_timeout=_number(env, "HEALTH_TIMEOUT", 2, 0.1, 60, float),
        db_required_at_start=_flag(env, "DB_REQUIRED_AT_START", default=True),
        host=env.get("HOST") or "127.0.0.1",
        port=_number(env, "PORT", 8000, 1, 65535),
        workers=_number(env, "WEB_CONCURRENCY", 2, 1, 256),
        forwarded_allow_ips=env.get("FORWARDED_ALLOW_IPS") or "127.0.0.1",
        graceful_timeout=_number(env, "GRACEFUL_TIMEOUT", 30, 1, 3600),
        keep_alive_timeout=_number(env, "KEEP_ALIVE_TIMEOUT", 5, 1, 3600),
        metrics=_flag(env, "METRICS"),
        metrics_token=env.get("METRICS_TOKEN") or None,
        changes_retention_days=_number(env, "CHANGES_RETENTION_DAYS", 30, 1, 3650),
        stream_heartbeat_seconds=_number(env, "STREAM_HEARTBEAT_SECONDS", 15, 0.1, 300, float),
        webhook_retry_schedule=_schedule(env.get("WEBHOOK_RETRY_SCHEDULE")),
        webhook_allow_private=_flag(env, "WEBHOOK_ALLOW_PRIVATE"),
        webhook_timeout=_number(env, "WEBHOOK_TIMEOUT", 10, 0.1, 60, float),
        webhook_lease_seconds=_number(env, "WEBHOOK_LEASE_SECONDS", 30, 1, 3600, float),
        webhook_relay=_flag(env, "WEBHOOK_RELAY", default=True),
    )
    if loaded.webhook_lease_seconds < 3 * loaded.webhook_timeout:
        raise SettingsError(
            f"WEBHOOK_LEASE_SECONDS={loaded.webhook_lease_seconds:g} is less than three times "
            f"WEBHOOK_TIMEOUT={loaded.webhook_timeout:g}: a relay renews its lease between "
            "deliveries, so one slow endpoint must not outlast it; raise WEBHOOK_LEASE_SECONDS "
            f"to at least {3 * loaded.webhook_timeout:g}"
        )
    if loaded.session_max_expiry < loaded.session_expiry:
        raise SettingsError(
            "SESSION_MAX_EXPIRY_HOURS is shorter than SESSION_EXPIRY_MINUTES: raise the maximum "
            "or shorten the expiry"
        )
    if loaded.production and (problems := loaded.unsafe_for_production()):
        raise SettingsError("refusing to start with APP_ENV=production: " + "; ".join(problems))
    return loaded


@cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use (entry points only)."""
    return load_settings()
