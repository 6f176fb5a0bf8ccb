"""Settings, read once from the environment into one typed object."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = PROJECT_DIR / "roster.sqlite"


class SettingsError(ValueError):
    """A setting in the environment is missing or invalid."""


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    database_url: str | None
    sqlite_path: Path
    debug: bool
    admin_username: str | None
    admin_password: str | None

    @property
    def engine(self) -> str:
        """`postgres` or `sqlite`."""
        return "postgres" if self.database_url else "sqlite"

    def postgres_config(self) -> dict[str, object]:
        """asyncpg connection arguments parsed from `DATABASE_URL`."""
        assert self.database_url is not None
        parts = urlsplit(self.database_url)
        config: dict[str, object] = {
            "host": parts.hostname or "localhost",
            "port": parts.port or 5432,
            "user": unquote(parts.username or "postgres"),
            "password": unquote(parts.password or ""),
            "database": unquote(parts.path.lstrip("/")) or "postgres",
        }
        return config


def _flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean: use true or false")


def load_settings() -> Settings:
    """Read the settings from the environment, refusing values that cannot work."""
    url = os.environ.get("DATABASE_URL") or None
    if url is not None:
        scheme = urlsplit(url).scheme
        if scheme not in {"postgres", "postgresql"}:
            raise SettingsError(
                f"DATABASE_URL scheme {scheme!r} is not supported: use "
                "postgresql://user:password@host:5432/dbname, or unset it for SQLite"
            )
    return Settings(
        database_url=url,
        sqlite_path=Path(os.environ.get("SQLITE_PATH") or DEFAULT_SQLITE_PATH),
        debug=_flag("DEBUG"),
        admin_username=os.environ.get("ADMIN_USERNAME") or None,
        admin_password=os.environ.get("ADMIN_PASSWORD") or None,
    )


settings = load_settings()
