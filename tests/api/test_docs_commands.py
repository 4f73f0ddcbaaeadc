"""Documents that cannot go stale (issue 23, item 1): every command README.md and docs/*.md tell a
reader to run, read out of the documents themselves (every fenced block whose lines are commands,
and every `manage.py`, `make` or `python bench/...` span in the text), is run here or checked.

- Concrete `manage.py` lines run through call_command against a local cloud, after what `make up`
  leaves behind (the demo environment, made and provisioned by scripts/up.sh's own lines), with a
  worker's part played in process. A command that exits non-zero fails the test.
- A synopsis (`NAME`, `dev|staging|prod`, `[--json]`) cannot run: each subcommand and option it
  names must exist in the command's parser. A line whose only placeholders are optional parts
  (`prices show [--region R]`) also runs without them.
- The local cloud's tool lines (`aws --endpoint-url ...`, `python -c ...`, `curl ...`) run against
  the test's local cloud (its port for 4566, the demo environment's API id and key).
- What cannot run inside a test is checked for existence instead: `make up` / `make test` (the
  Makefile target exists), `docker compose up` (the compose file and Dockerfile exist), `celery`
  worker and beat lines (the queues are the ones the portal declares, the scheduler imports),
  `export VAR=...` (the settings read VAR), `python bench/...` and `python -m localcloud` (the
  script exists and its --help names every option given).
- `NOT_RUN` lists the concrete lines that are only parsed, each with its reason.

docs/pipelines.md and docs/notifications.md run end to end in tests/api/test_docs_run.py and
tests/notifications/test_docs_notifications.py; their `manage.py` spans are checked here too.
A line no rule knows fails the test: a new section's commands are run, or listed here with why."""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError

from portal import dispatch
from portal.models import Environment
from portal.services import environments as environment_service
from portal.services import runs as run_service
from portal.services.base import Actor

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(django_settings.BASE_DIR)
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_ELSEWHERE = {"pipelines.md", "notifications.md"}  # end to end in their own tests (docstring)
COMMAND_WORDS = {"manage.py", "make", "python", "celery", "aws", "curl", "docker", "export", "git"}
# Concrete lines parsed by their command but not run, and why.
NOT_RUN = {
    r"^manage\.py (release|rollback) (pr4966|staging1|prod)\b": (
        "examples of a release's options on environments named for the example (a five-minute "
        "canary bake among them); releases and rollbacks run as written in docs/pipelines.md "
        "(tests/api/test_docs_run.py)"
    ),
    r"^manage\.py localcloud\b": (
        "serves until stopped; the local cloud this test runs its commands against is that server"
    ),
}
# Concrete lines whose documented exit is not 0 here: (pattern, exit, what it must print, why).
EXPECTED_EXIT = {
    r"^manage\.py prices refresh\b": (
        1,
        "the bundled table stays in use",
        "the local cloud has no Price List API: docs/cost.md says the command says so and exits 1",
    ),
}
PLACEHOLDER = re.compile(r"[|\[\]]|\.\.\.|^[A-Z][A-Z0-9_.]*(=[A-Z]+)?$")
LOCAL_CLOUD = "http://127.0.0.1:4566"


# --- reading the documents -------------------------------------------------------------------
def _fenced_lines(text: str) -> Iterator[str]:
    """The command lines of the fenced blocks that hold commands (not diagrams or printed output):
    continuations joined, `$ ` prompts and trailing comments dropped, one command per item."""
    for info, block in re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.M | re.S):
        if info not in ("", "sh", "bash", "shell", "console"):
            continue
        lines: list[str] = []
        for raw in block.replace("\\\n", " ").splitlines():
            line = raw[2:] if raw.startswith("$ ") else raw
            if line[:1].isspace() and lines and not line.strip().startswith("#"):
                lines[-1] += " " + line.strip()  # a synopsis wrapped onto the next line
            elif line.strip():
                lines.append(line)
        if not any(line.split()[0] in COMMAND_WORDS for line in lines if line.split()):
            continue
        for line in lines:
            for part in re.split(r"\s{3,}(?=manage\.py )", line):
                command = re.sub(r"\s+#\s.*$|\s{2,}\(.*\)\s*$", "", part).strip()
                if command and not command.startswith("#"):
                    yield command


def _spans(text: str) -> Iterator[str]:
    """The commands written in the text's code spans."""
    for span in re.findall(r"`([^`\n]+)`", text):
        if re.match(r"(manage\.py|make|python bench/)\s?\S", span):
            yield span


def _document_commands() -> list[tuple[str, str, bool]]:
    """(document, command, whether it is in a fenced block) for every document."""
    found = []
    for path in DOCUMENTS:
        text = path.read_text()
        if path.name not in RUN_ELSEWHERE:
            found += [(path.name, c, True) for c in _fenced_lines(text)]
        found += [(path.name, c, False) for c in _spans(text)]
    return found


