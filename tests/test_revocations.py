"""revocations.py: the record of revoked identities, read strictly, written whole."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from conftest import run_tool

from minipaas_certs.certinfo import read_certificate
from minipaas_certs.errors import OutputError
from minipaas_certs.layout import Bundle
from minipaas_certs.revocations import Revocation, read, render


def test_a_record_reads_back_as_written(tmp_path: Path) -> None:
    assert read(tmp_path) == []  # no record yet
    assert run_tool("certs", "all", "--out", str(tmp_path), "-q").returncode == 0
    certificate = read_certificate(tmp_path / "cert.pem")
    moment = datetime.datetime(2026, 11, 27, 12, 0, 1, 500, tzinfo=datetime.timezone.utc)
    entry = Revocation.of(Bundle("client", "ci"), certificate, moment)
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
