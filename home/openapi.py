"""Adjustments to the OpenAPI document Litestar generates."""

from __future__ import annotations

from litestar import Litestar


def fetch_styles_any_of(app: Litestar) -> None:
    """Describe /fetch/'s two styles as `anyOf`: an empty roster is valid in both (not `oneOf`)."""
    response = app.openapi_schema.paths["/fetch"].get.responses["200"]
    schema = response.content["application/json"].schema
    schema.any_of, schema.one_of = schema.one_of, None
