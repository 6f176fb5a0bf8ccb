"""Settings: read once from an environment, refusing values that cannot work, all documented."""

from __future__ import annotations

import re

import pytest

from home.admin.site import csrf_hosts
from home.settings import SettingsError, load_settings
from home.storage.postgres import engine_config
from home.tooling.cli import PROJECT_DIR
from home.web.hosts import hostname

SAFE_PRODUCTION = {"APP_ENV": "production", "ALLOWED_HOSTS": "roster.example.com", "DEBUG": ""}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"APP_ENV": "prod"}, "APP_ENV='prod' is not known"),
        ({**SAFE_PRODUCTION, "ALLOWED_HOSTS": "*"}, "wildcard"),
        ({"ALLOWED_HOSTS": "localhost:8000"}, "'localhost:8000' has a port"),
        ({"ALLOWED_HOSTS": "[::1]:8000"}, "has a port after the IPv6 address"),
        ({"ALLOWED_HOSTS": "https://roster.example.com"}, "has a scheme"),
        ({"ALLOWED_HOSTS": "roster.example.com/admin"}, "has a path"),
        ({**SAFE_PRODUCTION, "ADMIN_PASSWORD": "admin"}, "ADMIN_PASSWORD is 5 characters"),
        ({**SAFE_PRODUCTION, "METRICS_TOKEN": "token"}, "METRICS_TOKEN is 5 characters"),
        ({**SAFE_PRODUCTION, "METRICS": "on"}, "METRICS is on without a METRICS_TOKEN"),
        ({"METRICS": "maybe"}, "METRICS='maybe' is not a boolean"),
        (
            {"WEBHOOK_TIMEOUT": "20", "WEBHOOK_LEASE_SECONDS": "30"},
            "WEBHOOK_LEASE_SECONDS=30 is less than three times WEBHOOK_TIMEOUT=20",
        ),
        ({"WEB_CONCURRENCY": "lots"}, "WEB_CONCURRENCY='lots' is not a number"),
        ({"DB_CONNECT_TIMEOUT": "0"}, "DB_CONNECT_TIMEOUT='0' is out of range"),
        ({"SESSION_EXPIRY_MINUTES": "600", "SESSION_MAX_EXPIRY_HOURS": "1"}, "shorter than"),
    ],
)
def test_settings_refuse_values_that_cannot_work(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_database_url_options_reach_the_driver():
    url = "postgresql://u:p%40ss@db.example.com:6543/roster?sslmode=verify-full&application_name=x"
    config = engine_config(load_settings({"DATABASE_URL": url}))
    assert config["dsn"] == url
    assert {"timeout", "command_timeout"} <= set(config)


def test_allowed_hosts_take_bare_names_and_ipv6_addresses():
    loaded = load_settings({"ALLOWED_HOSTS": " Roster.Example.com , [::1],127.0.0.1,::2,"})
    # Host headers carry IPv6 addresses in brackets, so they are matched that way ...
    assert loaded.allowed_hosts == ("roster.example.com", "[::1]", "127.0.0.1", "[::2]")
    assert hostname(b"[::2]:8000") in loaded.allowed_hosts
    # ... while the admin's CSRF check compares Origin host names, which have none.
    assert csrf_hosts(loaded) == ["roster.example.com", "::1", "127.0.0.1", "::2"]


def test_the_shells_env_variable_is_not_the_environment():
    # POSIX shells keep a start-up file in ENV; it must not be read as APP_ENV.
    assert load_settings({"ENV": "/root/.shrc"}).environment == "development"


def test_production_serves_metrics_only_behind_a_token():
    token = "t" * 32
    loaded = load_settings({**SAFE_PRODUCTION, "METRICS": "on", "METRICS_TOKEN": token})
    assert loaded.metrics and loaded.metrics_token == token
    assert load_settings({"METRICS": "on"}).metrics  # development may leave it open


def test_development_needs_no_production_settings():
    loaded = load_settings({"DEBUG": "true"})
    assert not loaded.production and loaded.debug


def test_env_example_lists_every_setting():
    """Make sure each variable the settings read is explained in .env.example."""
    source = (PROJECT_DIR / "home" / "settings.py").read_text()
    read = set(re.findall(r'(?:env(?:\.get)?[(\[]|_number\(env, |_flag\(env, )"([A-Z_]+)"', source))
    assert {"DATABASE_URL", "LOGIN_RATE_STATE", "WEB_CONCURRENCY"} <= read
    example = (PROJECT_DIR / ".env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z_]+)=", example, flags=re.MULTILINE))
    assert read - listed == set()
