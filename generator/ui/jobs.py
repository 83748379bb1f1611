"""Long operations (apply) run in a thread; their progress lines are what ``aiar apply`` prints on
stderr (the same ``Progress``), kept for the page to poll."""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, cast

from ..apply.progress import Progress
from ..errors import AiarError


class _Lines(io.TextIOBase):
    """A file for rich's Console: what it writes, split into lines."""

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job
        self._partial = ""

    def write(self, text: str) -> int:
        with self.job.lock:
            parts = (self._partial + text).split("\n")
            self._partial = parts.pop()
            self.job.lines.extend(parts)
        return len(text)


@dataclass
class Job:
    id: str
    title: str
    state: str = "running"
    """``running``, ``done`` or ``failed``."""
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self) -> Progress:
        from rich.console import Console

        console = Console(
            file=cast(IO[str], _Lines(self)), width=160, force_terminal=False, color_system=None, highlight=False
        )
        return Progress(console=console)

    def snapshot(self, since: int = 0) -> dict[str, Any]:
        with self.lock:
            return {
                "id": self.id,
                "title": self.title,
                "state": self.state,
                "lines": self.lines[since:],
                "next": len(self.lines),
                "problems": list(self.problems),
                "result": self.result,
            }


class Jobs:
    """One cluster-changing job at a time: a second apply waits for the first to end, as two
    terminals running ``aiar apply`` at once would race."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self._one = threading.Lock()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def start(self, title: str, work: Callable[[Job], dict[str, Any]]) -> Job:
        job = Job(str(next(self._ids)), title)
        self._jobs[job.id] = job

        def run() -> None:
            with self._one:
                try:
                    job.result = work(job)
                    job.state = "done"
                except AiarError as exc:
                    job.problems = [p.render() for p in exc.problems]
                    job.state = "failed"
                except Exception as exc:  # a bug or an OS error: shown, the server goes on
                    job.problems = [f"{type(exc).__name__}: {exc}"]
                    job.state = "failed"

        threading.Thread(target=run, name=f"aiar-ui-job-{job.id}", daemon=True).start()
        return job
