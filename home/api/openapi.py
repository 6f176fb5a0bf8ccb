"""Adjustments to the OpenAPI document Litestar generates.

Query parameters and body fields the API reads as text and validates itself (so every refusal
says what to change in our words) publish what they really accept through `accepts(...)`;
Litestar documents it without validating it.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    Reference,
    RequestBody,
    Schema,
)

from home.roster.validation import known_zones

# What the web edge (home.web.limits) answers for any path, before a handler runs.
EDGE_ERRORS = {
    "414": "The URL is longer than 8 KiB; shorten the query",
    "431": "The headers are larger than 32 KiB",
}
TIME_ZONE = "TimeZone"


def accepts(**schema: Any) -> dict[str, Any]:
    """`schema_extra` publishing what a text parameter accepts (it cannot be null: it is
    either given or left out), e.g. `accepts(type="integer", minimum=1)`."""
    return {"one_of": None, "type": "string", **schema}


def zone_reference() -> Reference:
    """A reference to the `TimeZone` component: every IANA zone the service knows."""
    return Reference(ref=f"#/components/schemas/{TIME_ZONE}")


def add_time_zones(app: Litestar) -> None:
    """The `TimeZone` component (the zones `check_tz` accepts, as an enum) that zone
    parameters and fields refer to."""
    app.openapi_schema.components.schemas[TIME_ZONE] = Schema(
        type="string",  # type: ignore[arg-type]
        enum=sorted(known_zones()),
        description="An IANA time zone this service knows, e.g. `Asia/Kolkata`",
    )


def forbid_unknown_fields(app: Litestar, *structs: type) -> None:
    """Say that these bodies refuse fields they do not declare (msgspec's
    `forbid_unknown_fields`), which Litestar leaves out of the document."""
    for struct in structs:
        app.openapi_schema.components.schemas[struct.__name__].additional_properties = False


def fetch_styles_any_of(app: Litestar) -> None:
    """Describe /fetch/'s two styles as `anyOf`: an empty roster is valid in both (not `oneOf`)."""
    response = app.openapi_schema.paths["/fetch"].get.responses["200"]
    schema = response.content["application/json"].schema
    schema.any_of, schema.one_of = schema.one_of, None


def fetch_head_parameters(app: Litestar) -> None:
    """`HEAD /fetch/` reads the same parameters as GET (from the query string, unvalidated by
    Litestar): publish them there too."""
    path = app.openapi_schema.paths["/fetch"]
    path.head.parameters = path.get.parameters


def activity_csv(app: Litestar) -> None:
    """`/api/reports/activity` answers CSV too (`format=csv` or `Accept: text/csv`)."""
    response = app.openapi_schema.paths["/api/reports/activity"].get.responses["200"]
    response.content["text/csv"] = OpenAPIMediaType(
        schema=Schema(
            type="string",  # type: ignore[arg-type]
            description="`member_id,real_name,tz,bucket,seconds`, one line per member and bucket",
        )
    )


def import_csv_body(app: Litestar) -> None:
    """`POST /api/imports` takes the file itself as its body (`text/csv`), read as a stream."""
    operation = app.openapi_schema.paths["/api/imports"].post
    operation.request_body = RequestBody(
        content={
            "text/csv": OpenAPIMediaType(
                schema=Schema(
                    type="string",  # type: ignore[arg-type]
                    description="A Toggl Track or Clockify detailed CSV export, or the roster's "
                    "periods.csv, in UTF-8, header first",
                )
            )
        },
        required=True,
    )


def export_zip(app: Litestar) -> None:
    """`GET /api/export` answers a zip file."""
    response = app.openapi_schema.paths["/api/export"].get.responses["200"]
    response.content = {
        "application/zip": OpenAPIMediaType(
            schema=Schema(type="string", format="binary")  # type: ignore[arg-type]
        )
    }


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
