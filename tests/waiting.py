"""The one way the tests, the platform and the benchmarks wait for something: bounded polling.

Standard library only: ``python -m tests.platform.testenv`` imports it before anything is installed.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """What was waited for did not happen in time; the message names it and shows evidence."""


def poll(
    what: str,
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.1,
    retry_on: tuple[type[Exception], ...] = (),
    diagnostics: Callable[[], str] | None = None,
) -> T:
    """Call ``check`` until it returns a value other than None or False, and return that value.

    An exception of a type in ``retry_on`` counts as "not yet" (the last one is shown on timeout);
    any other propagates at once (a check raises to say waiting is pointless, e.g. the server exited).
    After ``timeout`` seconds :class:`WaitTimeout` names ``what``, plus ``diagnostics()`` if given.
    """
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            value = check()
            if value is not None and value is not False:
                return value
        except retry_on as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f"\nlast error: {last_exc!r}" if last_exc else ""
            if diagnostics is not None:
                detail += "\n" + diagnostics()
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def wait_http(
    url: str,
    *,
    timeout: float,
    alive: Callable[[], object] | None = None,
    diagnostics: Callable[[], str] | None = None,
) -> None:
    """Until ``GET url`` answers 200. ``alive()`` raises (or fails an assertion) once whatever should
    answer has died, so a crash is reported at once rather than as a timeout."""

    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:  # URLError included: nothing listens yet, or not fully up
            pass
        if alive is not None:
            alive()
        return False

    poll(f"{url} to answer 200", answers, timeout=timeout, interval=0.5, diagnostics=diagnostics)
