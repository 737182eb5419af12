"""`--json` of the commands that write: one document on stdout, what was written and
each bundle touched, checked against the files on disk; progress stays on stderr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from minipaas_certs.certinfo import read_certificates


def _document(result: Any) -> dict[str, Any]:
    assert result.code == 0, result.err
    document: dict[str, Any] = json.loads(result.out)
    return document


def _bundles_match_disk(out: Path, document: dict[str, Any]) -> None:
    """Each bundle named is a certificate on disk with that CN, and was written."""
    written = set(document["written"])
    assert all(Path(path).is_file() for path in written)
    for bundle in document["bundles"]:
        path = out / bundle["file"]
        assert str(path) in written
        assert read_certificates(path)[0].subject_cn == bundle["common_name"]


def test_all_json(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    document = _document(cli("certs", "all", "--out", str(out), "--json"))
    assert document["schema"] == 1 and document["directory"] == str(out)
    assert document["changed"] is True
    assert document["bundles"] == [
        {"role": "server", "bundle": None, "file": "server-cert.pem",
         "common_name": "localhost"},
        {"role": "client", "bundle": None, "file": "client-cert.pem", "common_name": "client"}]
    assert str(out / "ca.pem") in document["written"]
    assert document["revoked"] == [] and document["backup"] is None
    _bundles_match_disk(out, document)


def test_server_and_client_json_name_their_bundles(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    cli("certs", "all", "--out", str(out))
    server = _document(cli("certs", "server", "--out", str(out), "--name", "m1", "--san",
                           "10.0.0.11", "--json"))
    assert [(b["role"], b["bundle"], b["file"]) for b in server["bundles"]] == [
        ("server", "m1", "servers/m1/server-cert.pem")]
    _bundles_match_disk(out, server)
    client = _document(cli("certs", "client", "--out", str(out), "--name", "ci", "--name",
                           "alice", "--json"))
    assert [(b["role"], b["bundle"], b["file"], b["common_name"]) for b in client["bundles"]] == [
        ("client", "alice", "clients/alice/cert.pem", "alice"),
        ("client", "ci", "clients/ci/cert.pem", "ci")]
    assert sorted(client["written"]) == sorted(str(p) for p in (
        out / "clients/alice/ca.pem", out / "clients/alice/cert.pem",
        out / "clients/alice/key.pem", out / "clients/ci/ca.pem", out / "clients/ci/cert.pem",
        out / "clients/ci/key.pem", out / "SHA256SUMS"))
    _bundles_match_disk(out, client)


def test_renew_of_one_pair_json_with_quiet(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    cli("certs", "all", "--out", str(out))
    result = cli("certs", "renew", "client", "--out", str(out), "--json", "-q")
    document = _document(result)
    assert result.err == ""  # -q: no progress; stdout is the document alone
    assert document["changed"] is True
    assert [(b["role"], b["bundle"]) for b in document["bundles"]] == [("client", None)]
    _bundles_match_disk(out, document)


def test_revoke_json_names_the_revoked_and_the_backup(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    cli("certs", "all", "--out", str(out))
    cli("certs", "client", "--out", str(out), "--name", "ci")
    result = cli("certs", "revoke", "--out", str(out), "--name", "ci", "--json")
    document = _document(result)
    assert "Revoked clients/ci" in result.err  # the progress stays on stderr
    recorded = json.loads((out / "revoked.json").read_text())
    [revoked] = document["revoked"]
    assert revoked["role"] == "client" and revoked["name"] == "ci"
    assert revoked["serial"] in json.dumps(recorded)
    backup = Path(document["backup"])
    assert backup.parent == out and (backup / "clients/ci/cert.pem").is_file()
    assert not (out / "clients/ci").exists()
    assert [(b["role"], b["bundle"]) for b in document["bundles"]] == [
        ("server", None), ("client", None)]
    _bundles_match_disk(out, document)


def test_an_error_with_json_prints_no_document(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    cli("certs", "all", "--out", str(out))
    result = cli("certs", "revoke", "--out", str(out), "--name", "nobody", "--json")
    assert result.code != 0 and result.out == ""
    assert result.err.count("Error: ") == 1
    result = cli("certs", "client", "--out", str(tmp_path / "none"), "--name", "ci", "--json")
    assert result.code != 0 and result.out == ""
    assert result.err.startswith("Error: ")


def test_rotate_ca_start_and_finish_json(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    cli("certs", "all", "--out", str(out))
    result = cli("certs", "rotate-ca", "start", "--out", str(out), "--json", "-q")
    start = _document(result)
    assert result.err == ""
    assert start["schema"] == 1 and start["directory"] == str(out) and start["changed"] is True
    assert {str(out / name) for name in ("ca.pem", "ca-key.pem", "ca-old.pem",
                                         "ca-old-key.pem")} <= set(start["written"])
    assert len(read_certificates(out / "ca.pem")) == 2 and start["bundles"] == []
    cli("certs", "renew", "--all", "--within", "100%", "--out", str(out))
    finish = _document(cli("certs", "rotate-ca", "finish", "--out", str(out), "--json"))
    assert finish["written"] == [str(out / "ca.pem"), str(out / "SHA256SUMS")]
    assert len(read_certificates(out / "ca.pem")) == 1 and not (out / "ca-old.pem").exists()


def test_verify_sums_json_matches_and_problems(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    cli("certs", "all", "--out", str(out))
    listed = len((out / "SHA256SUMS").read_text().splitlines())
    ok = _document(cli("certs", "verify-sums", "--out", str(out), "--json"))
    assert ok == {"schema": 1, "directory": str(out), "sums": "SHA256SUMS", "ok": True,
                  "matched": listed, "problems": []}
    with open(out / "server-cert.pem", "a") as damaged:
        damaged.write("x\n")
    result = cli("certs", "verify-sums", "--out", str(out), "--json")
    assert result.code == 8
    bad = json.loads(result.out)
    assert bad["ok"] is False and bad["matched"] == listed - 1
    assert [problem["file"] for problem in bad["problems"]] == ["server-cert.pem"]


def test_verify_sums_json_on_a_handed_over_bundle(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    cli("certs", "all", "--out", str(out))
    cli("certs", "server", "--out", str(out), "--name", "m1", "--san", "10.0.0.11")
    bundle = out / "servers" / "m1"
    document = _document(cli("certs", "verify-sums", "--out", str(bundle), "--sums",
                             str(out / "SHA256SUMS"), "--json"))
    assert document["ok"] is True and document["problems"] == []
    assert document["matched"] == 2 and len(document["checked"]) == 3
    plain = _document(cli("certs", "verify-sums", "--out", str(bundle), "--json"))
    assert plain["sums"] is None and plain["matched"] is None


def test_verify_sums_error_with_json_prints_no_document(tmp_path: Path, cli) -> None:
    result = cli("certs", "verify-sums", "--out", str(tmp_path / "none"), "--json")
    assert result.code != 0 and result.out == ""
    assert result.err.startswith("Error: ") and result.err.count("\n") == 1
