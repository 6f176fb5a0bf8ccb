"""Answering /fetch/: 304 for a current ETag, cached bytes while the data is unchanged,
otherwise a fresh render — whole when small, streamed in chunks when large.

`FetchService.replay` answers the commonest request, a cached /fetch/ the route has already
validated once, from the edge before routing (see `home/web/edge.py`).
"""

from __future__ import annotations

import asyncio
import io
import zlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, NamedTuple

from litestar import Response
from litestar.enums import MediaType
from litestar.response import Stream
from litestar.types import Scope

from home.api.cache import CACHE_MAX_BYTES, GZIP_LEVEL, BodyCache, compress
from home.api.query import FetchQuery
from home.api.render import render
from home.changes.feed import encode_cursor
from home.server import metrics
from home.storage import DataVersion, Snapshot, Storage
from home.storage.roster_query import roster_statement
from home.web.http import head_response

# A render still going after this many bytes is streamed instead of assembled.
STREAM_AFTER_BYTES = 1024 * 1024
# How many distinct requests (Host, path, query string) the replay remembers (then it starts
# over), and the longest it remembers (the three together): at most 2 MB however they vary.
KNOWN_REQUESTS_MAX = 1024
KNOWN_REQUEST_MAX_BYTES = 2048
JSON_TYPE = (b"content-type", MediaType.JSON.value.encode())
# Where `replay`, stepping aside, leaves the data version it read (or the error reading it
# raised), for the route to use.
VERSION_READ = "roster.data_version"


class Answer(NamedTuple):
    """A complete response the edge sends as it is: status, headers, body, route template."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    route: str


def _request_key(scope: Scope) -> tuple[bytes, bytes, bytes]:
    """The Host header, path and query string as the client sent them (the router rewrites
    scope["path"]; it refuses some Host headers, so a replay must see the same one)."""
    host = next((value for name, value in scope["headers"] if name == b"host"), b"")
    return host, scope.get("raw_path") or scope["path"].encode(), scope["query_string"]


def conditional_headers(scope: Scope) -> tuple[str | None, str | None]:
    """Accept-Encoding and If-None-Match, read straight from the ASGI scope.

    Building request.headers would cost more than the whole cached answer. A header sent on
    several lines is one comma-separated list (RFC 9110, section 5.3).
    """
    accept_encoding = if_none_match = None
    for header, value in scope["headers"]:
        if header == b"accept-encoding":
            text = value.decode("latin-1")
            accept_encoding = text if accept_encoding is None else f"{accept_encoding}, {text}"
        elif header == b"if-none-match":
            text = value.decode("latin-1")
            if_none_match = text if if_none_match is None else f"{if_none_match}, {text}"
    return accept_encoding, if_none_match


def etag_for(version: DataVersion, tag: str, gzipped: bool) -> str:
    """A strong ETag: the data version and the request's tag; the gzip form has its own."""
    return f'"{version.token}.{tag}{".gz" if gzipped else ""}"'


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True when Accept-Encoding allows gzip: named with a non-zero q, or else by `*`."""
    if not accept_encoding:
        return False
    lowered = accept_encoding.lower()
    if "gzip" not in lowered and "*" not in lowered:
        return False
    qualities: dict[str, float] = {}
    for item in lowered.split(","):
        coding, _, parameters = item.partition(";")
        coding = coding.strip()
        if coding not in ("gzip", "x-gzip", "*"):
            continue
        quality = 1.0
        for parameter in parameters.split(";"):
            key, _, value = parameter.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[coding] = quality
    # A coding named outright overrides `*` (RFC 9110, section 12.5.3).
    named = qualities.get("gzip", qualities.get("x-gzip"))
    quality = named if named is not None else qualities.get("*", 0.0)
    return quality > 0


def matches(if_none_match: str | None, version: DataVersion, tag: str) -> bool:
    """True when If-None-Match names the current representation in either encoding."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    current = {etag_for(version, tag, False), etag_for(version, tag, True)}
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate in current:
            return True
    return False


CACHE_HEADERS = ((b"vary", b"Accept-Encoding"), (b"cache-control", b"no-cache"))
# Where the change feed stood when the answer's data was read: follow it from there.
CURSOR_HEADER = "Changes-Cursor"


def cursor_header(version: DataVersion) -> tuple[bytes, bytes]:
    """The Changes-Cursor header of an answer read at `version`."""
    return (b"changes-cursor", encode_cursor(version.changes).encode())


