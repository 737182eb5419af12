"""README.rst's walk-through, run as written against a real dockerd.

Only two things change: 2376 becomes a free port, and the ``dockerd`` line is run
by the test (same config file, plus the sandbox flags a container needs, and its
unix socket moved into the sandbox).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import TOOL_OPENSSL
from dockerd import Dockerd, require_docker

README = Path(__file__).resolve().parent.parent / "README.rst"
pytestmark = [pytest.mark.docker, pytest.mark.invariant]


def walkthrough_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("Walk-through: from nothing to ``docker version`` over TLS\n", 1)[1]
    section = section.split("\nThe docker CLI reads", 1)[0]
    blocks = re.findall(r"\.\. code-block:: sh\n\n((?:[ \t]+\S.*\n|\n)+)", section)
    return [textwrap.dedent(block).strip() for block in blocks]


def test_the_walkthrough_has_the_expected_shape() -> None:
    blocks = walkthrough_blocks()
    assert len(blocks) == 3
    assert blocks[1].splitlines()[-1] == "dockerd --config-file daemon.json &"
    assert blocks[2].splitlines()[-1] == "docker version"


def test_the_walkthrough_reaches_docker_version_over_tls(tmp_path: Path) -> None:
    require_docker()
    daemon = Dockerd()
    port = str(daemon.port)
    bin_dir = Path(sys.executable).parent
    # PYTHONPATH: the installed `minipaas` runs this checkout's package, as in test_docker.
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path),
           "MINIPAAS_OPENSSL": TOOL_OPENSSL, "PYTHONPATH": str(README.parent)}

    def shell(script: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script.replace("2376", port)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{script}\n{done.stderr}"
        return done

    certs, daemon_block, client = walkthrough_blocks()
    try:
        shell(certs)
        *before, dockerd_line = daemon_block.splitlines()
        shell("\n".join(before))
        assert dockerd_line == "dockerd --config-file daemon.json &"
        daemon.start_with_config(tmp_path / "daemon.json")
        done = shell(client)
        assert "Server:" in done.stdout and "Engine:" in done.stdout
        # daemon-json kept the local socket: docker on the machine itself still works.
        assert daemon.local().returncode == 0
    finally:
        daemon.close()


def test_the_development_section_says_how_to_run_every_skippable_test() -> None:
    """A README-only reader can run what skips: every setting the tests read and CI sets
    is explained there, and the CI paragraph names each one .ci/run exports."""
    root = README.parent
    section = README.read_text().split("Tests that need more than Python and openssl\n", 1)[1]
    used = set()
    for path in [*root.glob("tests/*.py"), root / ".ci" / "run"]:
        used |= set(re.findall(r"MINIPAAS_(?:TEST|REQUIRE)_[A-Z_]+", path.read_text()))
    used.discard("MINIPAAS_TEST_SEED")  # explained beside test_signals, above
    assert used and all(f"``{name}" in section for name in used), used
    ci = section.split("CI (``.ci/run``", 1)[1]
    exported = re.findall(r"export (MINIPAAS_[A-Z_]+)", (root / ".ci" / "run").read_text())
    assert exported and all(f"``{name}" in ci for name in exported), exported
    assert "``MINIPAAS_REQUIRE_SYSTEM_TESTS=1``: a test whose system part is missing then " \
           "fails instead of skipping" in " ".join(ci.split())

