"""Playwright against a live server, in Debian's chromium.

Every page is checked for console errors and Content-Security-Policy violations
(the `securitypolicyviolation` events of the page), and every request must stay
on 127.0.0.1 (anything else is aborted and fails the test). The policy is the
app's own header (django-csp, config/settings/base.py): every document must
carry it, so an inline script or style, or an eval, fails the test. A failing
test leaves a screenshot in tests/browser/artifacts/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client

# The real worker and SMTP server of the email tests, for a test that opens a link from a real email.
from tests.emails.conftest import smtp_server, workers  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
# Reports each CSP violation of a page to the test (init scripts are not subject to the policy).
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolation(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"} on ${event.documentURI}`);
});
"""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install it (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI runs these tests")
    from playwright.sync_api import expect, sync_playwright

    # Generous under a loaded CI machine; a passing run does not wait for it.
    expect.set_options(timeout=10_000)

    # Playwright's sync API keeps an event loop running; the live server and the
    # test's ORM calls are ordinary synchronous code all the same.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Watch:
    """What a browser context did wrong: console errors, page errors, CSP violations,
    requests leaving 127.0.0.1, documents served without the Content-Security-Policy."""

    def __init__(self) -> None:
        self.console_errors: list[str] = []
        self.csp_violations: list[str] = []
        self.outside_requests: list[str] = []
        self.documents_without_csp: list[str] = []
        self.documents: int = 0
        self.pages: list = []

    def assert_clean(self) -> None:
        assert self.outside_requests == []
        assert self.csp_violations == []
        assert self.console_errors == []
        assert self.documents_without_csp == []


@pytest.fixture
def open_context(browser, live_server, request):
    """`open_context(user=None)` → the first page of a new browser context (signed in as `user`).

    When the test passes, every context must have stayed clean (see Watch)."""
    contexts = []
    watches: list[Watch] = []

    # The live server listens on the loopback address; name it by its number, the only host allowed.
    base_url = live_server.url.replace("://localhost", "://127.0.0.1")

    def open_(user=None, *, width: int = 390, height: int = 844):
        # A phone-sized screen: the pages must work there.
        context = browser.new_context(base_url=base_url, viewport={"width": width, "height": height})
        context.set_default_timeout(10_000)
        watch = Watch()
        context.clinic_watch = watch  # a test that provokes a violation on purpose reads and clears it

        def route(route):
            url = route.request.url
            if urlsplit(url).hostname != "127.0.0.1":
                watch.outside_requests.append(url)
                route.abort()
                return
            route.continue_()

        context.route("**/*", route)
        context.expose_function("__cspViolation", lambda text: watch.csp_violations.append(text))
        context.add_init_script(REPORT_VIOLATIONS)
        context.on("page", lambda page: _watch_page(page, watch))
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies[settings.SESSION_COOKIE_NAME]
            context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base_url}])
        page = context.new_page()
        contexts.append(context)
        watches.append(watch)
        return page

    yield open_

    failed = getattr(request.node, "report_call", None) and request.node.report_call.failed
    for number, context in enumerate(contexts):
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            for page_number, page in enumerate(context.pages):
                page.screenshot(path=ARTIFACTS / f"{request.node.name}-{number}-{page_number}.png", full_page=True)
        context.close()
    if not failed:
        for watch in watches:
            watch.assert_clean()


# htmx logs an aborted request as an error: on /book/ a newer request aborts an older one on purpose
# (hx-sync "replace"). A request that really fails still logs its own error (responseError, sendError,
# timeout), so these two lines say nothing more.
HTMX_ABORT_LINES = ("htmx:afterRequest", "htmx:sendAbort")


def _console_error(message, watch: Watch) -> None:
    if message.type == "error" and not message.text.startswith(HTMX_ABORT_LINES):
        watch.console_errors.append(message.text)


def _watch_page(page, watch: Watch) -> None:
    watch.pages.append(page)
    page.on("console", lambda message: _console_error(message, watch))
    page.on("pageerror", lambda error: watch.console_errors.append(str(error)))
    page.on("response", lambda response: _check_document(response, watch))


def _check_document(response, watch: Watch) -> None:
    """Every HTML document the app serves carries its Content-Security-Policy."""
    if response.request.resource_type != "document" or response.status in (301, 302, 303, 307, 308):
        return
    watch.documents += 1
    policy = response.headers.get("content-security-policy", "")
    if "script-src 'self'" not in policy or "object-src 'none'" not in policy:
        watch.documents_without_csp.append(response.url)
