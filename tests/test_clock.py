"""clock.py: the one clock, which a test can set instead of re-signing certificates."""

from __future__ import annotations

import ast
import datetime
from pathlib import Path

import pytest

from minipaas_certs import clock
from minipaas_certs.errors import EXIT_WARNINGS


def test_now_is_utc_and_aware() -> None:
    now = clock.now()
    assert now.utcoffset() == datetime.timedelta(0)
    assert abs(now - datetime.datetime.now(datetime.timezone.utc)) < datetime.timedelta(
        seconds=5)


def test_setting_the_clock_moves_what_check_reports(
        tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new set is sound today; 360 days on, its 365-day leaves expire within the
    30 days check warns about.  Fails if a module check runs reads the time elsewhere."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    assert cli("certs", "check", str(out)).code == 0
    ahead = clock.now() + datetime.timedelta(days=360)
    monkeypatch.setattr(clock, "now", lambda: ahead)
    result = cli("certs", "check", str(out))
    assert result.code == EXIT_WARNINGS, result.out
    warned = [line for line in result.out.splitlines() if line.startswith("warning: ")]
    assert any(line.startswith("warning: server-cert.pem: ") for line in warned), result.out
    assert not any(line.startswith("warning: ca.pem: ") for line in warned), result.out


def _bypasses(source: str) -> list[int]:
    """Lines that read the UTC time other than through ``clock.now()``: ``x.now(tz)`` or
    ``x.utcnow()``, or ``now`` imported by name (a copy a test cannot set).  A bare
    ``datetime.now()`` is local time, for backup names, and stays."""

    def reads_utc(node: ast.AST) -> bool:
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
            node.func.attr == "utcnow"
            or (node.func.attr == "now" and bool(node.args or node.keywords)))

    def copies_now(node: ast.AST) -> bool:
        return isinstance(node, ast.ImportFrom) and (node.module or "").endswith("clock")

    return sorted(node.lineno for node in ast.walk(ast.parse(source))
                  if reads_utc(node) or copies_now(node))


def test_no_module_reads_the_time_around_the_clock() -> None:
    package = Path(clock.__file__).parent
    assert _bypasses("import datetime\nnow = datetime.datetime.now(datetime.timezone.utc)\n"
                     "from .clock import now\n") == [2, 3]
    assert _bypasses("stamp = datetime.datetime.now().strftime('%Y')\n") == []
    modules = sorted(package.rglob("*.py"))  # subpackages too (signers/)
    assert any(path.parent.name == "signers" for path in modules)
    assert {str(path.relative_to(package)): _bypasses(path.read_text()) for path in modules
            if path.name != "clock.py" and _bypasses(path.read_text())} == {}
