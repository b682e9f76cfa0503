"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, a hubbub with a web
listener, and a small driver for one browser user of the web client."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    async_playwright,
    expect,
)

from hubbub.config import ListenSection, StorageSection
from hubbub.net.app import App
from tests.conftest import make_config
from tests.timeouts import TIMEOUT

CHROMIUM = os.environ.get("HUBBUB_CHROMIUM", "/usr/bin/chromium")
HAVE_CHROMIUM = Path(CHROMIUM).exists()
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
"""Without the networking flags Chromium keeps trying to reach hosts it cannot."""

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

expect.set_options(timeout=TIMEOUT * 1000)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium (Debian's package; ``playwright install`` is never needed)."""
    if not HAVE_CHROMIUM:
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: `make test` installs it (apt-get install chromium)"
        )
    async with async_playwright() as p:
        # Starting Chromium is not something hubbub does: a cold start on a loaded 2-core
        # machine once took over TIMEOUT (a fresh clone's `make test`), so it gets three.
        chromium = await p.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=3 * TIMEOUT * 1000
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def web_app(app_factory: Callable[[Any], Any], tmp_path: Path) -> App:
    """A hubbub with an IRC listener and a web listener on loopback, its own database."""
    config = make_config(
        (
            ListenSection(address="127.0.0.1:0"),
            ListenSection(address="127.0.0.1:0", websocket=True),
        )
    )
    config = dataclasses.replace(config, storage=StorageSection(path=str(tmp_path / "web.db")))
    app: App = await app_factory(config)
    return app


def web_url(app: App) -> str:
    host, port = app.address("ws")
    return f"http://{host}:{port}/"


def css_string(value: str) -> str:
    """``value`` as a quoted CSS string, for attribute selectors."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class WebUser:
    """One person using the web client in their own browser context."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.context = context
        self.page = page
        self.errors: list[str] = []
        self.console: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._on_console)
        page.on("dialog", self._on_dialog)

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    async def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    @classmethod
    async def open(
        cls, browser: Browser, url: str, viewport: dict[str, int] | None = None
    ) -> WebUser:
        context = await browser.new_context(viewport=viewport or DESKTOP)  # type: ignore[arg-type]
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT * 1000)
        user = cls(context, page)
        await page.goto(url)
        return user

    async def another_page(self, url: str) -> WebUser:
        """A new page (tab) in the same browser context: the same localStorage, its own
        sessionStorage (a tab closed and opened again)."""
        page = await self.context.new_page()
        page.set_default_timeout(TIMEOUT * 1000)
        user = WebUser(self.context, page)
        await page.goto(url)
        return user

    async def wait_until_read(self, name: str) -> None:
        """Until the read marker of ``name`` is at its latest line and kept in localStorage."""
        await self.page.wait_for_function(
            """name => {
                const b = window.hubbub.state.buffers.get(name.toLowerCase());
                const lines = b ? b.log.querySelectorAll(".msg.said[data-stamp]") : [];
                const last = lines[lines.length - 1];
                const saved = JSON.parse(localStorage.getItem("hubbub.web") || "{}").markers || {};
                return !!last && saved[name.toLowerCase()] === last.dataset.stamp;
            }""",
            arg=name,
        )

    async def set_hidden(self, hidden: bool) -> None:
        """Make the page believe it is hidden (another tab in front), or visible again."""
        await self.page.evaluate(
            """hidden => {
                Object.defineProperty(document, "visibilityState",
                    { configurable: true, get: () => (hidden ? "hidden" : "visible") });
                Object.defineProperty(document, "hidden",
                    { configurable: true, get: () => hidden });
                document.dispatchEvent(new Event("visibilitychange"));
            }""",
            hidden,
        )

    async def login(self, nick: str, channels: str = "#hubbub") -> None:
        """Fill in the form and wait until registered (and in the channels, if any)."""
        await self.page.fill("#nick", nick)
        await self.page.fill("#channels", channels)
        await self.page.click("#connect-button")
        await expect(self.page.locator("#status")).to_have_class("status online")
        for channel in channels.replace(",", " ").split():
            await expect(self.buffer_item(channel)).not_to_have_class("parted")
            await expect(self.log(channel).locator(".msg.join").first).to_be_attached()

    async def say(self, text: str) -> None:
        """Type a line in the input box and press Enter."""
        await self.page.fill("#input", text)
        await self.page.press("#input", "Enter")

    def buffer_item(self, name: str) -> Locator:
        return self.page.locator(f"#buffers li.buffer[data-name={css_string(name)}]")

    def log(self, name: str) -> Locator:
        return self.page.locator(f"#messages .log[data-buffer={css_string(name)}]")

    def lines(self, name: str, text: str | None = None) -> Locator:
        lines = self.log(name).locator(".msg")
        return lines.filter(has_text=text) if text is not None else lines

    async def open_buffer(self, name: str) -> None:
        await self.buffer_item(name).click()
        await expect(self.page.locator("#buffer-name")).to_have_text(name)

    async def close(self) -> None:
        await self.context.close()
