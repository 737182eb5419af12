"""The Click options the commands share, defined once and stacked as decorators.

Also what turns them into values a command needs: the ``Run`` of a command that runs
openssl, the PKI engine the --vault-* options name, the one folder of --out and DIR.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypedDict

import click

from .errors import InvalidInput, OutputError
from .groups import Choice
from .identity import Identity, Role, certs_command
from .layout import CLIENTS_DIR, SERVERS_DIR
from .names import parse_common_name, parse_identity_name, parse_san
from .output import Reporter, list_every_item
from .plan import (
    DEFAULT_CA_DAYS,
    DEFAULT_DAYS,
    DEFAULT_KEY_SIZE,
    DEFAULT_KEY_TYPE,
    DEFAULT_SANS,
    DEFAULT_SERVER_CN,
    KEY_SIZES,
    MAX_DAYS,
    MAX_HOURS,
)
from .secrets import CA_PASSPHRASE, VAULT_TOKEN, ca_passphrase, vault_token

if TYPE_CHECKING:
    from .render import Templates
    from .signers.base import Signer
    from .vault import Engine


def validate(parse: Callable[[str], Any]) -> Callable[..., Any]:
    """A Click callback that validates each value with a ``names`` parser."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        try:
            if isinstance(value, tuple):
                return tuple(str(parse(item)) for item in value)
            return None if value is None else parse(value)
        except InvalidInput as error:
            raise click.BadParameter(str(error), ctx, param) from None

    return callback


def sans_with_environment(ctx: click.Context, param: click.Parameter,
                           value: tuple[str, ...]) -> Any:
    """--san values, or else MINIPAAS_CERTS_SAN as a comma-separated list."""
    if not value:
        listed = os.environ.get("MINIPAAS_CERTS_SAN", "")
        value = tuple(part.strip(" ") for part in listed.split(",") if part.strip(" "))
    return validate(parse_san)(ctx, param, value)


def key_sizes_help() -> str:
    """``ecdsa: 256 (default) or 384; rsa: ...`` from the plan's sizes."""
    def sizes(kind: str) -> str:
        named = [f"{bits} (default)" if bits == DEFAULT_KEY_SIZE[kind] else str(bits)
                 for bits in KEY_SIZES[kind]]
        return ", ".join(named[:-1]) + f" or {named[-1]}"
    return "; ".join(f"{kind}: {sizes(kind)}" for kind in KEY_SIZES
                     if len(KEY_SIZES[kind]) > 1) + "."


def bundle_help(role: Role) -> str:
    """``clients/NAME/{ca.pem,cert.pem,key.pem}``: a bundle's folder and files."""
    bundle = Identity(role, "NAME")
    return f"{bundle.folder}/{{{','.join(Path(name).name for name in bundle.files)}}}"


SERVER_CN_DEFAULT = f"[default: the first SAN, if it is a valid CN, else {DEFAULT_SERVER_CN}]"
# The exit-code table is shown once, under `minipaas certs --help`; each command points there.
EXIT_CODES = f"Exit codes: see `{certs_command('--help')}`."
CHECK_CN = validate(parse_common_name)
DAYS = click.IntRange(1, MAX_DAYS)
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def stack(*decorators: Decorator) -> Decorator:
    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function
    return apply


