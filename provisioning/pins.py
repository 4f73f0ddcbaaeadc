"""A package's requirements.txt, read strictly: exact pins and nothing pip could act on besides.

pip reads a requirements file as a list of command-line options as much as of packages: `-r FILE`
reads another file (and echoes lines it cannot parse, so `-r /path/to/secret` printed a secret),
`--no-binary :all:` makes it build source packages (running their code), `--find-links`,
`--index-url` and URLs fetch from anywhere, `-e` installs a folder or a VCS checkout. A pipeline
writes this file, so the build accepts exactly what pins a release:

    name==version                  (e.g. aws-lambda-powertools==3.37.0, extras as name[extra]==1.0)
    name==version ; MARKER         (an environment marker, e.g. python_version >= "3.9")
    ... --hash=sha256:HEX          (any number of hashes, pip's hash-checking mode)

plus comments, blank lines and `\\` line continuations (how pip-compile writes hashes). Anything
else is refused naming the line's number and what is allowed, never quoting the line: its content
is the pipeline's, and may be what an option made pip read. pip then gets a file the build writes
from the parsed pins (`Pin.line`), never the pipeline's own.

The grammar is PEP 508's, parsed by `packaging` (https://packaging.python.org/en/latest/specifications/dependency-specifiers/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

MAX_BYTES = 64 * 1024
MAX_LINES = 2000
MAX_PINS = 500
ALLOWED = (
    "one requirement per line as name==version (extras name[extra]==version), optionally "
    '"; MARKER" and --hash=sha256:HEX; comments and blank lines; no pip options, URLs, paths '
    "or version ranges"
)
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_COMMENT = re.compile(r"(^|\s)#.*$")


class PinError(ValueError):
    """The file is not exact pins; one problem per line, naming line numbers, never content."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Pin:
    """One pinned requirement, rebuilt from its parts (what pip is given)."""

    name: str
    version: str
    extras: tuple[str, ...]
    marker: str | None
    hashes: tuple[str, ...]
    lineno: int

    @property
    def line(self) -> str:
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        text = f"{self.name}{extras}=={self.version}"
        if self.marker:
            text += f" ; {self.marker}"
        return " ".join([text, *(f"--hash=sha256:{h}" for h in self.hashes)])


def parse_pins(data: bytes, label: str = "requirements.txt") -> list[Pin]:
    """Every pin of `data`, or PinError listing every line that is not one (by number only)."""
    if len(data) > MAX_BYTES:
        raise PinError([f"{label}: {len(data)} bytes is not allowed; at most {MAX_BYTES}"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PinError([f"{label}: is not UTF-8 text; {ALLOWED}"]) from None
    raw_lines = text.splitlines()
    if len(raw_lines) > MAX_LINES:
        raise PinError([f"{label}: {len(raw_lines)} lines is not allowed; at most {MAX_LINES}"])
    pins: list[Pin] = []
    problems: list[str] = []
    for lineno, logical in _logical_lines(raw_lines):
        problem = None
        try:
            pins.append(_pin(logical, lineno))
        except ValueError as exc:
            problem = str(exc)
        if problem is not None:
            problems.append(f"{label}:{lineno}: {problem} is not allowed; {ALLOWED}")
    if len(pins) > MAX_PINS:
        problems.append(f"{label}: {len(pins)} requirements is not allowed; at most {MAX_PINS}")
    if problems:
        raise PinError(problems)
    return pins


def _logical_lines(lines: list[str]) -> list[tuple[int, str]]:
    """(first line number, text) of each non-empty line once comments and continuations go."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(lines, 1):
        line = _COMMENT.sub("", raw).strip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        joined = " ".join(part.strip() for part in pending).strip()
        pending = []
        if joined:
            out.append((start, joined))
    if pending and " ".join(pending).strip():
        out.append((start, " ".join(pending).strip()))
    return out


def _pin(text: str, lineno: int) -> Pin:
    """One logical line as a Pin; ValueError says what kind of thing it is, not what it says."""
    words = text.split()
    hashes = [w for w in words if w.startswith("--hash")]
    rest = " ".join(w for w in words if not w.startswith("--hash"))
    for word in hashes:
        if not _HASH.fullmatch(word):
            raise ValueError("a hash other than --hash=sha256:<64 lower-case hex digits>")
    if rest.startswith("-"):
        raise ValueError("a pip option")
    try:
        requirement = Requirement(rest)
    except InvalidRequirement:
        raise ValueError("a line that is not a pinned requirement") from None
    if requirement.url:
        raise ValueError("a URL or path")
    if not _NAME.fullmatch(requirement.name):
        raise ValueError("a package name")
    specs = list(requirement.specifier)
    if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
        raise ValueError("a requirement that is not pinned with == to one version")
    try:
        version = str(Version(specs[0].version))
    except InvalidVersion:
        raise ValueError("a version") from None
    return Pin(
        name=requirement.name,
        version=version,
        extras=tuple(sorted(requirement.extras)),
        marker=str(requirement.marker) if requirement.marker else None,
        hashes=tuple(word.split(":", 1)[1] for word in hashes),
        lineno=lineno,
    )


def pins_file(pins: list[Pin]) -> str:
    """The requirements file pip is given: the pins as parsed, one per line."""
    return "".join(pin.line + "\n" for pin in pins)


__all__ = ["ALLOWED", "Pin", "PinError", "parse_pins", "pins_file"]
