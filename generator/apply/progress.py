"""What the user sees while apply works: one line per image, one per object change, a summary.

Everything goes to stderr through rich, so that stdout stays free for ``--output json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import printable

if TYPE_CHECKING:
    from .images import ImageResult
    from .outdir import Image

_IMAGE_STYLE = {"present": "dim", "pushed": "cyan", "built": "green"}


class Progress:
    """Lines are rich ``Text``, never markup: a build log line or an object name holding ``[/...]`` or
    terminal escapes is shown as written (escaped), and can neither crash the output nor drive it."""

    def __init__(self, console: Any = None, quiet: bool = False) -> None:
        from rich.console import Console

        self.console = console if console is not None else Console(stderr=True, highlight=False)
        self.quiet = quiet
        self._status: Any = None

    def note(self, text: str, style: str = "", label: str = "", label_style: str = "") -> None:
        """One line: ``text`` (after an optional ``label`` in its own style)."""
        if self.quiet:
            return
        from rich.text import Text

        line = Text()
        if label:
            line.append(printable(label), style=label_style)
        line.append(printable(text), style=style)
        self.console.print(line, soft_wrap=True)

    @contextmanager
    def working(self, image: Image) -> Iterator[None]:
        """A spinner with the latest build or push line, replaced by the image's result line."""
        if self.quiet or not self.console.is_terminal:
            yield
            return
        with self.console.status(self._text(f"{image.ref}: starting")) as status:
            self._status = (status, image.ref)
            try:
                yield
            finally:
                self._status = None

    @staticmethod
    def _text(text: str) -> Any:
        from rich.text import Text

        return Text(printable(text))

    def detail(self, text: str) -> None:
        """A step inside an image's work: under the spinner on a terminal, as a line in CI logs."""
        if self._status is not None:
            self._status[0].update(self._text(text))
        else:
            self.note(text, style="dim")

    def log(self, line: str) -> None:
        if self._status is not None:
            status, ref = self._status
            status.update(self._text(f"{ref}: {line.strip()[:100]}"))

    def image(self, result: ImageResult) -> None:
        action = {"present": "present", "pushed": "pushed", "built": "built+pushed"}[result.action]
        self.note(
            f" {result.image.ref}  {result.seconds:.1f}s", label=f"{action:13}", label_style=_IMAGE_STYLE[result.action]
        )

    def waiting(self, text: str) -> None:
        """What a wait still waits for, and why (it reports only changes)."""
        self.note(f"  {text}", style="dim")

    def step(self, text: str) -> None:
        self.note(text, style="bold")
