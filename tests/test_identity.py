"""identity.py: the role table, Identity, and the one builder of fix commands."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

import minipaas_certs
from minipaas_certs import errors, layout, render
from minipaas_certs.certinfo import OID_CLIENT_AUTH, OID_SERVER_AUTH
from minipaas_certs.identity import (
    CLIENT,
    ROLES,
    SERVER,
    TOP_LEVEL_FILES,
    Identity,
    Role,
    bundles,
    certs_command,
    identities,
    is_tool_path,
    kind_of,
)

PACKAGE = Path(minipaas_certs.__file__).parent
SHIPPED_TEMPLATES = PACKAGE.parent / "templates"


def test_the_table_holds_one_row_per_role() -> None:
    assert ROLES == {"server": SERVER, "client": CLIENT}
    assert [str(role) for role in ROLES.values()] == ["server", "client"]
    assert f"a {SERVER} certificate" == "a server certificate"


def test_the_server_row() -> None:
    assert (SERVER.folder, SERVER.cert, SERVER.key) == ("servers", "server-cert.pem",
                                                        "server-key.pem")
    assert SERVER.bundle_files == ("ca.pem", "server-cert.pem", "server-key.pem")
    assert SERVER.journaled == SERVER.bundle_files
    assert (SERVER.purpose, SERVER.eku_oid, SERVER.eku_name) == ("sslserver", OID_SERVER_AUTH,
                                                                 "serverAuth")
    assert (SERVER.template, SERVER.revoke_option) == ("server.cnf.j2", "--server")
    assert dict(SERVER.cli_copies) == {} and SERVER.keystore is None and SERVER.needs_sans
    assert (SERVER.bundle_user, SERVER.bundle_peers, SERVER.force_over_bundle) == (
        "dockerd on this manager", "clients", False)


def test_the_client_row() -> None:
    assert (CLIENT.folder, CLIENT.cert, CLIENT.key) == ("clients", "client-cert.pem",
                                                        "client-key.pem")
    assert CLIENT.bundle_files == ("ca.pem", "cert.pem", "key.pem")
    assert CLIENT.journaled == ("ca.pem", "cert.pem", "key.pem", "client.p12")
    assert (CLIENT.purpose, CLIENT.eku_oid, CLIENT.eku_name) == ("sslclient", OID_CLIENT_AUTH,
                                                                 "clientAuth")
    assert (CLIENT.template, CLIENT.revoke_option) == ("client.cnf.j2", "--client")
    assert dict(CLIENT.cli_copies) == {"client-cert.pem": "cert.pem",
                                       "client-key.pem": "key.pem"}
    assert CLIENT.keystore == "client.p12" and not CLIENT.needs_sans
    assert (CLIENT.bundle_user, CLIENT.bundle_peers, CLIENT.force_over_bundle) == (
        "the docker CLI", "daemons", True)


@pytest.mark.parametrize("role", list(ROLES.values()), ids=str)
def test_every_name_of_a_role_is_one_layout_writes(role: Role) -> None:
    assert role.template in render.TEMPLATES
    assert (SHIPPED_TEMPLATES / role.template).is_file()
    assert {role.cert, role.key, *role.cli_copies.values()} <= TOP_LEVEL_FILES
    assert all(is_tool_path(f"{role.folder}/ci/{file}") for file in role.journaled)
    assert role.folder in layout.BUNDLE_FOLDERS
    assert [layout.is_key(file) for file in role.bundle_files] == [False, False, True]


def test_the_top_level_pairs() -> None:
    server, client = Identity(SERVER), Identity(CLIENT)
    assert (server.folder, server.cert, server.key, server.ca) == (
        None, "server-cert.pem", "server-key.pem", "ca.pem")
    assert server.files == ("server-cert.pem", "server-key.pem") and server.copies == ()
    assert server.owned == ("server-cert.pem", "server-key.pem")
    assert client.files == ("client-cert.pem", "client-key.pem")
    assert client.copies == ("cert.pem", "key.pem")
    assert client.owned == ("client-cert.pem", "client-key.pem", "cert.pem", "key.pem",
                            "client.p12")
    assert client.file("client.p12") == "client.p12"
    assert (server.label, client.label) == ("server-cert.pem", "client-cert.pem")
    assert server.directory(Path("o")) == Path("o")


def test_the_bundles() -> None:
    manager, ci = Identity(SERVER, "m1"), Identity(CLIENT, "ci")
    assert manager.folder == "servers/m1" and manager.label == "servers/m1"
    assert manager.files == ("servers/m1/ca.pem", "servers/m1/server-cert.pem",
                             "servers/m1/server-key.pem")
    assert (manager.cert, manager.key, manager.ca) == manager.files[1:] + manager.files[:1]
    assert ci.files == ("clients/ci/ca.pem", "clients/ci/cert.pem", "clients/ci/key.pem")
    assert ci.copies == () and ci.owned == ("clients/ci",)
    assert ci.file("client.p12") == "clients/ci/client.p12"
    assert (manager.option, ci.option) == ("--server m1", "--client ci")
    assert Identity(CLIENT).option == "--client-pair"
    assert ci.directory(Path("o")) == Path("o/clients/ci")


@pytest.mark.parametrize("name, found", [
    ("servers/m1/ca.pem", Identity(SERVER, "m1")), ("clients/ci", Identity(CLIENT, "ci")),
    ("clients/ci/client.p12", Identity(CLIENT, "ci")), ("server-key.pem", Identity(SERVER)),
    ("cert.pem", Identity(CLIENT)), ("client.p12", Identity(CLIENT)), ("ca.pem", None),
    ("SHA256SUMS", None), ("other/x", None)])
def test_the_identity_a_name_belongs_to(name: str, found: Identity | None) -> None:
    assert Identity.of(name) == found


def test_the_identities_present(tmp_path: Path) -> None:
    assert identities(tmp_path) == [] and bundles(tmp_path) == []
    (tmp_path / "client-cert.pem").touch()
    for folder in ("servers/m2", "servers/m1", "clients/ci", "clients/UPPER", "servers/.x"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "clients" / "afile").touch()
    assert identities(tmp_path) == [Identity(CLIENT), Identity(SERVER, "m1"),
                                    Identity(SERVER, "m2"), Identity(CLIENT, "ci")]
    assert bundles(tmp_path, CLIENT) == [Identity(CLIENT, "ci")]


def test_pairs_and_bundles() -> None:
    """Moved from test_layout, where layout's pair_files and Bundle were."""
    assert (Identity(SERVER).cert, Identity(SERVER).key) == ("server-cert.pem",
                                                             "server-key.pem")
    assert (Identity(CLIENT).cert, Identity(CLIENT).key) == ("client-cert.pem",
                                                             "client-key.pem")
    assert (Identity(CLIENT, "ci").cert, Identity(CLIENT, "ci").key) == (
        "clients/ci/cert.pem", "clients/ci/key.pem")
    assert (Identity(SERVER, "m1").cert, Identity(SERVER, "m1").key) == (
        "servers/m1/server-cert.pem", "servers/m1/server-key.pem")
    assert Identity.of("clients/ci/cert.pem") == Identity(CLIENT, "ci")
    assert Identity.of("servers/m1/ca.pem") == Identity(SERVER, "m1")
    assert Identity.of("cert.pem") == Identity(CLIENT)  # the top-level pair's copy: no bundle
    assert Identity.of("cert.pem").folder is None  # type: ignore[union-attr]
    assert Identity(SERVER, "m1").files == ("servers/m1/ca.pem", "servers/m1/server-cert.pem",
                                            "servers/m1/server-key.pem")


