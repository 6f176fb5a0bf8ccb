"""Fuzzing the API from its own OpenAPI document (schemathesis), with every check: no 5xx,
answers match the document, schema-valid requests are accepted and invalid ones refused."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from litestar.exceptions import ClientException
from schemathesis import GenerationMode

from app import create_app
from home.api.query import FetchQueryError, Position, encode_cursor, parse_time
from home.api.reports import report_window
from home.changes.webhooks import WebhookError, check_url
from home.roster.tables import NAME_MAX_LENGTH
from home.roster.validation import FIRST_YEAR, LAST_YEAR
from home.tooling import cli
from home.tooling.servers import Server
from tests.conftest import ENGINES, TEST_SETTINGS

EXAMPLES = 40
# `format: cursor` is a `next` value this API issued: one for any position in the roster.
schemathesis.openapi.format(
    "cursor",
    st.builds(
        Position,
        st.text(
            st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1
        ).filter(lambda name: len(name) <= NAME_MAX_LENGTH),
        st.uuids().map(str),
    ).map(encode_cursor),
)
# `format: uri` is a webhook endpoint's URL. Any URL a schema admits is refused unless it
# reaches an address (a name must resolve, and only the fuzzed server may accept a private
# one): generate URLs to local ports nothing listens on, whose deliveries fail at once.
schemathesis.openapi.format(
    "uri",
    st.builds(
        "{}://127.0.0.1:{}/{}".format,
        st.sampled_from(["http", "https"]),
        st.integers(min_value=1, max_value=1023),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/-_", max_size=30),
    ),
)
SCHEMA = schemathesis.openapi.from_dict(create_app(TEST_SETTINGS).openapi_schema.to_schema())
# The live stream never ends by design (tests/api/test_change_stream.py covers it).
ENDLESS = {"GET /api/changes/stream"}
OPERATIONS = {
    result.ok().label: result.ok()
    for result in SCHEMA.get_all_operations()
    if result.ok().label not in ENDLESS
}


@pytest.fixture(scope="module", params=ENGINES)
async def fuzzed_server(request, databases):
    """The production command on a small roster, one per engine, with an API key whose rate
    limit fuzzing cannot use up (nor its invalid keys the limit of unknown ones), and webhooks
    allowed to reach this machine's ports."""
    database = await databases(request.param)
    await database.clear()
    server = Server(
        database.env,
        workers=1,
        API_RATE_LIMIT="1000000",
        API_KEY_FAILURE_LIMIT="1000000",
        WEBHOOK_ALLOW_PRIVATE="true",
    )
    cli.check(await asyncio.to_thread(cli.piccolo, "home", "populate", "20", env=server.env))
    key = (
        server.piccolo(
            "home", "new_api_key", "fuzz", "--scope=read,sessions:write,members:write,admin"
        )
        .strip()
        .splitlines()[-1]
    )
    with server:
        yield server, {"Authorization": f"Bearer {key}"}


def _has_parameters(operation) -> bool:
    return bool(list(operation.iter_parameters())) or operation.body


def _breaks_a_rule_openapi_cannot_state(case) -> bool:
    """Rules that relate two values or depend on the clock; each is documented with its 400.

    OpenAPI has no words for them, so positive cases that break one are not generated.
    """
    query, body = case.query or {}, case.body if isinstance(case.body, dict) else {}
    path = case.operation.path
    try:
        if path == "/fetch":
            since, until = query.get("since"), query.get("until")
            if since and until and parse_time(since, "since") > parse_time(until, "until"):
                return True
            return "cursor" in query and "limit" not in query
        if path.startswith("/api/reports/") and path != "/api/reports/zones":
            # The server ends a window at its minute (now, or a minute on once it answers).
            minute = time.time() // 60 * 60
            for now in (minute, minute + 60):
                report_window(query.get("since"), query.get("until"), now)
    except (ClientException, FetchQueryError):
        return True
    if path == "/api/webhooks" and case.method.upper() == "POST":
        try:  # the URL must reach a public address, which a schema cannot say
            asyncio.run(check_url(body.get("url"), allow_private=True))
        except WebhookError:
            return True
    times = {name: body.get(name) for name in ("at", "start_time", "end_time", "until")}
    moments = {
        name: datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        for name, text in times.items()
        if isinstance(text, str)
    }
    now = datetime.now(UTC)
    for name, moment in moments.items():
        # Sessions may start up to 5 minutes ahead of the server's clock; a closing not at all.
        latest = now if name == "until" else now + timedelta(minutes=4)
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            return True
        if not FIRST_YEAR <= moment.year <= LAST_YEAR or moment > latest:
            return True
    start, end = moments.get("start_time"), moments.get("end_time")
    return start is not None and end is not None and end < start


def _fuzz(operation, mode: GenerationMode, url: str, auth: dict[str, str]) -> None:
    """Send EXAMPLES generated requests of `mode` to `operation`, running every check."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case):
        if mode is GenerationMode.POSITIVE:
            assume(not _breaks_a_rule_openapi_cannot_state(case))
        if key := (case.headers or {}).get("Idempotency-Key"):
            # A key reused with another body is a documented 422; each request gets its own.
            case.headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4()}"
        response = case.call(base_url=url, headers=auth, timeout=30)
        if mode is GenerationMode.NEGATIVE and response.status_code == 413:
            # A body over the endpoint's limit is refused before it is read (documented, and
            # a refusal): whatever else is wrong with it is never looked at.
            return
        case.validate_response(response, headers=auth)
        assert response.status_code < 500, response.text

    check()


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_api_answers_every_generated_request_as_documented(fuzzed_server, label):
    server, auth = fuzzed_server
    operation = OPERATIONS[label]
    # An import's body is a tracker's CSV export, which a schema can only call text: valid
    # bodies cannot be generated (its refusals are tested in tests/transfer/test_imports.py).
    if label != "POST /api/imports":
        _fuzz(operation, GenerationMode.POSITIVE, server.url, auth)
    # Invalid input (wrong types, out-of-range values) only exists where there is input.
    if _has_parameters(operation):
        _fuzz(operation, GenerationMode.NEGATIVE, server.url, auth)
