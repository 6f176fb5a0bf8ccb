"""Assembles the service: API controllers, the admin mount and the database lifespan."""

from litestar import Litestar
from litestar.openapi import OpenAPIConfig

from home.db import database_lifespan
from home.endpoints import FetchController
from home.errors import EXCEPTION_HANDLERS
from home.mount import admin_mount
from home.settings import settings

app = Litestar(
    route_handlers=[FetchController, admin_mount],
    lifespan=[database_lifespan],
    exception_handlers=EXCEPTION_HANDLERS,
    openapi_config=OpenAPIConfig(title="Roster API", version="1.0.0", path="/schema"),
    debug=settings.debug,
)
