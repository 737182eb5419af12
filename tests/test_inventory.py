"""`certs show` (inventory.py): what a folder holds, as text and --json."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import certs, load_cert, reissue
from cryptography.hazmat.primitives import hashes

from minipaas_certs.certinfo import read_certificate


def test_show_lists_every_certificate(out: Path, cli) -> None:
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "-q").code == 0
    result = cli("certs", "show", str(out))
    assert result.code == 0
    text = result.out
    for header in ("ca.pem  (ca)", "server-cert.pem  (server)", "client-cert.pem  (client)",
                   "cert.pem  (client)", "clients/ci/cert.pem  (client)"):
        assert header in text
    assert "SANs      DNS:localhost, IP:10.0.0.5, IP:127.0.0.1" in text
    assert "key       ECDSA P-256" in text and "(364 days left)" in text
    fingerprint = load_cert(out / "ca.pem").fingerprint(hashes.SHA256()).hex().upper()
    assert ":".join(fingerprint[i:i + 2] for i in range(0, 64, 2)) in text


def test_show_json_is_stable(out: Path, cli) -> None:
    result = cli("certs", "show", str(out), "--json")
    data = json.loads(result.out)
    assert data["rollover"] is None
    files = [entry["file"] for entry in data["certificates"]]
    assert files == ["ca.pem", "server-cert.pem", "client-cert.pem", "cert.pem"]
    server = data["certificates"][1]
    assert set(server) == {"file", "role", "subject", "issuer", "sans", "extended_key_usage",
                           "key", "serial", "not_before", "not_after", "days_left",
                           "hours_left", "sha256", "subject_dn", "issuer_dn", "chain"}
    assert (server["subject_dn"], server["chain"]) == ("CN=10.0.0.5", [])
    assert server["role"] == "server" and server["extended_key_usage"] == ["serverAuth"]
    assert server["key"] == {"type": "ecdsa", "bits": 256}
    assert server["days_left"] == 364
    assert int(server["serial"], 16) == load_cert(out / "server-cert.pem").serial_number


def test_show_uses_the_environment_default(out: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("MINIPAAS_CERTS_OUT", str(out))
    assert "server-cert.pem" in cli("certs", "show").out


def test_show_of_a_missing_directory(tmp_path: Path, cli) -> None:
    result = cli("certs", "show", str(tmp_path / "none"))
    assert result.code == 6 and "not a directory" in result.error_line


def test_show_names_a_start_in_the_future(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    reissue(out / "client-cert.pem", out, days_ago=-2)
    start = read_certificate(out / "client-cert.pem").not_before
    shown = cli("certs", "show", str(out)).out
    assert (f"(not yet valid: valid only from {start:%Y-%m-%d %H:%M:%S} UTC: is a clock "
            "wrong") in shown, shown
    assert shown.count("not yet valid") == 1  # the others started five minutes ago
