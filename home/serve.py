"""The production server: uvicorn with several workers, proxy headers, JSON access logs.

`python -m home.serve --check` only validates the settings; without it the server starts.
"""

from __future__ import annotations

import sys

import uvicorn

LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(message)s"},
        "default": {
            "()": "uvicorn.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(name)s: %(message)s",
            "use_colors": False,
        },
    },
    "handlers": {
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "stream": "ext://sys.stdout",
        },
        "default": {
            "class": "logging.StreamHandler",
            "formatter": "default",
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        "roster.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "roster": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        # Replaced by roster.access, which logs the real path of admin requests.
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}


def main(argv: list[str]) -> int:
    """Validate the settings, then (unless --check) serve `app:app` with uvicorn."""
    try:
        from home.settings import settings
    except ValueError as error:  # SettingsError: say why, without a traceback
        print(f"roster: {error}", file=sys.stderr)
        return 2
    mode = "production" if settings.production else "development"
    print(
        f"roster: settings OK ({mode}, {settings.engine}, {settings.workers} workers, "
        f"{settings.host}:{settings.port})",
        file=sys.stderr,
    )
    if "--check" in argv:
        return 0
    uvicorn.run(
        "app:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=settings.graceful_timeout,
        access_log=False,
        log_config=LOG_CONFIG,
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
