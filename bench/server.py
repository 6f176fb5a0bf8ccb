"""The real app plus a bench-only baseline route that returns stored bytes from memory.

Never deployed: `bench/run.py` serves this module with uvicorn so the baseline runs on exactly
the same stack (Litestar, middleware, uvicorn) as /fetch/.
"""

from __future__ import annotations

import os
from pathlib import Path

from litestar import Response, get
from litestar.enums import MediaType

from app import create_app

app = create_app()
STORED = Path(os.environ.get("BENCH_STORED_DIR", "."))
_bodies: dict[str, bytes] = {}


def _stored(name: str) -> bytes:
    body = _bodies.get(name)
    if body is None:
        body = _bodies[name] = (STORED / name).read_bytes()
    return body


@get("/bench/baseline", include_in_schema=False, opt={"skip_compression": True})
async def baseline() -> Response[bytes]:
    """The /fetch/ body captured by the bench, sent from memory."""
    return Response(content=_stored("body.json"), media_type=MediaType.JSON)


@get("/bench/baseline-gzip", include_in_schema=False, opt={"skip_compression": True})
async def baseline_gzip() -> Response[bytes]:
    """The gzip /fetch/ body captured by the bench, sent from memory."""
    return Response(
        content=_stored("body.json.gz"),
        media_type=MediaType.JSON,
        headers={"Content-Encoding": "gzip"},
    )


app.register(baseline)
app.register(baseline_gzip)
