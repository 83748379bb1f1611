"""Just enough Dockerfile reading to hold a DOCKER_LAYERS bundle's own Dockerfile to aiar's defaults.

Not a full parser: instructions with their first line number (continuations joined, comments and
parser directives skipped), which is all the checks below need.
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT_USERS = frozenset({"root", "0"})


@dataclass(frozen=True)
class Instruction:
    line: int
    """1-based line where the instruction starts."""
    keyword: str
    """Upper-cased: ``FROM``, ``USER``, ..."""
    argument: str


def instructions(text: str) -> list[Instruction]:
    result: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped by the builder too
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        keyword, _, argument = " ".join(pending).partition(" ")
        result.append(Instruction(start, keyword.upper(), argument.strip()))
        pending = []
    if pending:
        keyword, _, argument = " ".join(pending).partition(" ")
        result.append(Instruction(start, keyword.upper(), argument.strip()))
    return result


def final_stage(items: list[Instruction]) -> list[Instruction]:
    """The instructions of the last stage, its ``FROM`` first (the image that is built)."""
    starts = [i for i, item in enumerate(items) if item.keyword == "FROM"]
    return items[starts[-1] :] if starts else []


def stage_names(items: list[Instruction]) -> list[str]:
    names: list[str] = []
    for item in items:
        if item.keyword == "FROM":
            words = item.argument.split()
            if len(words) >= 3 and words[-2].upper() == "AS":
                names.append(words[-1].lower())
    return names


@dataclass(frozen=True)
class DockerfileProblem:
    line: int | None
    message: str


def security_problems(text: str) -> list[DockerfileProblem]:
    """Why the image this Dockerfile builds cannot run under Pod Security Standards *restricted*.

    The rule: the final stage sets ``USER`` itself, to someone other than root. aiar's pods run as
    UID 10001 with ``runAsNonRoot`` whatever the image says, so an image that expects root (or says
    nothing, and so runs as root everywhere else) would break in the cluster, not at build time.
    """
    items = instructions(text)
    stage = final_stage(items)
    if not stage:
        return [DockerfileProblem(None, "the Dockerfile has no FROM instruction")]
    users = [item for item in stage if item.keyword == "USER"]
    if not users:
        return [
            DockerfileProblem(
                stage[0].line,
                "the final stage sets no USER, so its image runs as root; add 'USER 10001:10001' "
                "(the pods run as UID 10001 with runAsNonRoot)",
            )
        ]
    last = users[-1]
    user = last.argument.split(":", 1)[0].strip()
    if user in ROOT_USERS:
        return [
            DockerfileProblem(
                last.line,
                f"'USER {last.argument}' runs the model as root, which Pod Security Standards "
                "restricted forbid; use a non-root user such as 'USER 10001:10001'",
            )
        ]
    return []
