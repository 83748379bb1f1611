"""Enough Dockerfile reading to hold a DOCKER_LAYERS bundle's own Dockerfile to aiar's defaults.

The checks are only as good as the cut into instructions, so the cut follows BuildKit's parser
(``frontend/dockerfile/parser``) rule by rule, not a shell's or Python's idea of lines: a line ends at
LF only; a trailing escape character (blanks may follow) continues it, comment and blank lines inside
a continuation are dropped and the pieces are joined with nothing between them; parser directives
are read from the top only; instruction names are matched case-insensitively (as Go lower-cases
them) and end at an ASCII blank; and after a RUN, COPY or ADD (or an ONBUILD of one) in shell form
naming heredocs (``<<EOF``, ``<<-EOF``, ``<<"EOF"``, ``<<\\EOF``, several on one line), the lines
up to each delimiter are the heredoc's text, not instructions.

Where builders (or versions of BuildKit) read a line differently, :func:`parse` reports a problem
instead of picking one reading, since a check that guesses can be walked around: a heredoc
delimiter whose name depends on quoting or expansion, a quote left open beside ``<<``, a JSON array
with text after it, a line ending in two escape characters. tests/unit/test_layers_hardening.py
compares the cut with BuildKit's own parser where the PyPI package ``dockerfile`` is installed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

INSTRUCTIONS = frozenset(
    {
        *("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL"),
        *("MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"),
    }
)
"""Every instruction builders know; any other word is an error to each of them, at least in a stage built."""
HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})

# Go's unicode.IsSpace, which BuildKit trims lines and splits words with (str.isspace also takes
# U+001C..U+001F, which Go does not).
_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
# The same test applied to single bytes, as BuildKit's flag reader does.
_SPACE_BYTES = b"\t\n\v\f\r \x85\xa0"
_COMMAND_SPLIT = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*")
_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_HEREDOC = re.compile(r"(\d*)<<(-?)([^<]*)")
_DELIMITER = re.compile(r"""(["']?)([A-Za-z0-9_][A-Za-z0-9_.-]*)\1|\\([A-Za-z0-9_][A-Za-z0-9_.-]*)""")
_PLAIN_EXPANSION = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
# What some reading of a word might drop before looking for '<<': quotes, escapes, expansions.
_QUOTING = re.compile(r"""\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$(?:[^\W\d]\w*|\d+|[@*#?$!0-])|['"\\]""")
_LITERAL_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?")


@dataclass(frozen=True)
class Instruction:
    line: int
    """1-based line where the instruction starts."""
    keyword: str
    """Upper-cased: ``FROM``, ``USER``, ... (kept as written when Go would not lower-case it to ASCII)."""
    argument: str
    heredocs: tuple[str, ...] = ()
    """Delimiters of the heredocs whose text follows the instruction, in order."""


@dataclass(frozen=True)
class DockerfileProblem:
    line: int | None
    message: str


@dataclass(frozen=True)
class Parsed:
    instructions: tuple[Instruction, ...]
    problems: tuple[DockerfileProblem, ...]
    """Lines builders read differently, or that cannot be read at all (an unterminated heredoc)."""
    continued: bool
    """The text ends inside a line continuation."""


def _keyword(word: str) -> str:
    """The instruction ``word`` names, matched like Go's strings.ToLower does ('İ' is 'i' there)."""
    lowered = word.replace("\u0130", "i").lower()
    return lowered.upper() if lowered.isascii() else word


def _split_command(line: str) -> tuple[str, str]:
    """An instruction line's keyword and argument, cut where BuildKit cuts them."""
    parts = _COMMAND_SPLIT.split(line.strip(_SPACE), maxsplit=1)
    return _keyword(parts[0]), parts[1].strip(_SPACE) if len(parts) == 2 else ""


def _lines(text: str) -> list[str]:
    """The lines as BuildKit's scanner cuts them: at LF only (str.splitlines also cuts at CR, U+2028...)."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if lines[-1] == "":
        lines.pop()
    return lines


def _is_comment(line: str) -> bool:
    return line.lstrip(_SPACE).startswith("#")


def _escape_token(lines: list[str]) -> tuple[str, int, list[DockerfileProblem]]:
    """The escape character the parser directives at the top set, and the directive's line (0: none)."""
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        match = _DIRECTIVE.fullmatch(line.lstrip(_SPACE))
        name = match.group(1).lower() if match else ""
        if match is None or name not in _DIRECTIVES or name in seen:
            break
        seen.add(name)
        if name == "escape":
            value = match.group(2)
            if value not in ("\\", "`"):
                return (
                    "\\",
                    number,
                    [DockerfileProblem(number, f"the escape directive allows '\\' or '`', not {value!r}")],
                )
            return value, number, []
    return "\\", 0, []


def _continuation(escape: str) -> re.Pattern[str]:
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*\Z|\A{e}[ \t]*\Z")


def _after_flags(argument: str) -> str:
    """What BuildKit's flag reader leaves after the leading ``--flag`` words (it reads bytes, not characters)."""
    data = argument.encode("utf-8", "surrogatepass")
    pos = 0
    while True:
        while pos < len(data) and data[pos] in _SPACE_BYTES:
            pos += 1
        if data[pos : pos + 2] != b"--":
            return data[pos:].decode("utf-8", "replace")
        start, quote = pos, 0
        while pos < len(data) and (quote or data[pos] not in _SPACE_BYTES):
            if data[pos] == ord("\\"):
                pos += 1  # the next byte belongs to the word, whatever it is
            elif quote and data[pos] == quote:
                quote = 0
            elif not quote and data[pos] in b"'\"":
                quote = data[pos]
            pos += 1
        if data[start:pos] == b"--":
            return data[pos:].decode("utf-8", "replace")


def _exec_form(argument: str) -> bool | None:
    """Whether BuildKit reads the argument as a JSON array of strings: without a shell, so without heredocs.

    BuildKit decodes the first JSON value and ignores any text after it; older versions wanted the
    whole argument to be JSON. None when the two disagree (an array with text after it).
    """
    rest = _after_flags(argument).strip(_SPACE)
    if not rest.startswith("["):
        return False
    try:
        value, end = json.JSONDecoder().raw_decode(rest)
    except ValueError:
        return False
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return False
    return True if end == len(rest) else None


def _heredoc_form(keyword: str, argument: str) -> bool | None:
    """Whether the instruction can open heredocs (a RUN, COPY or ADD in shell form); None if builders disagree."""
    if keyword == "ONBUILD":
        keyword, argument = _split_command(_after_flags(argument))
    if keyword not in HEREDOC_INSTRUCTIONS:
        return False
    exec_form = _exec_form(argument)
    return None if exec_form is None else not exec_form


def _expansion_end(line: str, i: int) -> int | None:
    """Where the ``$`` at ``i`` and what it expands end; None for a ``${`` other than ``${NAME}``.

    BuildKit splits an expansion's text into words again, so ``${X:- <<A}`` hides a heredoc ``A}``;
    a plain ``$NAME`` or ``${NAME}`` never holds a blank, so it cannot move a word boundary.
    """
    if line[i + 1 : i + 2] != "{":
        return i + 1
    match = _PLAIN_EXPANSION.match(line, i)
    return match.end() if match else None


def _quoted_end(line: str, i: int) -> int | None:
    """Where the quoted text starting at ``i`` ends; None when the quote is left open."""
    if line[i] == "'":
        end = line.find("'", i + 1)
        return end + 1 if end >= 0 else None
    end = i + 1
    while end < len(line) and line[end] != '"':
        if line[end] == "$":
            after = _expansion_end(line, end)
            if after is None:
                return None
            end = after
        else:
            end += 2 if line[end] == "\\" else 1
    return end + 1 if end < len(line) else None


def _shell_words(line: str) -> list[str] | None:
    """The line's words as BuildKit's lexer splits them to look for heredocs, quotes and escapes kept.

    None when the lexer would fail (a quote left open), so that BuildKit would see no heredoc at all,
    or when an expansion could put a word boundary where this split has none.
    """
    words: list[str] = []
    word = ""
    i = 0
    while i < len(line):
        c = line[i]
        end: int | None = i + 1
        if c in _SPACE:
            if word:
                words.append(word)
            word = ""
            i += 1
            continue
        if c == "\\":
            end = i + 2
        elif c in "'\"":
            end = _quoted_end(line, i)
        elif c == "$":
            end = _expansion_end(line, i)
        if end is None:
            return None
        word += line[i:end]
        i = end
    return [*words, word] if word else words


def _opens_heredoc(word: str) -> re.Match[str] | None:
    match = _HEREDOC.fullmatch(word)
    return match if match and match.group(3) else None


def _heredoc_openers(line: str) -> tuple[list[tuple[str, bool]], str | None]:
    """The heredocs a RUN/COPY/ADD line opens, as ``(delimiter, strip leading tabs)``, or why it is refused.

    BuildKit takes any word that is ``<<`` (an fd number before, a ``-`` after) then a delimiter.
    Delimiters must be plain words here, bare, quoted or after a backslash, and no other word may
    look like an opener once quotes, escapes or expansions are dropped: only then do builders (and
    versions of them) agree on where each heredoc is and what ends it.
    """
    if "<<" not in line:
        return [], None
    words = _shell_words(line)
    if words is None:
        return [], "a quote left open or a ${...} expansion beside '<<', which builders read differently"
    openers: list[tuple[str, bool]] = []
    for word in words:
        match = _opens_heredoc(word)
        if match is None:
            if _opens_heredoc(_QUOTING.sub("", word)):
                return [], f"{word!r} opens a heredoc for some builders and not for others; write '<<' bare"
            continue
        delimiter = _DELIMITER.fullmatch(match.group(3))
        if delimiter is None:
            return [], f"builders differ on what ends the heredoc {word!r}; name it with a plain word such as EOF"
        openers.append((delimiter.group(2) or delimiter.group(3), match.group(2) == "-"))
    return openers, None


def _logical_line(
    lines: list[str], i: int, continuation: re.Pattern[str], doubled: re.Pattern[str]
) -> tuple[str | None, int, bool, list[DockerfileProblem]]:
    """The instruction text starting at ``lines[i]`` (None for a blank or comment line), the index
    after it, whether it was still continued at the end of the text, and its ambiguous line ends."""
    problems: list[DockerfileProblem] = []

    def cut(piece: str, number: int) -> tuple[str, bool]:
        if doubled.search(piece):
            problems.append(
                DockerfileProblem(
                    number,
                    "the line ends in two escape characters, which BuildKit reads as the end of the "
                    "instruction and older builders as a line continuation; rewrite the line's end",
                )
            )
        return continuation.sub(r"\1", piece), continuation.search(piece) is not None

    first = lines[i].lstrip(_SPACE)
    i += 1
    if first.startswith("#"):
        return None, i, False, problems
    line, more = cut(first, i)
    if not more and not line:
        return None, i, False, problems
    while more and i < len(lines):
        raw = lines[i]
        i += 1
        # comment and blank lines inside a continuation are dropped; the next line continues it
        if not _is_comment(raw) and raw.strip(_SPACE):
            piece, more = cut(raw, i)
            line += piece
    return line, i, more, problems


def parse(text: str, *, fragment: bool = False, heredocs: bool = True) -> Parsed:
    """The instructions of ``text`` as BuildKit reads them, and the lines refused on the way.

    ``fragment``: the text is not a file of its own but follows other lines in one (as a
    DOCKER_LAYERS bundle's Dockerfile follows its layers), so a byte-order mark is text and parser
    directives are comments. ``heredocs=False`` reads as builders without heredoc support do.
    """
    lines = _lines(text)
    problems: list[DockerfileProblem] = []
    escape = "\\"
    if not fragment and lines:
        lines[0] = lines[0].removeprefix("\ufeff")
        escape, _, problems = _escape_token(lines)
    continuation = _continuation(escape)
    doubled = re.compile(rf"{re.escape(escape)}{{2}}[ \t]*\Z")
    items: list[Instruction] = []
    more = False
    i = 0
    while i < len(lines):
        start = i + 1
        line, i, more, ends = _logical_line(lines, i, continuation, doubled)
        problems += ends
        if line is None:
            continue
        keyword, argument = _split_command(line)
        openers: list[tuple[str, bool]] = []
        form = _heredoc_form(keyword, argument) if heredocs else False
        refused = None
        if form:
            openers, refused = _heredoc_openers(line)
        elif form is None and "<<" in line:
            refused = (
                "a JSON array with more text after it, which BuildKit runs without a shell (ignoring the text) "
                "and older builders with one, heredocs included; remove the text after the array"
            )
        if refused:
            problems.append(DockerfileProblem(start, refused))
        items.append(Instruction(start, keyword, argument, tuple(name for name, _ in openers)))
        for name, chomp in openers:
            end = _heredoc_end(lines, i, name, chomp)
            if end is None:
                problems.append(DockerfileProblem(start, f"the heredoc <<{name} has no line {name!r} ending it"))
                i = len(lines)
                break
            i = end
    return Parsed(tuple(items), tuple(problems), more)


def _heredoc_end(lines: list[str], first: int, name: str, chomp: bool) -> int | None:
    """The index of the line after the one ending the heredoc ``name`` that starts at ``first``."""
    for index in range(first, len(lines)):
        if (lines[index].lstrip("\t") if chomp else lines[index]) == name:
            return index + 1
    return None


def instructions(text: str) -> list[Instruction]:
    return list(parse(text).instructions)


def final_stage(items: list[Instruction] | tuple[Instruction, ...]) -> list[Instruction]:
    """The instructions of the last stage, its ``FROM`` first (the image that is built)."""
    starts = [i for i, item in enumerate(items) if item.keyword == "FROM"]
    return list(items[starts[-1] :]) if starts else []


def stage_names(items: list[Instruction]) -> list[str]:
    names: list[str] = []
    for item in items:
        if item.keyword == "FROM":
            words = item.argument.split()
            if len(words) >= 3 and words[-2].upper() == "AS":
                names.append(words[-1].lower())
    return names


def _is_root(user: str) -> bool:
    # a UID is read as a number: 'USER 00' is root too
    return user == "root" or (user.isdigit() and int(user) == 0)


def _user_problem(user: Instruction) -> DockerfileProblem | None:
    spec = user.argument
    if "$" in spec:
        # ARG and ENV values can come from the build's arguments: only a literal can be checked
        why = "takes the user from a variable, so aiar cannot tell whether it is root"
    elif not _LITERAL_USER.fullmatch(spec):
        # builders remove quotes and escapes ('USER "root"' is root): only a plain word can be checked
        why = "is not a plain user name or UID (with an optional ':group'), so aiar cannot tell who it is"
    elif _is_root(spec.split(":", 1)[0]):
        return DockerfileProblem(
            user.line,
            f"'USER {spec}' runs the model as root, which Pod Security Standards "
            "restricted forbid; use a non-root user such as 'USER 10001:10001'",
        )
    else:
        return None
    return DockerfileProblem(user.line, f"'USER {spec}' {why}; write the user literally, e.g. 'USER 10001:10001'")


def _user_problems(items: tuple[Instruction, ...]) -> list[DockerfileProblem]:
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
    problem = _user_problem(users[-1])
    return [problem] if problem else []


def _fragment_problems(text: str) -> list[DockerfileProblem]:
    """What only works at the top of a file of its own: aiar puts this text after its layers."""
    if text.startswith("\ufeff"):
        return [
            DockerfileProblem(
                1,
                "the Dockerfile starts with a byte-order mark, which is text after aiar's layers; save it without one",
            )
        ]
    escape, line, problems = _escape_token(_lines(text))
    if escape != "\\":
        problems.append(
            DockerfileProblem(
                line,
                "aiar builds this Dockerfile after its layers, where the '# escape=`' directive is only a "
                "comment; remove it and use '\\' as the escape character",
            )
        )
    return problems


def security_problems(text: str) -> list[DockerfileProblem]:
    """Why the image this Dockerfile builds cannot run under Pod Security Standards *restricted*.

    The rule: the final stage sets ``USER`` itself, to someone other than root. aiar's pods run as
    UID 10001 with ``runAsNonRoot`` whatever the image says, so an image that expects root (or says
    nothing, and so runs as root everywhere else) would break in the cluster, not at build time.

    The text is read as aiar builds it: after the layers (a fragment, see :func:`parse`). Engines
    without heredoc support read heredoc text as instructions; when that reading still builds (every
    line of its final stage a real instruction), the rule must hold for it too.
    """
    problems = _fragment_problems(text)
    text = text.removeprefix("\ufeff")  # reported above; the rest is checked as it will be once saved without
    read = parse(text, fragment=True)
    if read.problems:
        # the rule below would be checked against a reading the builder may not share
        return problems + list(read.problems)
    if read.continued:
        last = read.instructions[-1].line if read.instructions else None
        problems.append(
            DockerfileProblem(
                last,
                "the Dockerfile ends inside a line continuation, which would run into the lines aiar "
                "appends after it (the manifest's envVars); end its last line without '\\'",
            )
        )
    users = _user_problems(read.instructions)
    if not users and any(item.heredocs for item in read.instructions):
        legacy = parse(text, fragment=True, heredocs=False).instructions
        # an engine without heredocs fails on a stage holding heredoc text that is no instruction
        if all(item.keyword in INSTRUCTIONS for item in final_stage(legacy)):
            note = " (as engines without heredoc support read it: heredoc text as instructions)"
            users = [DockerfileProblem(p.line, p.message + note) for p in _user_problems(legacy)]
    return problems + users
