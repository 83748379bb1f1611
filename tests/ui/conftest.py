"""The web app on a real port (uvicorn in a thread) and a real headless Chromium driving it.

Chromium is Debian's (``/usr/bin/chromium``, installed by tests/platform's APT_PACKAGES); playwright
only drives it: no ``playwright install``, no browser download.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from generator.ui.app import create_app
from generator.ui.security import Access
from generator.ui.workspace import Workspace
from tests.apply.conftest import datasets, stage  # the apply tests' fixtures: one cleaned ApplySet per test
from tests.waiting import poll

__all__ = ["datasets", "stage"]

CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parents[2] / "docs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(workspace: Workspace) -> Iterator[str]:
    """``aiar ui``'s app on 127.0.0.1:<free port>, as the command runs it (uvicorn)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(workspace, Access("127.0.0.1", port)), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    poll("the ui server", lambda: server.started, timeout=30, interval=0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is missing: python -m tests.platform.testenv install"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    yield tab
    context.close()