# --- parsers ---------------------------------------------------------------------------------
def _parser(words: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser of `manage.py <command> [<subcommand>]` and the words after them."""
    name = words[1]
    commands = get_commands()
    assert name in commands, f"manage.py {name}: no such command"
    command = load_command_class(commands[name], name)
    parser: argparse.ArgumentParser = command.create_parser("manage.py", name)
    rest = words[2:]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and rest and rest[0] in action.choices:
            return action.choices[rest[0]], rest[1:]
    return parser, rest


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def _check_synopsis(command: str) -> None:
    words = command.split()
    parser, rest = _parser(words)
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if subs and rest:  # `env create|update`, or a subcommand the parser has not got
        for choice in rest[0].strip("[]").split("|"):
            assert choice in subs[0].choices, f"{command}: {choice} is not a subcommand"
        return
    for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", " ".join(rest)):
        assert option in _options(parser), f"{command}: option {option} does not exist"


def _is_synopsis(command: str) -> bool:
    return any(PLACEHOLDER.search(word) for word in command.split()[1:])


def _without_optional(command: str) -> str | None:
    """The line with its optional parts dropped, when nothing else in it is a placeholder."""
    bare = re.sub(r"\s*\[[^\]]*\]", "", command)
    return None if _is_synopsis(bare) else bare


# --- running ---------------------------------------------------------------------------------
def _manage(command: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    code, says, _why = next((e for p, e in EXPECTED_EXIT.items() if re.search(p, command)), (0, "", ""))
    try:
        call_command(*shlex.split(command)[1:], stdout=out, stderr=err)
        assert not code, f"{command}: exit 0, the document says {code}"
    except SystemExit as exc:
        printed = err.getvalue() + out.getvalue()
        assert (exc.code or 0) == code, f"{command}: exit {exc.code}\n{printed}"
        assert says in printed, f"{command}: does not say {says!r}\n{printed}"
    except CommandError as exc:
        raise AssertionError(f"{command}: exit 2 ({exc})\n{err.getvalue()}") from exc
    return out.getvalue()


def _shell(command: str, cloud: Any, env: dict[str, str]) -> str:
    line = command.replace(LOCAL_CLOUD, cloud.endpoint_url)
    done = subprocess.run(
        ["bash", "-c", line], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stderr}"
    return done.stdout


def _make_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.M))


def _check_existence(command: str) -> bool:
    """The checks of what cannot run in a test; False when no rule knows the command."""
    words = shlex.split(command)
    if words[0] == "make":
        assert words[1] in _make_targets(), f"{command}: the Makefile has no target {words[1]}"
    elif words[:2] == ["docker", "compose"]:
        assert (ROOT / "docker-compose.yml").is_file() and (ROOT / "Dockerfile").is_file(), command
    elif words[0] == "export":
        name = words[1].split("=", 1)[0]
        assert name in (ROOT / "portal" / "settings.py").read_text(), f"{command}: settings never read {name}"
    elif words[:3] == ["celery", "-A", "portal"]:
        declared = {q.name for q in django_settings.CELERY_TASK_QUEUES}
        if "-Q" in words:
            queues = set(words[words.index("-Q") + 1].split(","))
            assert queues <= declared, f"{command}: queues {queues - declared} are not declared"
        if "--scheduler" in words:
            scheduler = words[words.index("--scheduler") + 1]
            module, _, attr = scheduler.partition(":") if ":" in scheduler else scheduler.rpartition(".")
            assert hasattr(importlib.import_module(module), attr), command
    elif words[0] == "python" and (
        words[1].startswith(("bench/", "scripts/")) or words[1:3] == ["-m", "localcloud"]
    ):
        argv = [sys.executable, *(words[1:3] if words[1] == "-m" else words[1:2]), "--help"]
        helped = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
        assert helped.returncode == 0, f"{command}: {helped.stderr}"
        for option in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", command):
            assert option in helped.stdout, f"{command}: option {option} is not in its --help"
    else:
        return False
    return True


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's part, in this process: a requested run runs when it is enqueued."""
    monkeypatch.setattr(dispatch, "enqueue", lambda dep: run_service.run_deployment(dep.pk))


def _after_make_up() -> None:
    """What `make up` leaves: the demo environment, by scripts/up.sh's own manage.py lines."""
    lines = re.findall(
        r'^\s*"\$PY" manage\.py (env create demo .*|provision demo)$',
        (ROOT / "scripts" / "up.sh").read_text(),
        flags=re.M,
    )
    assert len(lines) == 2, lines
    for line in lines:
        _manage(f"manage.py {line}")


def _tool_env(cloud: Any) -> dict[str, str]:
    demo = Environment.objects.get(suffix="demo")
    outputs = demo.outputs or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="any",
        AWS_SECRET_ACCESS_KEY="any",
        AWS_DEFAULT_REGION=demo.region,
        API_ID=str(outputs["api_id"]),
        KEY=environment_service.reveal_api_key(Actor.cli(), demo),
    )
    return env


