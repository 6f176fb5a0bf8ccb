"""Page objects for the roster admin (https://playwright.dev/python/docs/pom).

Selectors follow Piccolo Admin's own `data-uitest` attributes where it has them.
"""

from __future__ import annotations

import re
from datetime import datetime

from playwright.sync_api import Page, Response, expect

from tests.e2e.harness import ADMIN_PASSWORD, ADMIN_USERNAME


def settle(page: Page) -> None:
    """Wait until the single-page app has fetched, and applied, everything a view loads.

    Piccolo Admin fills a form from several fetches (schema, row defaults, the row); one
    that lands after a test has typed would overwrite what it typed. Playwright's
    `networkidle` waits for 500 ms without requests, by which time each answer is applied.
    """
    page.wait_for_load_state("networkidle")


def _is(method: str, url: str, status: int | None = None):
    def check(response: Response) -> bool:
        return (
            response.request.method == method
            and response.url == url
            and (status is None or response.status == status)
        )

    return check


class LoginPage:
    """`/admin/#/login`."""

    def __init__(self, page: Page, admin_url: str):
        self.page = page
        self.admin_url = admin_url
        self.url = f"{admin_url}/#/login"
        self.username_input = page.locator('input[name="username"]')
        self.password_input = page.locator('input[name="password"]')
        self.login_button = page.locator('button[data-uitest="login_button"]')

    def reset(self) -> None:
        self.page.goto(self.url)

    def login(self, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD) -> Response:
        """Submit the form; return the login endpoint's response."""
        self.username_input.fill(username)
        self.password_input.fill(password)
        with self.page.expect_response(_is("POST", f"{self.admin_url}/public/login/")) as info:
            self.login_button.click()
        return info.value


class Nav:
    """The top bar: site name and the user menu."""

    def __init__(self, page: Page, admin_url: str):
        self.page = page
        self.admin_url = admin_url
        self.site_name = page.locator("#header .logo, #header a").first
        self.dropdown_button = page.locator('a[data-uitest="nav_dropdown_button"]')
        self.logout_button = page.locator('a[data-uitest="logout_button"]')

    def logout(self) -> None:
        self.dropdown_button.click()
        self.page.once("dialog", lambda dialog: dialog.accept())
        with self.page.expect_response(_is("POST", f"{self.admin_url}/public/logout/", 200)):
            self.logout_button.click()


class RowListingPage:
    """A table's list view, e.g. `#/member`."""

    def __init__(self, page: Page, admin_url: str, tablename: str):
        self.page = page
        self.url = f"{admin_url}/#/{tablename}"
        self.rows = page.locator("table tbody tr:visible")
        self.add_button = page.get_by_text("Add Row")

    def reset(self) -> None:
        self.page.goto(self.url)
        self.page.reload()
        self.wait()

    def wait(self) -> None:
        expect(
            self.page.get_by_text(re.compile(r"^(Showing \d+ of|No results found)"))
        ).to_be_visible()

    def row_texts(self) -> list[str]:
        return [" | ".join(text.split("\t")) for text in self.rows.all_inner_texts()]


class FormErrors:
    """Piccolo Admin's error list above a form."""

    def __init__(self, page: Page):
        self.box = page.locator("div.errors")

    def texts(self) -> list[str]:
        expect(self.box).to_be_visible()
        return self.box.locator("li").all_inner_texts()


class AddRowPage:
    """`#/<table>/add/`: the form that creates a row."""

    def __init__(self, page: Page, admin_url: str, tablename: str):
        self.page = page
        self.admin_url = admin_url
        self.tablename = tablename
        self.url = f"{admin_url}/#/{tablename}/add/"
        self.form = page.locator("form").first
        self.create_button = page.locator('button[data-uitest="create_button"]')
        self.errors = FormErrors(page)

    def reset(self) -> None:
        # The admin is a single-page app: reload so the add view mounts afresh, and wait for
        # the row defaults it fetches, which would otherwise overwrite what a test types.
        self.page.goto(self.url)
        with self.page.expect_response(self._defaults_loaded):
            self.page.reload()
        expect(self.create_button).to_be_visible()
        settle(self.page)

    def wait_until_ready(self) -> None:
        """After navigating here by a click: wait for the form and its defaults."""
        expect(self.create_button).to_be_visible()
        expect(self.form.locator("input, select").first).to_be_visible()
        settle(self.page)

    def _defaults_loaded(self, response: Response) -> bool:
        return response.url.endswith(f"/api/tables/{self.tablename}/new/")

    def submit(self) -> Response:
        """Click Create; return the API's answer (201 when stored)."""
        url = f"{self.admin_url}/api/tables/{self.tablename}/"
        with self.page.expect_response(_is("POST", url)) as info:
            self.create_button.click()
        return info.value