def test_a_role_knows_its_certificates(certs_dir: Path) -> None:
    from minipaas_certs.certinfo import read_certificate

    server = read_certificate(certs_dir / "server-cert.pem")
    client = read_certificate(certs_dir / "client-cert.pem")
    assert SERVER.fits(server) and not SERVER.fits(client)
    assert CLIENT.fits(client) and not CLIENT.fits(server)
    assert not any(role.fits(read_certificate(certs_dir / "ca.pem")) for role in ROLES.values())
    assert [kind_of(read_certificate(certs_dir / name)) for name in (
        "ca.pem", "server-cert.pem", "client-cert.pem")] == ["ca", "server", "client"]


def test_a_new_file_kind_is_one_row() -> None:
    """A file added to a role's row is one of its bundles' files, journaled in them and
    a name the tool writes, with no other edit."""
    extra = dataclasses.replace(CLIENT, name="robot", folder="robots",
                                bundle_files=(*CLIENT.bundle_files, "extra.pem"))
    bundle = Identity(extra, "r2")
    assert bundle.files == ("robots/r2/ca.pem", "robots/r2/cert.pem", "robots/r2/key.pem",
                            "robots/r2/extra.pem")
    assert (bundle.cert, bundle.key) == ("robots/r2/cert.pem", "robots/r2/key.pem")
    assert "extra.pem" in extra.journaled and extra.journaled[-1] == "client.p12"
    assert is_tool_path("robots/r2/extra.pem", [extra]) and is_tool_path("robots/r2", [extra])
    assert not is_tool_path("robots/r2/extra.pem") and not is_tool_path("clients/r2/extra.pem")
    assert not is_tool_path("robots/r2/other.pem", [extra])


def test_where_files_go_after_a_new_ca() -> None:
    assert [Identity(role).deployment for role in ROLES.values()] == [
        "the daemon of the top-level pair: ca.pem, server-cert.pem, server-key.pem into its "
        "/etc/docker, then restart dockerd", "the default client: ca.pem, cert.pem, key.pem"]
    assert Identity(SERVER, "m1").deployment == (
        "manager m1: servers/m1/ca.pem, servers/m1/server-cert.pem, servers/m1/server-key.pem "
        "into its /etc/docker, then restart dockerd")
    assert Identity(CLIENT, "ci").deployment == \
        "client ci: the folder clients/ci (its DOCKER_CERT_PATH)"


