"""`make test` installs Debian's Chromium for the browser test when missing (scripts/install-chromium.sh).

Probe: on a machine without /usr/bin/chromium, `make test` failed in the browser test, because only
.ci/run installed the browser. These tests run the script itself in the three situations that do
not change the machine: the browser is there, it is missing on a system without apt-get, and it
is missing for a user who may not install packages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install-chromium.sh"
BASH = shutil.which("bash") or "/bin/bash"


def run(env: dict[str, str], *prefix: str, script: Path = SCRIPT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, BASH, str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_present_browser_installs_nothing(tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho fake\n")
    fake.chmod(0o755)
    # No PATH at all: had the script tried apt-get, it would have failed.
    result = run({"CHROMIUM": str(fake), "PATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "installing" not in result.stderr


def test_missing_browser_without_apt_says_what_to_install(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("id",):
        os.symlink(shutil.which(tool) or f"/usr/bin/{tool}", bin_dir / tool)
    result = run({"CHROMIUM": str(tmp_path / "absent"), "PATH": str(bin_dir)})
    assert result.returncode == 2
    assert "no apt-get" in result.stderr and "chromium" in result.stderr


def test_missing_browser_for_a_user_who_may_not_install() -> None:
    """As root the script would install, so it runs as `nobody`; as anyone else, with no sudo on PATH."""
    with tempfile.TemporaryDirectory() as folder:  # pytest's tmp_path is not readable by nobody
        os.chmod(folder, 0o755)
        result = _run_unprivileged(Path(folder))
    assert result.returncode == 2, result.stderr
    assert "needs root" in result.stderr and "sudo apt-get install chromium" in result.stderr


def _run_unprivileged(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(shutil.which("id") or "/usr/bin/id", bin_dir / "id")
    fake_apt = bin_dir / "apt-get"
    fake_apt.write_text("#!/bin/sh\necho apt-get must not run >&2\nexit 99\n")
    fake_apt.chmod(0o755)
    env = {"CHROMIUM": str(tmp_path / "absent"), "PATH": str(bin_dir)}
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    as_nobody = (runuser, "-u", "nobody", "--") if os.geteuid() == 0 else ()
    script = tmp_path / SCRIPT.name  # a checkout may sit where nobody cannot read it (CI's is 0700)
    shutil.copy(SCRIPT, script)
    script.chmod(0o755)
    return run(env, *as_nobody, script=script)
