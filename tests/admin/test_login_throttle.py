"""The admin's login throttle over HTTP: a login that must wait is answered 429 with what to
wait for, before Piccolo Admin sees it; a login that succeeds clears its account's counts
and keeps its address known (the counting itself: tests/storage/test_login_attempts.py)."""

from __future__ import annotations

import httpx
import pytest

from home.admin.mount import login_username
from home.storage.login_attempts import SharedLoginLimit
from tests.support.admin import PASSWORD, AdminSession, create_admin_user

pytestmark = pytest.mark.filterwarnings("ignore:If running sessions in production:UserWarning")

NOW = 1_800_000_000.0


@pytest.fixture
def throttled(client_for, tmp_path):
    """`throttled(**limits)`: a client of an app whose clock stands still (no delay passes)
    and whose login counts start empty."""

    def make(**limits: int) -> httpx.AsyncClient:
        return client_for(clock=lambda: NOW, login_rate_state=tmp_path / "logins.sqlite", **limits)

    return make


def from_address(http: httpx.AsyncClient, address: str) -> httpx.AsyncClient:
    """A client of the same app as `http`, from `address`."""
    transport = httpx.ASGITransport(app=http._transport.app, client=(address, 1))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_a_login_that_must_wait_gets_429_saying_why_and_how_long(db, throttled):
    await create_admin_user("operator")
    admin = await AdminSession(throttled(login_pair_limit=2)).open()
    statuses = [(await admin.login("operator", "wrong")).status_code for _ in range(2)]
    assert statuses == [401, 401]
    refused = await admin.login("operator", PASSWORD)  # even the right password must wait
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json() == {
        "detail": "Too many login attempts for this account from this address: "
        "wait 1 second before trying again"
    }
    assert "sessionid" not in admin.http.cookies


async def test_guesses_from_many_addresses_are_slowed_per_account(db, throttled):
    http = throttled(login_account_limit=3, login_rate_limit=100)
    for n in range(3):
        async with from_address(http, f"198.51.100.{n}") as other:
            guess = await (await AdminSession(other).open()).login("operator", "wrong")
            assert guess.status_code == 401
    async with from_address(http, "198.51.100.77") as other:
        refused = await (await AdminSession(other).open()).login("operator", "wrong")
    assert refused.status_code == 429
    assert "for this account" in refused.json()["detail"]


async def test_a_known_operator_logs_in_while_guesses_slow_the_address(db, throttled):
    await create_admin_user("operator")
    http = throttled(login_rate_limit=3)
    async with (
        from_address(http, "203.0.113.9") as office,
        from_address(http, "203.0.113.9") as same_nat,
    ):
        operator = await AdminSession(office).open()
        assert (await operator.login()).status_code == 200
        # Someone else behind the office's NAT guesses at other accounts.
        guesser = await AdminSession(same_nat).open()
        for n in range(3):
            assert (await guesser.login(f"user{n}", "wrong")).status_code == 401
        assert (await guesser.login("newcomer", "wrong")).status_code == 429
        # The operator, who logged in from there before, is not shut out.
        assert (await operator.login()).status_code == 200


async def test_a_login_clears_the_accounts_count(db, throttled):
    await create_admin_user("operator")
    admin = await AdminSession(throttled(login_pair_limit=2)).open()
    assert (await admin.login("operator", "wrong")).status_code == 401
    assert (await admin.login()).status_code == 200
    # Counting starts again: two more mistakes are allowed before a wait.
    assert [(await admin.login("operator", "wrong")).status_code for _ in range(2)] == [401] * 2
    assert (await admin.login("operator", "wrong")).status_code == 429


async def test_form_logins_are_counted_by_their_username(db, throttled):
    http = throttled(login_pair_limit=1, login_rate_limit=100)
    admin = await AdminSession(http).open()
    form = {"username": "operator", "password": "wrong"}
    headers = admin.write_headers()
    first = await http.post("/admin/public/login/", data=form, headers=headers)
    assert first.status_code == 401
    second = await http.post("/admin/public/login/", data=form, headers=headers)
    assert second.status_code == 429
    # Another username from the same address is not that account's pair.
    other = await http.post(
        "/admin/public/login/", data={**form, "username": "someone"}, headers=headers
    )
    assert other.status_code == 401


def test_the_username_is_read_from_json_or_a_form():
    assert login_username(b"application/json", b'{"username": "alice"}') == "alice"
    assert login_username(b"application/x-www-form-urlencoded", b"username=al%20ice&p=1") == (
        "al ice"
    )
    assert login_username(b"application/json", b'{"username": 7}') == ""
    assert login_username(b"application/json", b"[1]") == ""
    assert login_username(b"application/json", b"not json") == ""
    assert login_username(b"", b"\xff\xfe") == ""


async def test_logins_are_refused_while_their_counts_cannot_be_reached(db, throttled, monkeypatch):
    admin = await AdminSession(throttled()).open()

    def failing(self, *args):
        raise OSError("connection refused")

    # The throttle's storage fails: the login is refused, never waved through.
    monkeypatch.setattr(SharedLoginLimit, "_apply", failing)
    refused = await admin.login("operator", PASSWORD)
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert "try again" in refused.json()["detail"]
