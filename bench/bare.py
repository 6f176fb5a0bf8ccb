"""The benchmark's baseline: a bare Litestar app, outside the project's code, serving the bytes
the bench captured from /fetch/ from memory, with no middleware of ours. `bench/run.py` serves
it with the same uvicorn flags as the project and alternates the two in one run.
"""

import os
from pathlib import Path

from litestar import Litestar, Response, get
from litestar.enums import MediaType

STORED = Path(os.environ["BENCH_STORED_DIR"])
BODY = (STORED / "body.json").read_bytes()
GZIPPED = (STORED / "body.json.gz").read_bytes()


@get("/fetch/")
async def stored() -> Response[bytes]:
    """The /fetch/ body, from memory."""
    return Response(content=BODY, media_type=MediaType.JSON)


@get("/fetch/gzip")
async def stored_gzip() -> Response[bytes]:
    """The gzip /fetch/ body, from memory."""
    return Response(
        content=GZIPPED, media_type=MediaType.JSON, headers={"Content-Encoding": "gzip"}
    )


app = Litestar([stored, stored_gzip])
