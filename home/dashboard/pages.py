"""The dashboard's routes: the page (behind the admin login) and its assets, from our origin."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from home.api.auth import admin_user

STATIC = Path(__file__).resolve().parent / "static"
# The charting library: the bundle the `plotly` package ships (no CDN, works offline).
PLOTLY_JS = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
ASSETS = {
    "dashboard.js": (STATIC / "dashboard.js", "text/javascript"),
    "dashboard.css": (STATIC / "dashboard.css", "text/css"),
    "return.js": (STATIC / "return.js", "text/javascript"),
    "read-only.css": (STATIC / "read-only.css", "text/css"),
    "plotly.min.js": (PLOTLY_JS, "text/javascript"),
}
LOGIN = "/admin/#/login/?nextURL=%2Fdashboard%2F"


class DashboardController(Controller):
    """`GET /dashboard/` and its assets."""

    path = "/dashboard"
    include_in_schema = False

    @get("/", media_type=MediaType.HTML, cache=False)
    async def page(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """The dashboard; without an admin session, the admin's login, which sends you back."""
        if await admin_user(request) is None:
            return Redirect(LOGIN, status_code=303)  # type: ignore[return-value]
        return Response(
            _read(STATIC / "index.html"),
            media_type=MediaType.HTML,
            headers={"cache-control": "no-store"},
        )

    @get("/assets/{name:str}", cache=False)
    async def asset(self, name: FromPath[str]) -> Response[bytes]:
        """The page's scripts and styles, kept by browsers for a day."""
        found = ASSETS.get(name)
        if found is None:
            raise NotFoundException(detail=f"no dashboard asset {name!r}")
        path, media_type = found
        return Response(
            _read(path), media_type=media_type, headers={"cache-control": "public, max-age=86400"}
        )


_loaded: dict[Path, bytes] = {}


def _read(path: Path) -> bytes:
    body = _loaded.get(path)
    if body is None:
        body = _loaded[path] = path.read_bytes()
    return body
