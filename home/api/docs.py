"""The API docs pages (Redoc at /schema, Swagger UI at /schema/swagger), with no request leaving us.

Their scripts and styles come from the pinned `fastapi-offline` package (which ships Redoc's and
Swagger UI's release bundles) and are served from this origin; Litestar would load them from CDNs.
The pages' own policy keeps anything else (Redoc's sidebar fetches its maker's logo) from leaving.
"""

from __future__ import annotations

from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

from litestar import MediaType, Response, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    RedocRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.static_files import create_static_files_router

DOCS_PATH = "/schema"
ASSETS_PACKAGE = "fastapi-offline"
# Found without importing it: only its files are used, not its FastAPI wrapper.
ASSETS_DIR = Path(find_spec("fastapi_offline").submodule_search_locations[0]) / "static"
# The package's version is in the path, so browsers may keep the files for a year: an upgrade
# changes every URL.
ASSETS_PATH = f"{DOCS_PATH}/assets/{version(ASSETS_PACKAGE)}"
# No icon of our own; an empty one keeps browsers from asking for /favicon.ico.
NO_FAVICON = "<link rel='icon' href='data:,'>"
# Litestar's Swagger page names the preset as `SwaggerUIBundle.SwaggerUIStandalonePreset`, which
# the preset's script never defines, so the script would be downloaded for nothing.
EMPTY_SCRIPT = "data:text/javascript,"

# This origin only (and the pages' inline code and styles): the browser refuses anything else
# before asking for it. Set here, home.web.security_headers leaves it alone.
DOCS_CSP = "default-src 'self' 'unsafe-inline' data: blob:; frame-ancestors 'none'"


def docs_router() -> Router:
    """The router Litestar puts the docs pages on; each page gets the policy above."""
    return Router(DOCS_PATH, route_handlers=[], include_in_schema=False, after_request=_page_policy)


def _page_policy(response: Response) -> Response:
    # The documents themselves (openapi.json, .yaml) keep the web edge's stricter policy for data.
    if response.media_type == MediaType.HTML:
        response.headers["content-security-policy"] = DOCS_CSP
    return response


def docs_assets_router() -> Router:
    """Redoc's and Swagger UI's files, served from the pinned package with a year's caching."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[ASSETS_DIR],
        name="docs-assets",
        cache_control=CacheControlHeader(max_age=365 * 24 * 3600, public=True),
    )


def docs_render_plugins() -> list[OpenAPIRenderPlugin]:
    """Redoc (the default page), Swagger UI and the document itself, all drawn from our origin."""
    return [
        RedocRenderPlugin(
            js_url=f"{ASSETS_PATH}/redoc.standalone.js", google_fonts=False, favicon=NO_FAVICON
        ),
        SwaggerRenderPlugin(
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=EMPTY_SCRIPT,
            favicon=NO_FAVICON,
        ),
        JsonRenderPlugin(),
        YamlRenderPlugin(),
    ]