class AddMemberPage(AddRowPage):
    """The form that adds a member."""

    def __init__(self, page: Page, admin_url: str):
        super().__init__(page, admin_url, "member")
        self.name_input = page.locator('input[name="real_name"]')
        self.zone_select = page.locator('select[name="tz"]')

    def fill(self, real_name: str, tz: str) -> None:
        self.name_input.fill(real_name)
        self.zone_select.select_option(tz)
        expect(self.name_input).to_have_value(real_name)
        expect(self.zone_select).to_have_value(tz)


class AddPeriodPage(AddRowPage):
    """The form that adds an activity period."""

    def __init__(self, page: Page, admin_url: str):
        super().__init__(page, admin_url, "activity_period")
        self.member_search = page.locator("div.key_search").first

    def choose_member(self, real_name: str) -> None:
        """Pick the member by name in Piccolo Admin's search modal."""
        self.member_search.locator('input[type="text"]').first.click()
        modal = self.page.locator("div.modal").filter(has_text="Select a row from Member")
        modal.locator('input[type="search"]').fill(real_name)
        modal.locator("ul.results_list a", has_text=real_name).first.click()

    def set_time(self, field: str, moment: datetime) -> None:
        """Type a UTC moment into the start or end field (`field` is its label)."""
        block = self.form.locator("> div > div").filter(
            has=self.page.locator(f"label:text-is('{field}')")
        )
        block.locator('input[type="datetime-local"]').fill(moment.strftime("%Y-%m-%dT%H:%M"))
        block.locator("select").select_option("UTC")


class MemberPage:
    """`#/member/<id>/`: the member's own page."""

    def __init__(self, page: Page, admin_url: str, member_id: str):
        self.page = page
        self.url = f"{admin_url}/#/member/{member_id}/"
        self.save_button = page.locator('button[data-uitest="save_button"]')
        self.show_references = page.get_by_text("Show referencing tables")
        self.periods_link = page.locator("ul.related_tables a", has_text="member")
        self.drop_down_button = page.locator("a[data-uitest=drop_down_button]")
        self.delete_button = page.locator("a[data-uitest=delete_row_button]")

    def reset(self) -> None:
        self.page.goto(self.url)
        self.page.reload()
        expect(self.save_button).to_be_visible()
        settle(self.page)

    def delete(self) -> str:
        """Delete the member, accepting the admin's confirmation; return what it asked."""
        asked: list[str] = []

        def accept(dialog) -> None:
            asked.append(dialog.message)
            dialog.accept()

        self.page.once("dialog", accept)
        self.drop_down_button.click()
        with self.page.expect_response(lambda r: r.request.method == "DELETE"):
            self.delete_button.click()
        return asked[0]

    def open_periods(self) -> None:
        """Follow the link to this member's activity periods."""
        self.show_references.click()
        self.periods_link.click()


class DemoMembersForm:
    """`#/forms/generate-demo-members/`: the admin's face of `piccolo home populate`."""

    def __init__(self, page: Page, admin_url: str):
        self.page = page
        self.admin_url = admin_url
        self.url = f"{admin_url}/#/forms/generate-demo-members/"
        self.count_input = page.locator('input[name="count"]')
        self.periods_input = page.locator('input[name="periods"]')
        self.submit_button = page.locator("form button").first
        self.errors = FormErrors(page)

    def reset(self) -> None:
        self.page.goto(self.url)
        self.page.reload()
        expect(self.count_input).to_be_visible()
        settle(self.page)

    def submit(self, count: int | str, periods: int | str) -> Response:
        self.count_input.fill(str(count))
        self.periods_input.fill(str(periods))
        url = f"{self.admin_url}/api/forms/generate-demo-members/"
        with self.page.expect_response(_is("POST", url)) as info:
            self.submit_button.click()
        return info.value


class ClosingForm:
    """`#/forms/close-periods/` or `#/forms/reopen-closed-periods/`: one time to give."""

    def __init__(self, page: Page, admin_url: str, slug: str):
        self.page = page
        self.admin_url = admin_url
        self.slug = slug
        self.url = f"{admin_url}/#/forms/{slug}/"
        self.until_input = page.locator('input[name="until"]')
        self.submit_button = page.locator("form button").first
        self.errors = FormErrors(page)

    def reset(self) -> None:
        self.page.goto(self.url)
        self.page.reload()
        expect(self.until_input).to_be_visible()
        settle(self.page)

    def submit(self, until: str) -> Response:
        self.until_input.fill(until)
        url = f"{self.admin_url}/api/forms/{self.slug}/"
        with self.page.expect_response(_is("POST", url)) as info:
            self.submit_button.click()
        return info.value
