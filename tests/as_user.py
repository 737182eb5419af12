"""The tool run as a user runs it: from a working folder with a relative --out, pasting
into bash the commands it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import run_tool


def tool(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_tool("certs", *args, cwd=cwd)


def ok(cwd: Path, *args: str) -> None:
    done = tool(cwd, *args, "-q")
    assert done.returncode == 0, done.stderr


def paste(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` as a user pastes it into bash."""
    script = f'minipaas() {{ "{sys.executable}" -m minipaas_certs "$@"; }}\n{command} -q\n'
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def quoted_command(line: str) -> str:
    found = re.search(r"`(minipaas certs [^`]*)`", line)
    assert found is not None, line
    return found.group(1)