def cache_headers(etag: str, gzipped: bool, version: DataVersion | None = None) -> dict[str, str]:
    """The headers every answer of a cached representation carries, with the change feed's
    position when the answer is the roster read at `version`."""
    headers = {"ETag": etag, "Vary": "Accept-Encoding", "Cache-Control": "no-cache"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    if version is not None:
        headers[CURSOR_HEADER] = encode_cursor(version.changes)
    return headers


class FetchService:
    """Answers /fetch/ for one app: its storage, its cache of bodies, the renders in flight."""

    def __init__(self, storage: Storage, cache: BodyCache | None = None):
        self.storage = storage
        self.cache = BodyCache() if cache is None else cache
        self._rendering: dict[str, asyncio.Future[None]] = {}
        self._version: DataVersion | None = None
        # (Host, path, query string) of requests the route answered, as sent -> their query's
        # tag and the route's template (for the metrics, as the router names it).
        self._known: dict[tuple[bytes, bytes, bytes], tuple[str, str]] = {}

    def learn(self, scope: Scope, query: FetchQuery) -> None:
        """Note that the route validated this request's Host, path and query string as
        `query`, so `replay` may answer the same request again from the cache."""
        key = _request_key(scope)
        if key not in self._known and sum(map(len, key)) <= KNOWN_REQUEST_MAX_BYTES:
            if len(self._known) >= KNOWN_REQUESTS_MAX:
                self._known.clear()
            self._known[key] = (query.tag, scope.get("path_template") or scope["path"])

    async def replay(self, scope: Scope) -> Answer | None:
        """The answer to a GET the route has validated before, when it is a 304 or a cached
        body; None for anything else (the app then answers it, the same way but slower).

        Skipping the router, the parameter parsing and the response classes is what brings a
        cached /fetch/ to the bare stack's speed. Host, path and query string are matched byte
        for byte, so a request is answered here only as the route answered it before. It is
        wired only while /fetch/ is public (no FETCH_TOKEN): it checks no credentials.
        """
        if scope["method"] != "GET":
            return None
        known = self._known.get(_request_key(scope))
        if known is None:
            return None
        tag, route = known
        try:
            version = await self._current_version()
        except Exception as error:
            # The route answers with its error handling (a 503 in an outage), without asking
            # the database a second time: in an outage that would double the wait.
            scope[VERSION_READ] = error
            return None
        accept_encoding, if_none_match = conditional_headers(scope)
        gzipped = accepts_gzip(accept_encoding)
        if matches(if_none_match, version, tag):
            etag = etag_for(version, tag, gzipped).encode()
            headers = [(b"etag", etag), *CACHE_HEADERS, cursor_header(version)]
            return Answer(304, headers, b"", route)
        entry = self.cache.get(version, tag)
        body = None if entry is None else (entry.gzip if gzipped else entry.body)
        if body is None:
            scope[VERSION_READ] = version  # the route renders it without reading it again
            return None
        metrics.FETCH_CACHE_HIT.inc()
        headers = [
            JSON_TYPE,
            (b"content-length", str(len(body)).encode()),
            (b"etag", etag_for(version, tag, gzipped).encode()),
            *CACHE_HEADERS,
            cursor_header(version),
        ]
        if gzipped:
            headers.append((b"content-encoding", b"gzip"))
        return Answer(200, headers, body, route)

    async def get(
        self,
        query: FetchQuery,
        accept_encoding: str | None,
        if_none_match: str | None,
        version: DataVersion | Exception | None = None,
    ) -> Response[Any]:
        """The response for one validated /fetch/ request (`version`: the data version this
        request has read already, or the error reading it raised, if any)."""
        gzipped = accepts_gzip(accept_encoding)
        if isinstance(version, Exception):
            raise version
        if version is None:
            version = await self._current_version()
        if matches(if_none_match, version, query.tag):
            etag = etag_for(version, query.tag, gzipped)
            headers = cache_headers(etag, False, version)
            return Response(content=b"", status_code=304, headers=headers)
        cache = self.cache
        tag = query.tag
        entry = cache.get(version, tag)
        if entry is None:
            metrics.FETCH_CACHE_MISS.inc()
            # Requests arriving while the same body renders wait for it instead of rendering too.
            key = f"{version.token}/{tag}"
            rendering = self._rendering.get(key)
            if rendering is None:
                rendering = self._rendering[key] = asyncio.get_running_loop().create_future()
                try:
                    return await self._render_response(query, gzipped)
                finally:
                    del self._rendering[key]
                    rendering.set_result(None)
            await asyncio.shield(rendering)
            entry = cache.get(version, tag)
            if entry is None:  # streamed (too large to assemble) or failed: render for this one
                return await self._render_response(query, gzipped)
        else:
            metrics.FETCH_CACHE_HIT.inc()
        body = await cache.gzipped(version, tag, entry) if gzipped else entry.body
        return Response(
            content=body,
            media_type=MediaType.JSON,
            headers=cache_headers(etag_for(version, query.tag, gzipped), gzipped, version),
        )

    async def head(
        self, query: FetchQuery, accept_encoding: str | None, if_none_match: str | None
    ) -> Response[None]:
        """HEAD /fetch/: the current ETag (or 304) from the version check alone, nothing rendered.

        Content-Length is sent only when the exact bytes GET would send are already cached
        (RFC 9110, section 8.6: a HEAD answer may omit it, but must not state another length).
        """
        gzipped = accepts_gzip(accept_encoding)
        version = await self._current_version()
        headers = cache_headers(etag_for(version, query.tag, gzipped), gzipped, version)
        if matches(if_none_match, version, query.tag):
            return head_response(304, cache_headers(headers["ETag"], False, version))
        headers["Content-Type"] = MediaType.JSON.value
        entry = self.cache.get(version, query.tag)
        body = None if entry is None else (entry.gzip if gzipped else entry.body)
        if body is not None:
            headers["Content-Length"] = str(len(body))
        return head_response(200, headers)

    async def _current_version(self) -> DataVersion:
        """The committed data version. A change is counted, and the cache lets go of the older
        version's bodies at once."""
        version = await self.storage.adapter().current_version()
        if version is not self._version:
            if self._version is not None and version != self._version:
                metrics.DATA_VERSION_CHANGES.inc()
            self.cache.advance(version)
            self._version = version
        return version

    async def _render_response(self, query: FetchQuery, gzipped: bool) -> Response[Any]:
        metrics.FETCH_RENDERS.inc()
        adapter = self.storage.adapter()
        cache = self.cache
        sql, params = roster_statement(adapter.dialect, query)
        opened = adapter.snapshot(sql, params)
        snapshot = await opened.__aenter__()
        try:
            chunks = render(snapshot, query, adapter.times)
            parts: list[bytes] = []
            size = 0
            async for part in chunks:
                parts.append(part)
                size += len(part)
                if size >= STREAM_AFTER_BYTES:
                    break
            else:
                await opened.__aexit__(None, None, None)
                body = b"".join(parts)
                cache.put(snapshot.version, query.tag, body)
                entry = cache.get(snapshot.version, query.tag)
                if gzipped:
                    body = (
                        await cache.gzipped(snapshot.version, query.tag, entry)
                        if entry is not None
                        else compress(body)
                    )
                etag = etag_for(snapshot.version, query.tag, gzipped)
                return Response(
                    content=body,
                    media_type=MediaType.JSON,
                    headers=cache_headers(etag, gzipped, snapshot.version),
                )
        except BaseException as error:
            await opened.__aexit__(type(error), error, error.__traceback__)
            raise
        etag = etag_for(snapshot.version, query.tag, gzipped)
        return Stream(
            _stream(parts, chunks, opened, snapshot, query, gzipped, cache),
            media_type=MediaType.JSON,
            headers=cache_headers(etag, gzipped, snapshot.version),
        )


async def _stream(
    parts: list[bytes],
    chunks: AsyncIterator[bytes],
    opened: AbstractAsyncContextManager[Snapshot],
    snapshot: Snapshot,
    query: FetchQuery,
    gzipped: bool,
    cache: BodyCache,
) -> AsyncIterator[bytes]:
    """Send what was rendered so far, then the rest as it is rendered; keep it if it fits."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if gzipped else None
    # Only one stream per body keeps a copy for the cache, so concurrent streams of a large
    # roster hold one chunk each, not one document each.
    fill = cache.claim_fill(snapshot.version, query.tag)
    # The copy grows in one buffer whose getvalue() hands over its bytes without copying them,
    # so keeping a body costs its size once (joining a list of parts would need it twice).
    kept: io.BytesIO | None = io.BytesIO() if fill is not None else None
    compressed_kept = io.BytesIO()
    complete = False

    def keep(part: bytes) -> None:
        nonlocal kept
        if kept is not None:
            kept.write(part)
            if kept.tell() > CACHE_MAX_BYTES:
                kept = None
                compressed_kept.close()

    def encode(part: bytes) -> bytes:
        if compressor is None:
            return part
        out = compressor.compress(part)
        if kept is not None:
            compressed_kept.write(out)
        return out

    try:
        for part in parts:
            keep(part)
            out = encode(part)
            if out:
                yield out
        parts.clear()
        async for part in chunks:
            out = encode(part)
            keep(part)
            if out:
                yield out
        if compressor is not None:
            tail = compressor.flush()
            if kept is not None:
                compressed_kept.write(tail)
            yield tail
        complete = True
    finally:
        if fill is not None:
            cache.release_fill(fill)
        await chunks.aclose()  # type: ignore[attr-defined]
        await opened.__aexit__(None, None, None)
    if complete and kept is not None:
        cache.put(
            snapshot.version,
            query.tag,
            kept.getvalue(),
            compressed_kept.getvalue() if compressor is not None else None,
        )
