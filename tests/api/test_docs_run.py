"""Documents that cannot go stale (issue 23, item 1): docs/pipelines.md and docs/notifications.md
are followed as written. The commands are read out of the documents themselves, run against the
product (the manage.py lines through call_command, each curl line as the HTTP request it makes,
with the rest of its pipe, jq, grep or cut, run on what came back), and what the document shows
each command printing is compared with what it printed now: the fields it names, the words of
the run vocabulary, the status lines and headers. A documented field the API no longer returns,
or a command that exits non-zero, fails here. The transcript this run produced is written to
build/pipelines-transcript.txt (never into docs/)."""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client

from portal.models import RESULTS, Deployment
from portal.services import runs as run_service
from provisioning.artifacts import DEFAULT_ROOT, build_artifact

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

DOCS = Path(django_settings.BASE_DIR) / "docs"
BUILD = Path(django_settings.BASE_DIR) / "build"
BASE = "http://testserver"
# Values that change from run to run; the rest of a documented JSON object is compared as printed.
VALUES_COMPARED = {"kind", "result", "finished", "environment", "stage", "field", "allowed", "action"}


def _fences(text: str, lang: str = "") -> list[str]:
    """The fenced blocks of a Markdown text whose info string is `lang`."""
    return re.findall(rf"^```{re.escape(lang)}\n(.*?)^```$", text, flags=re.M | re.S)


