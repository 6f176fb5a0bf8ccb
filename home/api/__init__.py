"""The HTTP API: the `/fetch/` controller, its query parsing, rendering, cache of bodies per data
version, response schemas, the read-token guard, the one error shape and OpenAPI adjustments.

A /fetch/ request goes `fetch.FetchController` → `query.parse_fetch_query` →
`response.FetchService` (version check, cache) → `storage.roster_query` in a storage snapshot
→ `render.render`.
"""