@dataclass
class Tally:
    ran: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    not_run: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    printed: dict[str, str] = field(default_factory=dict)  # what each --json line printed


def test_every_documented_command_runs_or_is_checked(
    local_target: Any, worker: None, settings: Any, tmp_path: Path
) -> None:
    settings.ENVPORT_RELEASE_POLL_SECONDS = 0.5
    settings.ENVPORT_PRICES_DIR = tmp_path / "pricing"  # a refresh writes nothing into the tree
    commands = _document_commands()
    assert len(commands) > 40, commands  # the documents were read
    _after_make_up()
    tool_env = _tool_env(local_target)
    tally = Tally()
    failed: list[str] = []
    document = ""
    for name, command, fenced in commands:
        if name != document:  # each document starts from what `make up` leaves
            document = name
            Environment.objects.exclude(suffix="demo").delete()
        try:
            _one(command, fenced, f"{document}: {command}", local_target, tool_env, tally)
        except AssertionError as exc:
            failed.append(f"{document}: {exc}")
    described = list(_json_documents(tally))
    assert described, "no `--json prints one document` paragraph was checked against a run"
    for name, fields, printed in described:
        missing = fields - _keys(printed)
        if missing:
            failed.append(f"{name}: fields its --json paragraph names are not printed: {sorted(missing)}")
    assert not failed, "\n".join(failed)
    assert not tally.unknown, (
        f"commands no rule here runs or checks (run them, or add them to NOT_RUN): {tally.unknown}"
    )
    assert tally.ran and tally.checked
    out = ROOT / "build"
    out.mkdir(exist_ok=True)
    report = [f"ran: {c}" for c in tally.ran] + [f"checked: {c}" for c in tally.checked]
    report += [f"not run: {c} ({r})" for c, r in tally.not_run]
    (out / "docs-commands.txt").write_text("\n".join(report) + "\n")


def _one(
    command: str,
    fenced: bool,
    where: str,
    cloud: Any,
    tool_env: dict[str, str],
    tally: Tally,
) -> None:
    """Run or check one documented command, noting which it was."""
    words = command.split()
    if words[0] == "manage.py":
        reason = next((r for p, r in NOT_RUN.items() if re.search(p, command)), None)
        if _is_synopsis(command) or not fenced:
            _check_synopsis(command)  # a span names a command, maybe in part
            bare = _without_optional(command) if fenced else None
            if bare is not None and bare != command and reason is None:
                _manage(bare)
                tally.ran.append(where)
            tally.checked.append(where)
        elif reason is not None:
            _parser_accepts(command)
            tally.not_run.append((where, reason))
        else:
            printed = _manage(command)
            if "--json" in words:
                tally.printed[where] = printed
            tally.ran.append(where)
    elif words[0] in ("aws", "curl") or words[:2] == ["python", "-c"]:
        assert LOCAL_CLOUD in command, f"{where}: a tool line not aimed at the local cloud"
        printed = _shell(command, cloud, tool_env)
        assert printed.strip(), f"{where}: printed nothing"
        tally.ran.append(where)
    elif _check_existence(command):
        tally.checked.append(where)
    else:
        tally.unknown.append(where)


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def _json_documents(tally: Tally) -> Iterator[tuple[str, set[str], Any]]:
    """For a block followed by a paragraph "`--json` prints one document: `a`, `b` ...", the
    fields that paragraph names and what the block's `--json` line printed."""
    for path in DOCUMENTS:
        text = path.read_text()
        for block, paragraph in re.findall(
            r"^```\n(.*?)^```\n\n(`--json` prints one document.*?)\n\n", text, flags=re.M | re.S
        ):
            line = next((c for c in _fenced_lines(f"```\n{block}```\n") if "--json" in c), None)
            if line is None or f"{path.name}: {line}" not in tally.printed:
                continue
            fields = {f for f in re.findall(r"`([a-z_]+)`", paragraph)}
            yield f"{path.name}: {line}", fields, json.loads(tally.printed[f"{path.name}: {line}"])


def _parser_accepts(command: str) -> None:
    words = shlex.split(command)
    parser, rest = _parser(words)
    try:
        parser.parse_args(rest)
    except (SystemExit, CommandError) as exc:
        raise AssertionError(f"{command}: its command refuses these arguments") from exc
