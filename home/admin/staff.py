"""Read-only staff: admin users without the superuser flag may log in, browse every table,
read the audit trail and use the dashboard, and write nothing.

Refused on the server, in the mount (`home/admin/mount.py`), for every write under the admin
(rows, forms, demo data, API keys) whatever the browser shows: 403 with a message. The
admin's page also gets a style sheet that hides the buttons such a user could not use.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from litestar.types import Scope
from piccolo_api.session_auth.tables import SessionsBase

from home.web.http import header

# The admin's own paths a read-only user still writes to: their session, their password.
OWN_ACCOUNT = {"/public/login/", "/public/logout/", "/api/change-password/"}
SESSION_COOKIE = "id"
READ_ONLY_MESSAGE = (
    "you are read-only staff: you may browse and read, and change nothing; ask a superuser "
    "to make this change"
)
# Added to the admin's page for a read-only user.
READ_ONLY_STYLE = b'<link rel="stylesheet" href="/dashboard/assets/read-only.css">'


def _session_token(scope: Scope) -> str | None:
    cookies = SimpleCookie()
    try:
        cookies.load(header(scope, b"cookie").decode("latin-1"))
    except CookieError:
        return None
    found = cookies.get(SESSION_COOKIE)
    return found.value if found is not None and found.value else None


async def is_read_only(scope: Scope) -> bool:
    """Whether the request comes from a logged-in admin user who is not a superuser."""
    from home.admin.tables import AdminUser

    token = _session_token(scope)
    if token is None:
        return False
    user_id = await SessionsBase.get_user_id(token)
    if user_id is None:
        return False
    user = (
        await AdminUser.select(AdminUser.admin, AdminUser.superuser)
        .where(AdminUser.id == user_id)
        .first()
    )
    return bool(user and user["admin"] and not user["superuser"])


def refuses(scope: Scope) -> bool:
    """Whether this admin request writes something a read-only user may not."""
    return (
        scope.get("method") in ("POST", "PATCH", "PUT", "DELETE")
        and scope.get("path") not in OWN_ACCOUNT
    )