def not_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An empty --out or DIR would silently mean the working directory."""
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty (use . for the working directory)",
                                 ctx, param)
    return value


out_option = click.option(
    "--out", "out", metavar="DIR", default=".certs", show_default=True,
    envvar="MINIPAAS_CERTS_OUT", type=click.Path(), callback=not_empty,
    help="The certificates' folder [env MINIPAAS_CERTS_OUT].")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
verbose_option = click.option(
    "-v", "--verbose", is_flag=True,
    help="A progress line per certificate, even on a terminal (which otherwise counts "
         "a run of many in one line).")
openssl_option = click.option(
    "--openssl", "openssl_path", metavar="PATH", envvar="MINIPAAS_OPENSSL",
    help="The openssl binary [env MINIPAAS_OPENSSL; default: from PATH].")
# What --ca-passphrase-file does depends on the command: commands that never make a CA
# key must not promise to encrypt one.
PASSPHRASE_NEW_CA = "Encrypt a new CA key (AES-256), or unlock an encrypted one, with"
PASSPHRASE_UNLOCK = "Unlock an encrypted CA key with"
PASSPHRASE_NEXT_CA = ("Unlock the encrypted CA key, and encrypt the new one (AES-256), "
                      "with")


def passphrase_option(does: str) -> Decorator:
    """--ca-passphrase-file, with help that says what it ``does`` for this command."""
    return click.option("--ca-passphrase-file", "passphrase_file", metavar="FILE",
                        default=None, help=CA_PASSPHRASE.help(f"{does} the one line of FILE"))

templates_option = click.option(
    "--templates", "templates", metavar="DIR", envvar="MINIPAAS_TEMPLATES", default=None,
    help="Render configs from your own ca/server/client.cnf.j2 [env MINIPAAS_TEMPLATES; "
         "default: the shipped ones].")
force_option = click.option(
    "--force", is_flag=True,
    help="Replace files that would be refused; old ones go to a backup folder.")
key_options = stack(
    click.option("--key-type", type=Choice(list(KEY_SIZES)),
                 default=DEFAULT_KEY_TYPE, show_default=True, help="Key algorithm."),
    click.option("--key-size", type=int, default=None,
                 help=key_sizes_help()),
)
keep_key_options = stack(
    click.option("--key-type", type=Choice(list(KEY_SIZES)), default=None,
                 help="Key algorithm [default: the current certificate's]."),
    click.option("--key-size", type=int, default=None, help="Key size (see `certs all`)."),
)
rotation_key_options = stack(
    click.option("--key-type", type=Choice(list(KEY_SIZES)), default=None,
                 help=f"Key algorithm [default: {DEFAULT_KEY_TYPE}, or the current "
                      "certificate's when rotating]."),
    click.option("--key-size", type=int, default=None, help=key_sizes_help()),
)
days_option = click.option("--days", type=DAYS, default=DEFAULT_DAYS, show_default=True,
                           help="Validity of server and client certificates.")


def leaf_validity_options(default: str = str(DEFAULT_DAYS)) -> Decorator:
    """--days, or --hours for short-lived credentials; ``default`` says what neither means."""
    return stack(
        click.option("--days", type=DAYS, default=None,
                     help=f"Validity in days [default: {default}]."),
        click.option("--hours", type=click.IntRange(1, MAX_HOURS), default=None,
                     help="Validity in hours instead, for short-lived credentials (CI jobs)."),
    )


ca_days_option = click.option("--ca-days", type=DAYS, default=DEFAULT_CA_DAYS,
                              show_default=True,
                              help="Validity of the CA certificate.")
san_options = stack(
    click.option("--san", "sans", multiple=True, callback=sans_with_environment,
                 help="Server name or IP, bare: no scheme, no port (repeatable; IP:/DNS: "
                      "prefix optional) [env MINIPAAS_CERTS_SAN, comma-separated]."),
    click.option("--no-default-san", is_flag=True,
                 help=f"Leave {' and '.join(DEFAULT_SANS)} out of the server's names."),
)
reissue_option = click.option(
    "--reissue", is_flag=True,
    help=f"With --force: re-issue every other certificate of the previous CA "
         f"({SERVERS_DIR}/*, {CLIENTS_DIR}/*, and the top-level pairs this command does not "
         "make) from the new one, keeping CN, SANs and key type.")
ca_dir_option = click.option(
    "--ca-dir", metavar="DIR", type=click.Path(), default=None, callback=not_empty,
    help="Folder holding ca.pem and ca-key.pem [default: --out].")


def _refuse_ca_dir(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        raise click.UsageError(
            f"{ctx.command_path} takes no --ca-dir: it changes the CA itself, which it can "
            "do only in the folder holding the CA key; run it without --ca-dir to be told "
            "what works for this folder", ctx)


# revoke and rotate-ca change the CA itself: --ca-dir cannot work there.  Hidden, it answers
# an operator who tries it (the other commands take it) instead of "did you mean --ca-days".
no_ca_dir_option = click.option("--ca-dir", hidden=True, expose_value=False,
                                callback=_refuse_ca_dir)


engine_options = stack(
    click.option("--vault-role", "vault_role", metavar="ROLE", default=None,
                 help="Sign through the OpenBao/Vault PKI engine's role ROLE instead of a "
                      "CA key: the key is made here and never leaves."),
    click.option("--vault-server-role", "vault_server_role", metavar="ROLE", default=None,
                 help="The engine role that signs server certificates [default: "
                      "--vault-role]."),
    click.option("--vault-client-role", "vault_client_role", metavar="ROLE", default=None,
                 help="The engine role that signs client certificates [default: "
                      "--vault-role]."),
    click.option("--vault-addr", "vault_addr", metavar="URL",
                 envvar=["VAULT_ADDR", "BAO_ADDR"], default=None,
                 help="The engine's address [env VAULT_ADDR, BAO_ADDR]."),
    click.option("--vault-mount", "vault_mount", default="pki", show_default=True,
                 help="The PKI engine's mount path."),
    click.option("--vault-token-file", "vault_token_file", metavar="FILE", default=None,
                 help=VAULT_TOKEN.help("A file holding the engine's token")),
    click.option("--vault-cacert", "vault_cacert", metavar="FILE", default=None,
                 help="The CA of the engine's own HTTPS [env VAULT_CACERT, BAO_CACERT; "
                      "default: the system's CAs]."),
)


def signing_engine(vault_role: str | None, vault_addr: str | None, vault_mount: str,
                   vault_token_file: str | None, vault_cacert: str | None,
                   ca_dir: str | None = None, option: str = "--vault-role") -> Engine | None:
    """The PKI engine the options name, with the engine role ``vault_role`` (named by
    ``option``), or None (sign with a CA key)."""
    if vault_role is None:
        return None
    if ca_dir:
        raise click.UsageError(f"{option} and --ca-dir cannot be combined: the engine signs")
    if not vault_addr:
        raise click.UsageError(f"{option} needs --vault-addr (or VAULT_ADDR / BAO_ADDR)")
    from .vault import ROLE_NAME

    if not ROLE_NAME.match(vault_role):
        raise InvalidInput(f"{option} {vault_role!r} is not a role name")
    from .files import read_limited
    from .vault import Engine

    token, source = vault_token(vault_token_file)
    cacert_source = "--vault-cacert"
    if vault_cacert is None:  # as the bao and vault CLIs: the variables, first set first
        from .vault import CACERT_SOURCES

        cacert_source, vault_cacert = next(
            ((name, os.environ[name]) for name in CACERT_SOURCES if os.environ.get(name)),
            (cacert_source, None))
    # Read once, capped, before the directory is locked: a FIFO is refused, not waited on.
    try:
        cacert = read_limited(Path(vault_cacert), error=InvalidInput) if vault_cacert else None
    except InvalidInput as error:
        raise InvalidInput(f"{cacert_source}: {error}") from None
    return Engine(vault_addr, vault_mount.strip("/"), vault_role, token, cacert, source,
                  os.environ, cacert_source=cacert_source)


@dataclasses.dataclass(frozen=True)
class SignerOptions:
    """What the options of every signer backend said (``--ca-dir``, ``--vault-*``),
    gathered into one value for a command (``gather(SignerOptions, into="signing")``).
    A new backend adds its options above, its fields here, and its case to
    ``signers.choose``."""

    ca_dir: str | None
    vault_role: str | None
    vault_server_role: str | None
    vault_client_role: str | None
    vault_addr: str | None
    vault_mount: str
    vault_token_file: str | None
    vault_cacert: str | None

    @property
    def names_engine(self) -> bool:
        """Whether an engine role is named: the engine signs."""
        return any(role is not None for role in (self.vault_role, self.vault_server_role,
                                                 self.vault_client_role))

    def signer(self, issues: Sequence[Role]) -> Signer:
        """Who signs, as the options name it: a PKI engine, or the CA in --ca-dir (else in
        --out).  ``issues``: the roles the command may issue; an engine role named for
        another is a usage error (a typo caught, not an option ignored).  Reads the
        engine's token and CA file: called where the command used to read them, so that
        errors come in the same order."""
        from .identity import ROLES
        from .signers import choose

        named = {role: (f"--vault-{role}-role", getattr(self, f"vault_{role}_role"))
                 for role in ROLES.values()}
        for role, (option, value) in named.items():
            if value is not None and role not in issues:
                instead = " or ".join(["--vault-role", *(named[r][0] for r in issues)])
                raise click.UsageError(f"{option} names the engine role for {role} "
                                       "certificates, and this command issues "
                                       f"{' and '.join(map(str, issues))} ones: use {instead}")
        chosen = {role: (option, value) if value is not None else ("--vault-role",
                                                                   self.vault_role)
                  for role, (option, value) in named.items()}
        given = {role: (option, value) for role, (option, value) in chosen.items()
                 if value is not None and role in issues}
        if not given:
            return choose(ca_dir=Path(self.ca_dir) if self.ca_dir else None)
        from .vault import ROLE_NAME

        for option, value in given.values():  # each named by its own option
            if not ROLE_NAME.match(value):
                raise InvalidInput(f"{option} {value!r} is not a role name")
        option, value = next(iter(given.values()))
        engine = signing_engine(value, self.vault_addr, self.vault_mount,
                                self.vault_token_file, self.vault_cacert, self.ca_dir, option)
        assert engine is not None  # a role was named
        return choose(engines={role: dataclasses.replace(engine, role=value)
                               for role, (_, value) in given.items()})


class Keywords(TypedDict):
    """What every operation that runs openssl takes besides openssl itself."""

    passphrase: bytes | None
    templates: Templates
    progress: Callable[[str], None]


class Run:
    """What every command that runs openssl needs: openssl, the CA passphrase, output."""

    def __init__(self, openssl_path: str | None, quiet: bool,
                 passphrase_file: str | None, templates: str | None = None,
                 reads_ca_key: bool = True, verbose: bool = False) -> None:
        from .openssl import OpenSSL
        from .render import Templates

        self.openssl = OpenSSL(openssl_path)
        self.openssl.start_detection()  # overlaps the imports and rendering still to come
        self.templates = Templates.load(Path(templates) if templates else None)
        self.quiet = quiet
        self.passphrase = ca_passphrase(passphrase_file) if reads_ca_key else None
        list_every_item(verbose)
        self._report = reporter(quiet, verbose)

    def progress(self, message: str) -> None:
        self._report(message)

    @property
    def keywords(self) -> Keywords:
        """``operation(run.openssl, ..., **run.keywords)``."""
        return Keywords(passphrase=self.passphrase, templates=self.templates,
                        progress=self.progress)


def gather(options: type[Any], into: str) -> Decorator:
    """Hand a command the values of the options that dataclass ``options`` names as one
    ``options`` (keyword ``into``), and the others as they come."""
    names = [field.name for field in dataclasses.fields(options)]

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def command(*args: Any, **kwargs: Any) -> Any:
            gathered = options(**{name: kwargs.pop(name) for name in names})
            return function(*args, **{into: gathered}, **kwargs)
        return command

    return decorate


def reporter(quiet: bool, verbose: bool = False) -> Callable[[str], None]:
    """Progress lines on stderr (a count for many leaves on a terminal, unless
    ``verbose``), or none with -q."""
    return (lambda _: None) if quiet else Reporter(verbose)


def with_run(*, quiet: bool = True, templates: bool = True,
             passphrase: str | None = PASSPHRASE_UNLOCK,
             usage: Callable[..., object] | None = None) -> Decorator:
    """Add the options of a command that runs openssl (--openssl, and -q, --templates
    and --ca-passphrase-file unless told not) and hand it a ``Run`` made from them.

    ``passphrase`` begins the help of --ca-passphrase-file: what the command does with
    it (``PASSPHRASE_UNLOCK`` for commands that only sign or check with the CA key;
    None for a command that never reads the CA key, which then has no such option).

    ``usage(**options)`` checks how the options combine first, so that a usage
    error is reported before the passphrase or templates are read.
    """

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def command(*args: Any, quiet: bool = True, openssl_path: str | None = None,
                    passphrase_file: str | None = None, templates: str | None = None,
                    verbose: bool = False, **kwargs: Any) -> Any:
            if quiet and verbose:
                raise click.UsageError("-q and -v cannot be combined: -q prints errors and "
                                       "warnings alone, -v every progress line")
            if usage is not None:
                usage(**kwargs)
            run = Run(openssl_path, quiet, passphrase_file, templates, passphrase is not None,
                      verbose)
            return function(*args, run=run, **kwargs)

        extra: list[Decorator] = [quiet_option, verbose_option] if quiet else []
        extra += [templates_option] if templates else []
        extra += [passphrase_option(passphrase)] if passphrase is not None else []
        return stack(*extra, openssl_option)(command)

    return decorate


host_option = click.option("--host", required=True, metavar="HOST[:PORT]",
                           help="The daemon's address as clients reach it (port 2376 "
                                "by default; [v6]:PORT for IPv6).")
name_option = click.option("--name", default=None, callback=validate(parse_identity_name),
                           help="A client bundle from `certs client --name` "
                                "[default: the default client pair].")


def _one_folder(function: Callable[..., Any]) -> Callable[..., Any]:
    """Hand the command the folder --out or DIR names, as ``directory``."""

    @functools.wraps(function)
    def command(*args: Any, out: str, directory: str | None, **kwargs: Any) -> Any:
        folder = folder_to_read(out, directory)
        if not os.path.isdir(folder):
            raise OutputError(f"{folder} is not a directory")
        return function(*args, directory=folder, **kwargs)

    return command


def given(option: str) -> bool:
    """Whether the command line or the environment gave ``option`` (a parameter's name),
    rather than its default."""
    source = click.get_current_context().get_parameter_source(option)
    return source not in (None, click.core.ParameterSource.DEFAULT)


def refuse_through_engine(*options: str) -> None:
    """Options about the CA a command makes, given when an engine signs and none is made."""
    for option in options:
        if given(option):
            raise click.UsageError(f"--{option.replace('_', '-')} is for the CA this command "
                                   "makes; through the engine it makes none")


def made_set(out: str) -> Path:
    """--out of a command that works on a set already made: a missing folder is one error,
    with show's and check's words and exit code (6), and the set to make.  Called where
    the command's usage is checked and nothing is read yet."""
    if not os.path.isdir(out):
        raise OutputError(f"{out} is not a directory: make a set there with "
                          f"`{certs_command('all', out=out)}`")
    return Path(out)


def folder_to_read(out: str, directory: str | None) -> str:
    """DIR (the argument these commands took before --out), else --out: a DIR beside
    an --out given on the command line must name the same folder; --out from
    MINIPAAS_CERTS_OUT, or its default, gives way to DIR."""
    if directory is None:
        return out
    source = click.get_current_context().get_parameter_source("out")
    if source == click.core.ParameterSource.COMMANDLINE and not _same_folder(out, directory):
        raise click.UsageError(f"DIR {directory} and --out {out} name different folders: "
                               "give one")
    return directory


def _same_folder(one: str, other: str) -> bool:
    if os.path.abspath(one) == os.path.abspath(other):
        return True
    try:
        return os.path.samefile(one, other)
    except OSError:  # either is missing: the command says so
        return False


# The commands that read a folder (show, check, doctor, verify-sums) take --out like
# every other, and still the DIR they took first.
folder_options = stack(
    click.option("--out", "out", metavar="DIR", default=".certs", show_default=True,
                 envvar="MINIPAAS_CERTS_OUT", type=click.Path(), callback=not_empty,
                 help="The folder to read; a DIR argument is the same "
                      "[env MINIPAAS_CERTS_OUT]."),
    click.argument("directory", required=False, metavar="[DIR]", callback=not_empty),
    _one_folder,
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
KEEP_BACKUPS = "MINIPAAS_KEEP_BACKUPS"


def retention_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """--keep-backups N: once the command's change is in place, remove --out's backup
    folders beyond the newest N (``certs prune --keep N``: its own journaled commit;
    a crash between the two leaves one backup more, which the next run removes)."""

    @click.option("--keep-backups", "keep_backups", type=click.IntRange(0, None),
                  default=None, envvar=KEEP_BACKUPS, metavar="N",
                  help="Then keep only the newest N backup folders, as `certs prune "
                       f"--keep N` does [env {KEEP_BACKUPS}; default: keep all].")
    @functools.wraps(function)
    def command(*args: Any, keep_backups: int | None, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        if keep_backups is not None:
            from .prune import backups, prune

            out = Path(kwargs["out"])
            if len(backups(out)[0]) > keep_backups:  # else no need to take the lock
                report = reporter(bool(kwargs.get("quiet")))
                for name in prune(out, keep=keep_backups, progress=report).removed:
                    report(f"Removed the backup folder {out / name} (--keep-backups "
                           f"{keep_backups})")
        return result

    return command

