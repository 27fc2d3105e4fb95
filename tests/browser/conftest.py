"""Browser tests: Playwright driving Debian's Chromium against a live portal on the real stack."""

import os
import re
import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# Playwright's sync API runs an event loop in this thread; the ORM calls the
# tests make between browser steps are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _chromium() -> str | None:
    return shutil.which("chromium") or (os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium") or None


@pytest.fixture(scope="session")
def browser():
    executable = _chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed: .ci/run installs Debian's chromium package.")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def portal_url(live_server, stack) -> str:
    """Return the URL of a live portal that uses the test database and the stack."""
    return live_server.url


@pytest.fixture
def new_page(browser, request):
    """Return a factory of pages, each in its own browser context (its own cookies)."""
    contexts = []

    def _new_page(width: int = 1280, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield _new_page
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/ for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, portal_url: str, name: str) -> None:
    """Sign `name` in through the portal's sign-in page and the provider's user picker."""
    page.goto(f"{portal_url}/")
    page.get_by_role("button", name=re.compile("Sign in with Microsoft", re.I)).or_(
        page.get_by_role("link", name=re.compile("Sign in with Microsoft", re.I))
    ).click()
    page.locator(f'button[name="sub"][value="{name}"]').click()
    page.wait_for_url(re.compile(re.escape(portal_url)))


def screenshots(page, name: str, *, dark: bool = False) -> None:
    """Save the page at a desktop width (1280 px) and a phone width (375 px), and in dark mode when asked."""
    viewport = page.viewport_size
    try:
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 900})
            screenshot(page, f"{name}-{width}")
        if dark:
            page.emulate_media(color_scheme="dark")
            page.set_viewport_size({"width": 1280, "height": 900})
            screenshot(page, f"{name}-1280-dark")
    finally:
        page.emulate_media(color_scheme="light")
        page.set_viewport_size(viewport)
