"""Assembles the service: API controllers, the admin mount and the database lifespan."""

from litestar import Litestar
from litestar.openapi import OpenAPIConfig

from home.accesslog import AccessLog
from home.db import database_lifespan
from home.endpoints import FetchController
from home.errors import EXCEPTION_HANDLERS
from home.headers import SecurityHeaders
from home.health import HealthController
from home.hosts import AllowedHosts
from home.limits import RequestLimits
from home.mount import admin_mount
from home.openapi import fetch_styles_any_of
from home.settings import settings

app = Litestar(
    route_handlers=[FetchController, HealthController, admin_mount],
    lifespan=[database_lifespan],
    exception_handlers=EXCEPTION_HANDLERS,
    openapi_config=OpenAPIConfig(title="Roster API", version="1.0.0", path="/schema"),
    debug=settings.debug,
)
fetch_styles_any_of(app)
# Litestar's own middleware runs only for requests that match a route; these wrap every request
# (404s and 405s included, and the admin mount) from the outside.
app.asgi_handler = AccessLog(
    SecurityHeaders(RequestLimits(AllowedHosts(app.asgi_handler, settings.allowed_hosts)))
)
