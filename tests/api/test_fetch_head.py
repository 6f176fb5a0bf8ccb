"""HEAD /fetch/: poll for changes by ETag without downloading the roster."""

from __future__ import annotations

from tests.factories import make_member, write_outside_app


async def test_head_gives_the_etag_get_would_send_without_a_body(client):
    await make_member("HEADED")
    get = await client.get("/fetch/")
    head = await client.head("/fetch/")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-type"].startswith("application/json")


async def test_head_answers_304_while_the_tag_is_current_and_200_after_a_change(client, db):
    await make_member("BEFORE")
    etag = (await client.get("/fetch/")).headers["etag"]
    assert (await client.head("/fetch/", headers={"If-None-Match": etag})).status_code == 304
    await write_outside_app(db, "UPDATE member SET real_name = 'AFTER'")
    changed = await client.head("/fetch/", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.headers["etag"] == (await client.get("/fetch/")).headers["etag"]


async def test_head_tags_follow_parameters_and_encoding(client):
    await make_member("PARAMS")
    plain = await client.head("/fetch/", headers={"Accept-Encoding": "identity"})
    gzipped = await client.head("/fetch/", headers={"Accept-Encoding": "gzip"})
    styled = await client.head(
        "/fetch/?style=fullthrottle", headers={"Accept-Encoding": "identity"}
    )
    assert gzipped.headers["content-encoding"] == "gzip"
    assert len({plain.headers["etag"], gzipped.headers["etag"], styled.headers["etag"]}) == 3
    styled_get = await client.get(
        "/fetch/?style=fullthrottle", headers={"Accept-Encoding": "identity"}
    )
    assert styled.headers["etag"] == styled_get.headers["etag"]


async def test_head_refuses_bad_parameters_like_get(client):
    response = await client.head("/fetch/?limit=0")
    assert response.status_code == 400


async def test_head_states_the_body_length_only_when_it_knows_it(client):
    """RFC 9110: a HEAD answer may leave Content-Length out, but must not state another."""
    await make_member("LENGTH")
    for encoding in ("identity", "gzip"):
        headers = {"accept-encoding": encoding}
        cold = await client.head("/fetch/", headers=headers)
        assert cold.status_code == 200 and "content-length" not in cold.headers
        get = await client.get("/fetch/", headers=headers)
        warm = await client.head("/fetch/", headers=headers)
        assert warm.headers["content-length"] == get.headers["content-length"]
        if encoding == "identity":
            assert int(warm.headers["content-length"]) == len(get.content)
    for path in ("/health/live", "/health/ready"):
        response = await client.head(path)
        assert response.status_code == 200, path
        assert "content-length" not in response.headers, path


async def test_head_and_get_refuse_a_parameter_given_twice(client):
    for method in ("GET", "HEAD"):
        response = await client.request(method, "/fetch/?style=seed&style=fullthrottle")
        assert response.status_code == 400, method
    response = await client.get("/fetch/?limit=1&limit=2")
    assert response.json() == {"ok": False, "error": "limit is given 2 times; give it once"}
