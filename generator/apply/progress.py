"""What the user sees while apply works: one line per image, one per object change, a summary.

Everything goes to stderr through rich, so that stdout stays free for ``--output json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .images import ImageResult
    from .outdir import Image

_IMAGE_STYLE = {"present": "dim", "pushed": "cyan", "built": "green"}


class Progress:
    def __init__(self, console: Any = None, quiet: bool = False) -> None:
        from rich.console import Console

        self.console = console if console is not None else Console(stderr=True, highlight=False)
        self.quiet = quiet
        self._status: Any = None

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, soft_wrap=True)

    @contextmanager
    def working(self, image: Image) -> Iterator[None]:
        """A spinner with the latest build or push line, replaced by the image's result line."""
        if self.quiet or not self.console.is_terminal:
            yield
            return
        with self.console.status(f"{image.ref}: starting") as status:
            self._status = (status, image.ref)
            try:
                yield
            finally:
                self._status = None

    def detail(self, text: str) -> None:
        """A step inside an image's work: under the spinner on a terminal, as a line in CI logs."""
        if self._status is not None:
            self._status[0].update(text)
        else:
            self.note(f"[dim]{text}[/]")

    def log(self, line: str) -> None:
        if self._status is not None:
            status, ref = self._status
            status.update(f"{ref}: {line.strip()[:100]}")

    def image(self, result: ImageResult) -> None:
        action = {"present": "present", "pushed": "pushed", "built": "built+pushed"}[result.action]
        style = _IMAGE_STYLE[result.action]
        self.note(f"[{style}]{action:13}[/] {result.image.ref}  [dim]{result.seconds:.1f}s[/]")

    def step(self, text: str) -> None:
        self.note(f"[bold]{text}[/]")
