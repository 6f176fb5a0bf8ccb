"""Assembles the service: every route, wrapper and lifespan hook, for one set of settings.

`uvicorn app:create_app --factory` serves it with the settings read from the environment;
a test builds it for any configuration with `create_app(Settings(...))`.
"""

import time

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from home.admin.mount import admin_mount
from home.admin.site import build_admin
from home.api.auth import KeyFailures
from home.api.changes import ChangesController
from home.api.clock import Clock
from home.api.closing import CloseIn, ClosingController
from home.api.docs import docs_assets_router, docs_render_plugins, docs_router
from home.api.errors import EXCEPTION_HANDLERS
from home.api.fetch import FetchController, PublicFetchController
from home.api.members import MembersController
from home.api.openapi import (
    activity_csv,
    add_time_zones,
    document_edge_errors,
    export_zip,
    fetch_head_parameters,
    fetch_styles_any_of,
    forbid_unknown_fields,
    import_csv_body,
)
from home.api.reports import ReportsController, ReportService
from home.api.response import FetchService
from home.api.schemas import NewMemberIn, PeriodIn, SessionAt
from home.api.transfer import ExportController, ImportsController
from home.api.webhooks import DisableIn, EndpointIn, WebhooksController
from home.changes.service import ChangeService
from home.changes.watch import FeedWatcher
from home.dashboard.pages import DashboardController
from home.server import metrics
from home.server.health import HealthController
from home.settings import Settings, get_settings
from home.storage import Storage
from home.storage.login_attempts import login_throttle
from home.web.edge import Edge


def create_app(settings: Settings | None = None, clock: Clock = time.time) -> Litestar:
    """The service for `settings` (default: read from the environment), telling the time by
    `clock`."""
    settings = settings or get_settings()
    storage = Storage(settings)
    fetch = FetchService(storage)
    watcher = FeedWatcher()
    changes = ChangeService(storage, settings, watcher, clock, relay=settings.webhook_relay)
    throttle = login_throttle(settings, clock)
    app = Litestar(
        route_handlers=[
            FetchController if settings.fetch_token else PublicFetchController,
            MembersController,
            ReportsController,
            ChangesController,
            WebhooksController,
            ClosingController,
            ImportsController,
            ExportController,
            DashboardController,
            HealthController,
            docs_assets_router(),
            admin_mount(build_admin(settings, storage), storage, throttle),
            *([metrics.MetricsController] if settings.metrics else []),
        ],
        # In order: the database opens first and closes last.
        lifespan=[storage.lifespan, changes.lifespan],
        on_shutdown=[throttle.close],
        state=State(
            {
                "settings": settings,
                "clock": clock,
                "storage": storage,
                "fetch": fetch,
                "reports": ReportService(storage),
                "watcher": watcher,
                "changes": changes,
                "key_failures": KeyFailures(settings.api_key_failure_limit),
            }
        ),
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="Roster API",
            version="1.0.0",
            openapi_router=docs_router(),
            render_plugins=docs_render_plugins(),
            components=Components(
                security_schemes={
                    "ApiKey": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="An API key: `Authorization: Bearer rk_...`",
                    )
                },
            ),
        ),
        debug=settings.debug,
    )
    add_time_zones(app)
    forbid_unknown_fields(app, NewMemberIn, PeriodIn, SessionAt, EndpointIn, DisableIn, CloseIn)
    fetch_styles_any_of(app)
    fetch_head_parameters(app)
    activity_csv(app)
    import_csv_body(app)
    export_zip(app)
    document_edge_errors(app)
    # Litestar's own middleware runs only for requests that match a route; these wrap every
    # request (404s and 405s included, and the admin mount) from the outside.
    # The access log times every request already, so it also reports them to the metrics.
    # A cached /fetch/ is answered by the edge itself while /fetch/ needs no token.
    app.asgi_handler = Edge(
        app.asgi_handler,
        settings.allowed_hosts,
        observe=metrics.observe_request if settings.metrics else None,
        shortcut=None if settings.fetch_token else fetch.replay,
    )
    return app