def _section(text: str, heading: str) -> str:
    start = text.index(f"## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def _transcript(block: str) -> list[tuple[str, list[str]]]:
    """The commands of a transcript (lines after `$ `) with the lines it shows each printing."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif line.strip() and steps:
            steps[-1][1].append(line)
    return steps


def _split_pipe(line: str) -> tuple[str, str]:
    """The command before the first `|` outside quotes, and the rest of the pipe."""
    for match in re.finditer(r" \| ", line):
        head = line[: match.start()]
        try:
            shlex.split(head)
        except ValueError:  # inside quotes
            continue
        return head, line[match.end() :]
    return line, ""


def _shape(line: str) -> str:
    """A printed line with its ids, hashes, numbers and times made alike."""
    return re.sub(r"[0-9a-f]{12,}|\d+", "#", line)


def _same_structure(doc: Any, now: Any, where: str) -> None:
    """Every field the document shows is there now, with the same value where it is stable."""
    if isinstance(doc, dict):
        assert isinstance(now, dict), f"{where}: the document shows an object, the product printed {now!r}"
        for key, value in doc.items():
            assert key in now, (
                f"{where}: the document shows field {key!r}, the product no longer gives it: {now}"
            )
            compared = key in VALUES_COMPARED or (key == "status" and doc.get("finished") is True)
            if compared and not isinstance(value, dict | list):
                assert now[key] == value, f"{where}: {key} is {now[key]!r} now, the document says {value!r}"
            _same_structure(value, now[key], f"{where}.{key}")
    elif isinstance(doc, list) and doc and now:
        _same_structure(doc[0], now[0], f"{where}[0]")


class Curl:
    """A curl line of the documents as the request it makes, through Django's test client."""

    def __init__(self, line: str, cwd: Path) -> None:
        args = shlex.split(line)
        assert args[0] == "curl", line
        self.method, self.headers, self.data, self.form, self.write_out = "GET", {}, None, {}, ""
        self.include, self.url = False, ""
        items = iter(args[1:])
        for arg in items:
            if arg == "-X":
                self.method = next(items)
            elif arg == "-H":
                name, _, value = next(items).partition(":")
                self.headers[name.strip()] = value.strip()
            elif arg == "-d":
                self.data, self.method = next(items), "POST" if self.method == "GET" else self.method
            elif arg == "-F":
                name, _, value = next(items).partition("=")
                self.form[name] = (
                    io.BytesIO((cwd / value[1:]).read_bytes()) if value.startswith("@") else value
                )
            elif arg == "-w":
                self.write_out = next(items).replace("\\n", "\n")
            elif arg == "-i":
                self.include = True
            elif arg.startswith("-"):
                assert set(arg[1:]) <= set("sS"), f"a curl option this test does not know: {arg}"
            else:
                self.url = arg
        assert self.url.startswith(BASE), line

    def send(self) -> tuple[Any, str]:
        """The answer, and what curl prints of it."""
        client, path = Client(), self.url[len(BASE) :]
        headers = {k: v for k, v in self.headers.items() if k.lower() != "content-type"}
        if self.form:
            answer = client.post(path, self.form, headers=headers)
        else:
            answer = client.generic(
                self.method,
                path,
                (self.data or "").encode(),
                content_type=self.headers.get("Content-Type", "application/octet-stream"),
                headers=headers,
            )
        printed = answer.content.decode()
        if self.include:
            head = [f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}"]
            head += [f"{name}: {value}" for name, value in answer.headers.items()]
            printed = "\r\n".join(head) + "\r\n\r\n" + printed
        return answer, printed + self.write_out.replace("%{http_code}", str(answer.status_code))


def _compare(command: str, shown: list[str], printed: list[str], body: Any) -> None:
    """What the document shows a command printing against what it printed now."""
    if shown and "\t" in shown[0]:  # a table of rows: the document's rows, times aside, are there
        rows = {tuple(line.split("\t")[1:]) for line in printed}
        for line in shown:
            assert tuple(line.split("\t")[1:]) in rows, (
                f"{command}: row {line!r} is not printed now: {printed}"
            )
        return
    assert len(printed) == len(shown), f"{command}\n  documented: {shown}\n  now: {printed}"
    for doc_line, line in zip(shown, printed, strict=True):
        if doc_line.startswith("{"):
            doc_json, doc_code = re.fullmatch(r"(.*?)( \d{3})?", doc_line).groups()  # type: ignore[union-attr]
            now_json, now_code = re.fullmatch(r"(.*?)( \d{3})?", line).groups()  # type: ignore[union-attr]
            assert doc_code == now_code, f"{command}: answered{now_code}, the document says{doc_code}"
            try:
                documented = json.loads(doc_json)
            except ValueError:  # cut short by `cut`: the fields it names are in the answer's body
                for key in re.findall(r'"(\w+)":', doc_line):
                    assert key in body, f"{command}: field {key!r} is not in the answer now: {body}"
                continue
            _same_structure(documented, json.loads(now_json), command)
        elif doc_line.startswith("HTTP/"):
            assert line == doc_line, f"{command}: {line!r} now, the document says {doc_line!r}"
        elif re.match(r"^[\w-]+: ", doc_line):
            assert line.split(":")[0] == doc_line.split(":")[0], f"{command}: {line!r} / {doc_line!r}"
        else:
            assert _shape(line) == _shape(doc_line), f"{command}\n  documented: {doc_line}\n  now: {line}"


def test_docs_pipelines_md_runs_as_written(
    local_target: Any, dispatched: list[Any], tmp_path: Path, settings: Any
) -> None:
    """Issue 23: docs/pipelines.md failed at its first command and its figures were stale. Its
    token commands and its transcript run here, against the local cloud, and what it shows each
    printing is compared with what the product prints now."""
    settings.ENVPORT_RELEASE_POLL_SECONDS = 0.5
    text = (DOCS / "pipelines.md").read_text()
    token_block = next(b for b in _fences(_section(text, "The token")) if "manage.py" in b)
    commands = [line for line in token_block.splitlines() if line.startswith("manage.py ")]
    assert [c.split()[1] for c in commands] == ["serviceuser", "apitoken"]
    steps = _transcript(_fences(_section(text, "A transcript against `make up`"))[0])
    # the transcript runs the same commands the reader is told to run, not others
    assert [c for c, _ in steps if c.startswith("manage.py ")] == commands

    # the pipeline's build: the default function, changed by a commit
    bundle = tmp_path / "src" / "lambda_bundle"
    shutil.copytree(DEFAULT_ROOT, bundle, ignore=shutil.ignore_patterns("__pycache__"))
    (bundle / "handler.py").write_text((bundle / "handler.py").read_text() + "\n# commit 9f1c2e\n")
    (tmp_path / "build.zip").write_bytes(build_artifact(bundle).data)

    env: dict[str, str] = {"API": f"{BASE}/api/v1"}
    urls = {"provision": "RUN", "release": "REL", "verify": "VER", "teardown": "TD"}
    generated: list[str] = []
    finished: dict[str, str] = {}
    for command, shown in steps:
        command = command.replace("${SHA:0:12}", env.get("SHA", "")[:12])
        for name, value in sorted(env.items(), key=lambda kv: -len(kv[0])):
            command = command.replace(f"${name}", value)
        assert not re.search(r"\$[A-Z{]", command), f"a variable the document never sets: {command}"
        body: Any = None
        if command.startswith("manage.py "):
            out, err = io.StringIO(), io.StringIO()
            call_command(*shlex.split(command)[1:], stdout=out, stderr=err)  # a refusal raises
            printed = (err.getvalue() + out.getvalue()).splitlines()
            tokens = [line for line in printed if line.startswith("envp_")]
            if tokens:
                env["TOKEN"], env["AUTH"] = tokens[0], f"Authorization: Bearer {tokens[0]}"
                printed = [p if not p.startswith("envp_") else shown[-1] for p in printed]
        else:
            head, tail = _split_pipe(command)
            curl = Curl(head, tmp_path)
            if curl.method == "GET":  # a worker has run what was requested before it is read
                for dep in list(dispatched):
                    run_service.run_deployment(dep.pk)
                dispatched.clear()
            answer, raw = curl.send()
            assert answer.status_code < 500, (command, raw)
            body = json.loads(answer.content) if answer.content else None
            if isinstance(body, dict) and answer.status_code == 202 and "kind" in body:
                env[urls[body["kind"]]] = body["url"]
            if isinstance(body, dict) and body.get("finished") is True:
                finished[body["kind"]] = answer.content.decode()
            if isinstance(body, dict) and "sha256" in body:
                env["SHA"] = body["sha256"]
            if tail:
                done = subprocess.run(
                    ["bash", "-c", tail], input=raw, capture_output=True, text=True, timeout=30, check=False
                )
                assert done.returncode == 0, (command, done.stderr)
                raw = done.stdout
            printed = raw.splitlines()
        generated += [f"$ {command}", *printed, ""]
        _compare(command, shown, printed, body)

    BUILD.mkdir(exist_ok=True)
    (BUILD / "pipelines-transcript.txt").write_text("\n".join(generated))

    # the workflow's run() helper: the words it names are the product's, and its jq reads a run
    workflow = _fences(text, "yaml")[0]
    words = re.search(r"# \(status: ([\w, ]+); result, where the kind has one:\n\s*# ([\w, ]+)\)", workflow)
    assert words, "the run() helper no longer names the statuses and results"
    assert set(words[1].split(", ")) == set(Deployment.Status.values)
    assert set(words[2].split(", ")) == {result for results in RESULTS.values() for result in results}
    helper = re.search(r"jq '(\{kind[^']*)' <<<", workflow)
    assert helper, "the run() helper no longer prints the run with jq"
    helped = subprocess.run(
        ["jq", "-c", helper[1]], input=finished["verify"], capture_output=True, text=True, check=True
    )
    summary = json.loads(helped.stdout)
    assert (
        set(summary) == {"kind", "status", "result", "error", "checks"} and summary["status"] == "succeeded"
    )
    assert summary["checks"] and all(set(c) == {"name", "passed"} for c in summary["checks"])
