"""Oversized and malformed requests, sent as raw bytes to the real server: 4xx, never 5xx."""

from __future__ import annotations

import json

import pytest

from home.tooling.servers import Server, raw_request
from home.web.limits import MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_URL_BYTES


@pytest.fixture(scope="module")
async def server(databases):
    """The production command on SQLite (these requests never reach the database)."""
    database = await databases("sqlite")
    with Server(database.env, workers=1) as running:
        yield running


def request(line: bytes, *headers: bytes, body: bytes = b"") -> bytes:
    """A raw HTTP/1.1 request."""
    return b"\r\n".join([line, b"Host: 127.0.0.1", *headers, b"Connection: close", b"", body])


def json_error(response: bytes) -> dict:
    """The body of a response in the API's error shape."""
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert body["ok"] is False and body["error"]
    return body


def test_huge_query_string_is_414(server):
    query = b"name=" + b"x" * (MAX_URL_BYTES + 1)
    status, response = raw_request(server.port, request(b"GET /fetch/?" + query + b" HTTP/1.1"))
    assert status == 414
    assert "limit" in json_error(response)["error"]


def test_query_string_far_beyond_the_parser_limit_is_400(server):
    status, _ = raw_request(server.port, request(b"GET /fetch/?q=" + b"x" * 200_000 + b" HTTP/1.1"))
    assert status == 400


def test_huge_headers_are_431(server):
    big = b"X-Filler: " + b"y" * (MAX_HEADER_BYTES + 1)
    status, response = raw_request(server.port, request(b"GET /fetch/ HTTP/1.1", big))
    assert status == 431
    json_error(response)


def test_declared_huge_body_is_413_without_reading_it(server):
    length = f"Content-Length: {MAX_BODY_BYTES + 1}".encode()
    status, response = raw_request(
        server.port, request(b"POST /admin/public/login/ HTTP/1.1", length)
    )
    assert status == 413
    json_error(response)


def test_chunked_body_that_grows_too_large_is_413(server):
    chunk = b"x" * 65536
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(MAX_BODY_BYTES // len(chunk) + 2)
    )
    data = request(
        b"POST /admin/public/login/ HTTP/1.1",
        b"Transfer-Encoding: chunked",
        b"Cookie: csrftoken=t",  # so the CSRF check reads the form body
        b"Content-Type: application/x-www-form-urlencoded",
        body=chunks + b"0\r\n\r\n",
    )
    status, response = raw_request(server.port, data)
    assert status == 413
    json_error(response)


@pytest.mark.parametrize(
    "line",
    [
        b"GET /fetch/\xff\xfe HTTP/1.1",  # raw bytes that are not UTF-8
        b"GET /fetch/?name=\xff HTTP/1.1",
        b"BREW /fetch/ HTTP/1.1",  # not an HTTP method at all
        b"GET /fetch/ HTTP/9.9",
        b"GARBAGE",
    ],
    ids=["path-bytes", "query-bytes", "unknown-method", "bad-version", "garbage"],
)
def test_malformed_request_lines_are_400(server, line):
    status, _ = raw_request(server.port, request(line))
    assert status == 400


@pytest.mark.parametrize(
    "target",
    [
        b"/fetch/?name=%ff%fe",
        b"/fetch/%ff",
        b"/admin/%ff",
        b"/fetch/?%00=%00",
        b"/fetch/?a=1&a=2&&=&",
    ],
)
def test_percent_encoded_junk_is_never_a_server_error(server, target):
    status, _ = raw_request(server.port, request(b"GET " + target + b" HTTP/1.1"))
    assert 200 <= status < 500


@pytest.mark.parametrize("method", [b"PROPFIND", b"PATCH", b"DELETE", b"PUT", b"TRACE", b"CONNECT"])
def test_methods_the_api_does_not_serve_are_4xx_in_its_shape(server, method):
    target = b"127.0.0.1:1" if method == b"CONNECT" else b"/fetch/"
    status, response = raw_request(server.port, request(method + b" " + target + b" HTTP/1.1"))
    assert 400 <= status < 500
    if method != b"CONNECT":
        assert status == 405
        json_error(response)


def test_invalid_utf8_in_headers_is_not_a_server_error(server):
    status, _ = raw_request(
        server.port,
        request(b"GET /fetch/ HTTP/1.1", b"Authorization: Bearer \xff\xfe", b"X-Request-ID: \xff"),
    )
    assert status == 200


def test_malformed_login_body_is_4xx(server):
    # The admin's own errors keep the admin's shape; what matters is that they are client errors.
    status, _ = raw_request(
        server.port,
        request(b"POST /admin/public/login/ HTTP/1.1", b"Content-Length: 4", body=b"\xff\xfe{["),
    )
    assert 400 <= status < 500
