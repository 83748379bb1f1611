"""Problems found in the inputs, and the exceptions that carry them.

Every stage raises an :class:`AiarError` holding one or more :class:`Problem`; only the CLI turns them
into output and an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass


def printable(text: str) -> str:
    """``text`` safe for one line of a terminal: every non-printable character (ESC, newline, NUL,
    bidirectional overrides, ...) shown as its escape, so hostile input can neither move the cursor,
    clear the screen nor forge extra output lines."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with one input, located as precisely as we can."""

    source: str
    """The file (or bundle entry) the problem is in, as the user named it."""
    pointer: str = ""
    """RFC 6901 JSON pointer to the offending value; empty for the whole document."""
    message: str = ""
    line: int | None = None
    col: int | None = None

    def render(self) -> str:
        """One line for humans (non-printable characters escaped); ``as_dict`` keeps the exact text."""
        where = self.source
        if self.line is not None:
            where += f":{self.line}:{self.col or 1}"
        if self.pointer:
            return printable(f"{where}: {self.pointer}: {self.message}")
        return printable(f"{where}: {self.message}")

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "pointer": self.pointer,
            "line": self.line,
            "col": self.col,
            "message": self.message,
        }


class AiarError(Exception):
    """Base of every expected failure: carries the problems to report."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(p.render() for p in self.problems))


class BundleError(AiarError):
    """A bundle that cannot be read safely or lacks required files."""


class ManifestError(AiarError):
    """A manifest that does not parse or does not validate."""


class EnvironmentFileError(AiarError):
    """An environment file that does not parse or does not validate."""


class LockError(AiarError):
    """A lock file that is unreadable, or a version that goes backwards."""


class OutputError(AiarError):
    """The output directory cannot be written, or is not what generate wrote."""


def escape_pointer_token(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer_of(path: tuple[str | int, ...] | list[str | int]) -> str:
    return "".join("/" + escape_pointer_token(t) for t in path)