def test_leaves_and_requests_carry_their_role() -> None:
    from minipaas_certs.plan import DAY, KeySpec, LeafSpec, Request

    leaf = LeafSpec("client", "ci", KeySpec.parse("ecdsa"), DAY, bundle="ci")
    assert leaf.role is CLIENT and leaf.identity == Identity(CLIENT, "ci")
    assert leaf == LeafSpec(CLIENT, "ci", KeySpec.parse("ecdsa"), DAY, bundle="ci")
    assert Request("server").role is SERVER and Request(SERVER, "m1").identity == \
        Identity(SERVER, "m1")
    with pytest.raises(KeyError):
        Request("manager")


def test_fix_commands() -> None:
    assert certs_command() == "minipaas certs"
    assert certs_command("client", "--ca-dir") == "minipaas certs client --ca-dir"
    assert certs_command("rotate-ca", "finish", out="/x y") == \
        "minipaas certs rotate-ca finish --out '/x y'"
    assert certs_command("renew", "--all", out="FOLDER", options=[("--ca-dir", "a b"), "",
                                                                   "--force"]) == \
        "minipaas certs renew --all --out FOLDER --ca-dir 'a b' --force"
    assert Identity(SERVER).command(Path("o")) == "minipaas certs server --out o"
    assert Identity(CLIENT, "ci").command("o", verb="renew") == \
        "minipaas certs renew client --out o --name ci"
    assert Identity(SERVER, "m1").command("o", options=["--san 'ITS ADDRESS'"]) == \
        "minipaas certs server --out o --name m1 --san 'ITS ADDRESS'"


@pytest.mark.parametrize("path", ["with space", "it's", "$HOME", "`id`", "new\nline", "tab\t",
                                  "-dash", "ünï"])
def test_hostile_paths_are_quoted_as_errors_quote_does(path: str) -> None:
    command = Identity(CLIENT, "ci").command(path, options=[("--ca-dir", path)])
    assert command == (f"minipaas certs client --out {errors.quote(path)} --name ci "
                       f"--ca-dir {errors.quote(path)}")
    assert command.isprintable()  # one line, whatever the path holds
    words = subprocess.run(["bash", "-c", f'printf "%s\\0" {command}'], capture_output=True,
                           check=True).stdout.split(b"\0")[:-1]
    assert words[4] == words[8] == path.encode()


# What has not moved to the role table / the builder yet: nothing now; keep it empty.
NOT_MOVED: set[str] = set()
ROLE_TEST = re.compile(r"""role\s*[!=]=|[!=]=\s*["'](?:client|server)["']"""
                       r"""|["'](?:client|server)["']\s*[!=]=""")
# The same test under other spellings: a role compared with a row by identity, or looked
# up by its name to be compared.
ROLE_IS_TEST = re.compile(r"""\bis\s+(?:not\s+)?(?:SERVER|CLIENT)\b|ROLES\.get\(.*\)\s+is\b""")
# Strings that say "minipaas certs" and are no fix command, in modules that cannot use the
# builder: cli.py's --help examples (`certs --help` imports no more than it does, see
# test_cli) and layout's .gitignore comment (layout lies below identity).
SPELLED_ELSEWHERE = {"cli", "layout"}


def _modules() -> list[tuple[str, Path]]:
    """Every module of the package, subpackages' too, by its dotted name."""
    return [(".".join(path.relative_to(PACKAGE).with_suffix("").parts), path)
            for path in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in path.parts]


def test_no_module_but_identity_tests_a_role_by_its_name() -> None:
    found = [f"{name}:{number}: {line.strip()}" for name, path in _modules()
             if name not in NOT_MOVED | {"identity"}
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if ROLE_TEST.search(line) or ROLE_IS_TEST.search(line)]
    assert found == []


def _strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module, f-strings' parts included, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def test_fix_commands_are_built_in_one_place() -> None:
    found = [f"{name}:{line}: {text!r}" for name, path in _modules()
             if name not in NOT_MOVED | SPELLED_ELSEWHERE | {"identity"}
             for line, text in _strings(path) if "minipaas certs" in text]
    assert found == []


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    assert ROLE_TEST.search('if role == "server":') and ROLE_TEST.search("x != 'client'")
    assert ROLE_TEST.search('"client" == kind') and ROLE_TEST.search("spec.role==x")
    assert not ROLE_TEST.search("ROLES.get(entry.role) is CLIENT")
    assert ROLE_IS_TEST.search("ROLES.get(entry.role) is CLIENT")
    assert ROLE_IS_TEST.search("if spec.identity.role is SERVER:")
    assert ROLE_IS_TEST.search("role is not CLIENT") and ROLE_IS_TEST.search("x is  SERVER")
    assert not ROLE_IS_TEST.search("role is not bundle.role") and \
        not ROLE_IS_TEST.search("SERVER_CERT is x") and not ROLE_IS_TEST.search("this CLIENT")
    module = tmp_path / "planted.py"
    module.write_text('"""`minipaas certs` in a docstring."""\n\n\ndef f(out: str) -> str:\n'
                      '    """Nor here: minipaas certs."""\n'
                      '    return f"`minipaas certs server --out {out}`"\n')
    assert [text for _, text in _strings(module)] == ["`minipaas certs server --out ", "`"]
