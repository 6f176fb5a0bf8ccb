"""Adjustments to the OpenAPI document Litestar generates."""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Reference

# What the web edge (home.web.limits) answers for any path, before a handler runs.
EDGE_ERRORS = {
    "414": "The URL is longer than 8 KiB; shorten the query",
    "431": "The headers are larger than 32 KiB",
}


def fetch_styles_any_of(app: Litestar) -> None:
    """Describe /fetch/'s two styles as `anyOf`: an empty roster is valid in both (not `oneOf`)."""
    response = app.openapi_schema.paths["/fetch"].get.responses["200"]
    schema = response.content["application/json"].schema
    schema.any_of, schema.one_of = schema.one_of, None


def document_edge_errors(app: Litestar) -> None:
    """Add the answers every request may get from the web edge to every operation."""
    schema = app.openapi_schema
    error = OpenAPIMediaType(schema=Reference(ref="#/components/schemas/ErrorResponse"))
    for path in (schema.paths or {}).values():
        for method in ("get", "head", "post", "put", "patch", "delete"):
            operation = getattr(path, method, None)
            if operation is None:
                continue
            for status, description in EDGE_ERRORS.items():
                operation.responses.setdefault(
                    status,
                    OpenAPIResponse(description=description, content={"application/json": error}),
                )
