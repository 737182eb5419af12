"""secrets.py: each secret (the CA passphrase, the PKCS#12 password, the engine's token)
from the file its option names, else from the environment, read capped and checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from as_user import ok, tool

from minipaas_certs import secrets
from minipaas_certs.errors import InvalidInput

OUT = "my certs"


def test_a_locked_ca_key_gets_one_exit_code_whatever_the_command(tmp_path: Path) -> None:
    """An encrypted ca-key.pem without its passphrase: ``server``, ``renew --all`` and
    ``rotate-ca start`` exit 5 (a CA problem), ``revoke`` and ``ca/all --force
    --reissue`` exit 2 for the same missing passphrase.  A script (or the README's
    table) cannot tell what went wrong from the code."""
    (tmp_path / "pass").write_text("secret pass\n")
    (tmp_path / "pass").chmod(0o600)
    ok(tmp_path, "all", "--out", OUT, "--ca-passphrase-file", "pass")
    ok(tmp_path, "client", "--out", OUT, "--name", "v", "--ca-passphrase-file", "pass")
    codes = {}
    for command in (["server"], ["renew", "--all"], ["rotate-ca", "start"],
                    ["revoke", "--name", "v"], ["ca", "--force", "--reissue"]):
        done = tool(tmp_path, *command, "--out", OUT, "-q")
        assert done.stderr.count("Error:") == 1, done.stderr
        codes[" ".join(command)] = done.returncode
    assert len(set(codes.values())) == 1, codes


@pytest.mark.parametrize("content", ["abc", "", "two\nlines", "x" * 1024])
def test_bad_passphrase_is_refused(tmp_path: Path, cli, content: str) -> None:
    path = tmp_path / "pass"
    path.write_text(content)
    result = cli("certs", "all", "--out", str(tmp_path / "c"), "--ca-passphrase-file", str(path))
    assert result.code == 2 and "passphrase" in result.error_line
    assert not (tmp_path / "c").exists()


def test_missing_passphrase_file(tmp_path: Path, cli) -> None:
    result = cli("certs", "ca", "--out", str(tmp_path / "c"), "--ca-passphrase-file",
                 str(tmp_path / "nope"))
    assert result.code == 2 and "cannot read" in result.error_line


def _upper(raw: bytes, origin: str) -> bytes:
    return raw.strip().upper()


def test_a_file_named_by_its_option_comes_before_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "s").write_bytes(b"from file\n")
    monkeypatch.setenv("SECRET_OF_THIS_TEST", "from env")
    assert secrets.secret(str(tmp_path / "s"), "--s-file", "SECRET_OF_THIS_TEST",
                          _upper) == b"FROM FILE"
    assert secrets.secret(None, "--s-file", "SECRET_OF_THIS_TEST", _upper) == b"FROM ENV"
    monkeypatch.delenv("SECRET_OF_THIS_TEST")
    assert secrets.secret(None, "--s-file", "SECRET_OF_THIS_TEST", _upper) is None


def test_a_file_that_cannot_be_read_is_refused_naming_the_option(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "fifo")  # refused at once, not waited on
    for name in ("fifo", "missing"):
        with pytest.raises(InvalidInput) as refused:
            secrets.secret(str(tmp_path / name), "--s-file", "SECRET_OF_THIS_TEST", _upper)
        assert str(refused.value).startswith("--s-file: "), refused.value


def test_the_p12_password_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(secrets.P12_PASSWORD_VARIABLE, raising=False)
    with pytest.raises(InvalidInput) as refused:
        secrets.p12_password(None)
    assert "--password-file FILE or the MINIPAAS_P12_PASSWORD" in str(refused.value)


def test_the_vault_token_is_stripped_and_says_where_it_came_from(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text(" s.file \n")
    assert secrets.vault_token(str(tmp_path / "token")) == (
        "s.file", f"--vault-token-file {tmp_path / 'token'}")
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    monkeypatch.setenv("BAO_TOKEN", "s.bao\n")
    assert secrets.vault_token(None) == ("s.bao", "BAO_TOKEN")
    monkeypatch.setenv("VAULT_TOKEN", "s.vault")
    assert secrets.vault_token(None) == ("s.vault", "VAULT_TOKEN")
