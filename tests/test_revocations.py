"""revocations.py: the record of revoked identities, read strictly, written whole."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from conftest import run_tool

from minipaas_certs.certinfo import read_certificate
from minipaas_certs.errors import OutputError
from minipaas_certs.identity import CLIENT, Identity
from minipaas_certs.plan import successor_cn
from minipaas_certs.revocations import Revocation, read, render


def test_a_record_reads_back_as_written(tmp_path: Path) -> None:
    assert read(tmp_path) == []  # no record yet
    assert run_tool("certs", "all", "--out", str(tmp_path), "-q").returncode == 0
    certificate = read_certificate(tmp_path / "cert.pem")
    moment = datetime.datetime(2026, 11, 27, 12, 0, 1, 500, tzinfo=datetime.timezone.utc)
    entry = Revocation.of(Identity(CLIENT, "ci"), certificate, moment)
    assert entry.serial == f"{certificate.serial:x}" and entry.revoked_at.endswith(":01+00:00")
    (tmp_path / "revoked.json").write_bytes(render([entry, entry]))
    assert read(tmp_path) == [entry, entry]
    assert "clients/ci  CN=client  serial" in entry.line()


@pytest.mark.parametrize("text", [
    "", "[]", "{}", '{"version": 2, "revoked": []}', '{"version": 1}',
    '{"version": 1, "revoked": [{"name": "x"}]}',
    '{"version": 1, "revoked": [{"role": "client", "name": "x", "common_name": "x", '
    '"serial": "1", "sha256": "", "issuer": "", "not_after": "", "revoked_at": "", '
    '"extra": 1}]}',
    '{"version": 1, "revoked": [{"role": "bogus", "name": "x", "common_name": "x", '
    '"serial": "1", "sha256": "", "issuer": "", "not_after": "", "revoked_at": ""}]}',
    '{"version": 1, "revoked": [{"role": "client", "name": "a\\nb", "common_name": "x", '
    '"serial": "1", "sha256": "", "issuer": "", "not_after": "", "revoked_at": ""}]}',
    '{"version": 1, "revoked": [{"role": "client", "name": "a", "common_name": "\\u001b[2J", '
    '"serial": "1", "sha256": "", "issuer": "", "not_after": "", "revoked_at": ""}]}',
])
def test_a_record_this_tool_did_not_write_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "revoked.json").write_text(text)
    with pytest.raises(OutputError, match="not a revocation record this tool wrote"):
        read(tmp_path)


def _ca_cn(folder: Path) -> str:
    return read_certificate(folder / "ca.pem").subject_cn or ""


def test_every_new_ca_gets_a_name_of_its_own(tmp_path: Path) -> None:
    """Two revocations and a rollover in a row, within seconds: three CNs, each the
    first one's with one UTC stamp (doctor's messages and Go's errors name them)."""
    out = tmp_path / "certs"
    for args in (["all", "--ca-cn", "Ops CA"], ["client", "--name", "a", "--name", "b"]):
        assert run_tool("certs", *args, "--out", str(out), "-q").returncode == 0
    names = [_ca_cn(out)]
    for args in (["revoke", "--name", "a"], ["revoke", "--name", "b"],
                 ["rotate-ca", "start"]):
        assert run_tool("certs", *args, "--out", str(out), "-q").returncode == 0
        names.append(_ca_cn(out))
    assert len(set(names)) == 4, names
    for name in names[1:]:
        assert re.fullmatch(r"Ops CA \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", name), name


def test_a_successor_name_never_repeats_the_old_one() -> None:
    moment = datetime.datetime(2026, 12, 7, 21, 30, 5, tzinfo=datetime.timezone.utc)
    assert successor_cn("Ops CA 2026-12-07", moment) == "Ops CA 2026-12-07 21:30:05Z"
    assert successor_cn("Ops CA 2026-12-07 21:30:05Z", moment) == "Ops CA 2026-12-07 21:30:06Z"
    assert successor_cn("Ops CA 2026-12-07 21:30:09Z", moment) == "Ops CA 2026-12-07 21:30:10Z"
    assert successor_cn("Ops CA 2026-12-06 23:59:59Z", moment) == "Ops CA 2026-12-07 21:30:05Z"
    assert successor_cn(None, moment) == "minipaas-ca 2026-12-07 21:30:05Z"
    long = successor_cn("x" * 64, moment)
    assert len(long) == 64 and long.endswith(" 2026-12-07 21:30:05Z")
