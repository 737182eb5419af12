"""The ``minipaas certs`` commands: thin Click commands over the core modules.

Loaded only when a command runs (``cli`` lists them without importing this), and
each command imports the core it needs, so start-up stays close to click's own.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import click

from .errors import InvalidInput
from .layout import CLIENTS_DIR, SERVERS_DIR, SUMS_FILE, Bundle
from .names import parse_common_name, parse_identity_name, parse_passphrase, parse_san
from .output import progress, say, say_line
from .plan import (
    DEFAULT_CA_CN,
    DEFAULT_CA_DAYS,
    DEFAULT_CLIENT_CN,
    DEFAULT_DAYS,
    DEFAULT_KEY_SIZE,
    DEFAULT_KEY_TYPE,
    DEFAULT_SANS,
    DEFAULT_SERVER_CN,
    DEFAULT_WARN_DAYS,
    KEY_SIZES,
    MAX_DAYS,
    MAX_HOURS,
    MAX_WARN_DAYS,
    chosen_lifetime,
)

if TYPE_CHECKING:  # commands import the core only when they run
    from .generate import Outcome


def _check(parse: Callable[[str], Any]) -> Callable[..., Any]:
    """A Click callback that validates each value with a ``names`` parser."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        try:
            if isinstance(value, tuple):
                return tuple(str(parse(item)) for item in value)
            return None if value is None else parse(value)
        except InvalidInput as error:
            raise click.BadParameter(str(error), ctx, param) from None

    return callback


def refuse_repeated_options(command: click.Command, ctx: click.Context, name: str | None,
                            args: Sequence[str]) -> None:
    """Click keeps the last value of an option given twice: ``server --name m1 --name m2``
    would quietly issue m2 alone.  An option that takes one value, given more than once,
    is a usage error instead (exit 2).  Flags (saying one twice says the same) and
    repeatable options may repeat; a default from the environment is not a repetition.

    Run by each group on its subcommand's arguments before they are parsed, so that
    every command, and every option added to one, is covered.
    """
    if isinstance(command, click.Group) or ctx.resilient_parsing:
        return  # a group's subcommand is checked by that group
    single = [param for param in command.params if isinstance(param, click.Option)
              and not (param.multiple or param.is_flag or param.count)]
    if not single:
        return
    context = click.Context(command, info_name=name, parent=ctx, **command.context_settings)
    parser = command.make_parser(context)
    # For this parse only, each such option collects its values, to name them (the
    # parser's table is internal to click: without it, the message names none).
    table = {**getattr(parser, "_long_opt", {}), **getattr(parser, "_short_opt", {})}
    for option in table.values():
        if getattr(option, "obj", None) in single and getattr(option, "action", "") == "store":
            option.action = "append"
    try:
        values, _, order = parser.parse_args(args=list(args))
    except click.UsageError:
        return  # the command's own parse reports it
    for param in single:
        count = sum(1 for seen in order if seen is param)
        if count > 1:
            given = values.get(param.name or "")
            listed = f" ({', '.join(map(str, given))})" if isinstance(given, list) else ""
            times = "twice" if count == 2 else f"{count} times"
            raise click.UsageError(f"{max(param.opts, key=len)} given {times}{listed}: give "
                                   "it once", context)


def _sans_with_environment(ctx: click.Context, param: click.Parameter,
                           value: tuple[str, ...]) -> Any:
    """--san values, or else MINIPAAS_CERTS_SAN as a comma-separated list."""
    if not value:
        listed = os.environ.get("MINIPAAS_CERTS_SAN", "")
        value = tuple(part.strip(" ") for part in listed.split(",") if part.strip(" "))
    return _check(parse_san)(ctx, param, value)


def _key_sizes_help() -> str:
    """``ecdsa: 256 (default) or 384; rsa: ...`` from the plan's sizes."""
    def sizes(kind: str) -> str:
        named = [f"{bits} (default)" if bits == DEFAULT_KEY_SIZE[kind] else str(bits)
                 for bits in KEY_SIZES[kind]]
        return ", ".join(named[:-1]) + f" or {named[-1]}"
    return "; ".join(f"{kind}: {sizes(kind)}" for kind in KEY_SIZES
                     if len(KEY_SIZES[kind]) > 1) + "."


def _bundle_help(role: str) -> str:
    """``clients/NAME/{ca.pem,cert.pem,key.pem}``: a bundle's folder and files."""
    bundle = Bundle(role, "NAME")
    return f"{bundle.folder}/{{{','.join(Path(name).name for name in bundle.files)}}}"


SERVER_CN_DEFAULT = f"[default: the first SAN, if it is a valid CN, else {DEFAULT_SERVER_CN}]"
# The exit-code table is shown once, under `minipaas certs --help`; each command points there.
EXIT_CODES = "Exit codes: see `minipaas certs --help`."
CHECK_CN = _check(parse_common_name)
DAYS = click.IntRange(1, MAX_DAYS)
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _options(*decorators: Decorator) -> Decorator:
    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function
    return apply


def _not_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An empty --out or DIR would silently mean the working directory."""
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty (use . for the working directory)",
                                 ctx, param)
    return value


out_option = click.option(
    "--out", "out", default=".certs", show_default=True, envvar="MINIPAAS_CERTS_OUT",
    type=click.Path(), callback=_not_empty, help="Output directory [env MINIPAAS_CERTS_OUT].")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
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
                        default=None, help=f"{does} the one line of FILE "
                                           "[env MINIPAAS_CA_PASSPHRASE].")

templates_option = click.option(
    "--templates", "templates", metavar="DIR", envvar="MINIPAAS_TEMPLATES", default=None,
    help="Render configs from your own ca/server/client.cnf.j2 [env MINIPAAS_TEMPLATES; "
         "default: the shipped ones].")
force_option = click.option(
    "--force", is_flag=True,
    help="Replace files that would be refused; old ones go to a backup folder.")
key_options = _options(
    click.option("--key-type", type=click.Choice(list(KEY_SIZES)),
                 default=DEFAULT_KEY_TYPE, show_default=True, help="Key algorithm."),
    click.option("--key-size", type=int, default=None,
                 help=_key_sizes_help()),
)
keep_key_options = _options(
    click.option("--key-type", type=click.Choice(list(KEY_SIZES)), default=None,
                 help="Key algorithm [default: the current certificate's]."),
    click.option("--key-size", type=int, default=None, help="Key size (see `certs all`)."),
)
rotation_key_options = _options(
    click.option("--key-type", type=click.Choice(list(KEY_SIZES)), default=None,
                 help=f"Key algorithm [default: {DEFAULT_KEY_TYPE}, or the current "
                      "certificate's when rotating]."),
    click.option("--key-size", type=int, default=None, help=_key_sizes_help()),
)
days_option = click.option("--days", type=DAYS, default=DEFAULT_DAYS, show_default=True,
                           help="Validity of server and client certificates.")


def leaf_validity_options(default: str = str(DEFAULT_DAYS)) -> Decorator:
    """--days, or --hours for short-lived credentials; ``default`` says what neither means."""
    return _options(
        click.option("--days", type=DAYS, default=None,
                     help=f"Validity in days [default: {default}]."),
        click.option("--hours", type=click.IntRange(1, MAX_HOURS), default=None,
                     help="Validity in hours instead, for short-lived credentials (CI jobs)."),
    )


ca_days_option = click.option("--ca-days", type=DAYS, default=DEFAULT_CA_DAYS,
                              show_default=True,
                              help="Validity of the CA certificate.")
san_options = _options(
    click.option("--san", "sans", multiple=True, callback=_sans_with_environment,
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
    "--ca-dir", type=click.Path(), default=None, callback=_not_empty,
    help="Folder holding ca.pem and ca-key.pem [default: --out].")


engine_options = _options(
    click.option("--vault-role", "vault_role", metavar="ROLE", default=None,
                 help="Sign through the OpenBao/Vault PKI engine's role ROLE instead of a "
                      "CA key: the key is made here and never leaves."),
    click.option("--vault-addr", "vault_addr", metavar="URL",
                 envvar=["VAULT_ADDR", "BAO_ADDR"], default=None,
                 help="The engine's address [env VAULT_ADDR, BAO_ADDR]."),
    click.option("--vault-mount", "vault_mount", default="pki", show_default=True,
                 help="The PKI engine's mount path."),
    click.option("--vault-token-file", "vault_token_file", metavar="FILE", default=None,
                 help="A file holding the token [default: env VAULT_TOKEN or BAO_TOKEN]."),
    click.option("--vault-cacert", "vault_cacert", metavar="FILE", envvar="VAULT_CACERT",
                 default=None, help="The CA of the engine's own HTTPS [env VAULT_CACERT]."),
)


def _engine(vault_role: str | None, vault_addr: str | None, vault_mount: str,
            vault_token_file: str | None, vault_cacert: str | None,
            ca_dir: str | None = None) -> Any:
    """The PKI engine the options name, or None (sign with a CA key)."""
    if vault_role is None:
        return None
    if ca_dir:
        raise click.UsageError("--vault-role and --ca-dir cannot be combined: the engine signs")
    if not vault_addr:
        raise click.UsageError("--vault-role needs --vault-addr (or VAULT_ADDR / BAO_ADDR)")
    from .files import MAX_SMALL_BYTES, read_limited
    from .vault import Engine

    if vault_token_file is not None:
        raw = read_limited(Path(vault_token_file), MAX_SMALL_BYTES, error=InvalidInput)
        token = raw.decode("utf-8", "replace").strip()
        source = f"--vault-token-file {vault_token_file}"
    else:
        source = "VAULT_TOKEN" if os.environ.get("VAULT_TOKEN") else "BAO_TOKEN"
        token = os.environ.get(source, "").strip()
    # Read once, capped, before the directory is locked: a FIFO is refused, not waited on.
    try:
        cacert = read_limited(Path(vault_cacert), error=InvalidInput) if vault_cacert else None
    except InvalidInput as error:
        raise InvalidInput(f"--vault-cacert: {error}") from None
    return Engine(vault_addr, vault_mount.strip("/"), vault_role, token, cacert, source,
                  os.environ)


def _signer(ca_dir: str | None, engine: dict[str, Any]) -> Any:
    """Who signs, as the options name it: a PKI engine, or the CA in --ca-dir (else in
    --out)."""
    from .signers import choose

    return choose(ca_dir=Path(ca_dir) if ca_dir else None,
                  engine=_engine(ca_dir=ca_dir, **engine))


class Run:
    """What every command that runs openssl needs: openssl, the CA passphrase, output."""

    def __init__(self, openssl_path: str | None, quiet: bool,
                 passphrase_file: str | None, templates: str | None = None,
                 reads_ca_key: bool = True) -> None:
        from .openssl import OpenSSL
        from .render import Templates

        self.openssl = OpenSSL(openssl_path)
        self.openssl.start_detection()  # overlaps the imports and rendering still to come
        self.templates = Templates.load(Path(templates) if templates else None)
        self.quiet = quiet
        self.passphrase = _passphrase(passphrase_file) if reads_ca_key else None

    def progress(self, message: str) -> None:
        _reporter(self.quiet)(message)

    @staticmethod
    def written(paths: Sequence[Path]) -> None:
        for path in paths:
            say_line(str(path))

    @classmethod
    def report(cls, outcome: Outcome) -> None:
        """The files written on stdout; on stderr, even with -q (they need a person), the
        identities the run could not carry over."""
        cls.written(outcome.written)
        for line in (*outcome.warnings(), *outcome.advice):
            progress(line)


def _reporter(quiet: bool) -> Callable[[str], None]:
    """Progress lines on stderr, or none with -q."""
    return (lambda _: None) if quiet else progress


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
                    **kwargs: Any) -> Any:
            if usage is not None:
                usage(**kwargs)
            run = Run(openssl_path, quiet, passphrase_file, templates, passphrase is not None)
            return function(*args, run=run, **kwargs)

        extra: list[Decorator] = [quiet_option] if quiet else []
        extra += [templates_option] if templates else []
        extra += [passphrase_option(passphrase)] if passphrase is not None else []
        return _options(*extra, openssl_option)(command)

    return decorate


def _secret(file: str | None, option: str, variable: str,
            parse: Callable[[bytes, str], bytes]) -> bytes | None:
    """A secret from the file ``option`` names (a regular file of bounded size), else
    from the environment ``variable``, else None; ``parse`` checks it."""
    if file is not None:
        from .files import MAX_SMALL_BYTES, read_limited

        try:
            return parse(read_limited(Path(file), MAX_SMALL_BYTES, error=InvalidInput), file)
        except InvalidInput as error:
            raise InvalidInput(f"{option}: {error}") from None
    value = os.environ.get(variable)
    return None if value is None else parse(os.fsencode(value), variable)


def _passphrase(file: str | None) -> bytes | None:
    """The CA passphrase from --ca-passphrase-file, else MINIPAAS_CA_PASSPHRASE, else None."""
    return _secret(file, "--ca-passphrase-file", "MINIPAAS_CA_PASSPHRASE", parse_passphrase)


P12_PASSWORD_VARIABLE = "MINIPAAS_P12_PASSWORD"


def _p12_password(file: str | None) -> bytes:
    """The PKCS#12 password from --password-file, else MINIPAAS_P12_PASSWORD; required."""
    from .names import parse_p12_password

    password = _secret(file, "--password-file", P12_PASSWORD_VARIABLE, parse_p12_password)
    if password is None:
        raise InvalidInput(f"give the PKCS#12 password with --password-file FILE or the "
                           f"{P12_PASSWORD_VARIABLE} environment variable")
    return password


def _client_usage(names: Sequence[str], cn: str | None, days: int | None, hours: int | None,
                  **_: Any) -> None:
    if names and cn:
        raise click.UsageError("--cn and --name cannot be combined: a bundle's CN is its name")
    chosen_lifetime(days, hours)


def _renew_usage(role: str | None, every: bool, name: str | None, sans: Sequence[str],
                 key_type: str | None, key_size: int | None, within: int | None,
                 as_json: bool, days: int | None, hours: int | None, **_: Any) -> None:
    if every and (role or name or sans or key_type):
        raise click.UsageError("--all renews every pair as it is: it takes no ROLE, --name, "
                               "--san or --key-type")
    if not every and (within is not None or as_json):
        raise click.UsageError("--within and --json go with --all")
    chosen_lifetime(days, hours)
    if not every and not role:
        raise click.UsageError("say what to renew: server, client, or --all")


def _key(key_type: str, key_size: int | None) -> Any:
    from .plan import KeySpec

    return KeySpec.parse(key_type, key_size)


@click.command("all", epilog=EXIT_CODES)
@out_option
@san_options
@click.option("--ca-cn", callback=CHECK_CN, default=DEFAULT_CA_CN, show_default=True,
              help="Common name of the CA.")
@click.option("--server-cn", callback=CHECK_CN, default=None,
              help=f"Common name of the server certificate {SERVER_CN_DEFAULT}.")
@click.option("--client-cn", callback=CHECK_CN, default=DEFAULT_CLIENT_CN,
              show_default=True,
              help="Common name of the client certificate.")
@key_options
@days_option
@ca_days_option
@force_option
@reissue_option
@with_run(passphrase=PASSPHRASE_NEW_CA)
def all_command(out: str, sans: Sequence[str], no_default_san: bool, ca_cn: str,
                server_cn: str | None, client_cn: str, key_type: str, key_size: int | None,
                days: int, ca_days: int, force: bool, reissue: bool, run: Run) -> None:
    """A new CA, a server pair and a client pair: the set for a new cluster.

    With --force over an existing set, the bundles of the previous CA
    (servers/*, clients/*) no longer verify: add --reissue to re-issue them from
    the new CA in the same step, each keeping its CN, SANs and key type.
    """
    from .generate import generate
    from .plan import CASpec, Plan, client_leaves, server_leaf
    from .signers import choose

    key, lifetime = _key(key_type, key_size), chosen_lifetime(days)
    plan = Plan(choose(new_ca=CASpec(ca_cn, key, ca_days)), force=force, reissue=reissue,
                leaves=(server_leaf(server_cn, sans, not no_default_san, key, lifetime),
                        *client_leaves(client_cn, (), key, lifetime)))
    run.report(generate(run.openssl, Path(out), plan, passphrase=run.passphrase,
                         templates=run.templates, progress=run.progress))


@click.command("ca", epilog=EXIT_CODES)
@out_option
@click.option("--cn", callback=CHECK_CN, default=DEFAULT_CA_CN, show_default=True,
              help="Common name of the CA.")
@key_options
@ca_days_option
@force_option
@reissue_option
@with_run(passphrase=PASSPHRASE_NEW_CA)
def ca_command(out: str, cn: str, key_type: str, key_size: int | None, ca_days: int,
               force: bool, reissue: bool, run: Run) -> None:
    """A new CA alone (ca.pem, ca-key.pem); never replaces one without --force.

    With --force --reissue, every server and client certificate of the previous CA
    is re-issued from the new one in the same step.
    """
    from .generate import generate
    from .plan import CASpec, Plan
    from .signers import choose

    plan = Plan(choose(new_ca=CASpec(cn, _key(key_type, key_size), ca_days)), force=force,
                reissue=reissue)
    run.report(generate(run.openssl, Path(out), plan, passphrase=run.passphrase,
                         templates=run.templates, progress=run.progress))


@click.command("server", epilog=EXIT_CODES)
@out_option
@ca_dir_option
@san_options
@click.option("--cn", callback=CHECK_CN, default=None,
              help=f"Common name {SERVER_CN_DEFAULT}; Go ignores it, SANs count.")
@click.option("--name", default=None, callback=_check(parse_identity_name),
              help=f"Write the manager's bundle {_bundle_help('server')} instead of the "
                   "top-level pair.")
@rotation_key_options
@leaf_validity_options(default=f"{DEFAULT_DAYS}, or the current certificate's when rotating")
@click.option("--force", is_flag=True,
              help="Drop names the current certificate has that --san/--cn/--no-default-san "
                   "leave out; replace a pair that cannot be read.")
@engine_options
@with_run(usage=lambda days, hours, **_: chosen_lifetime(days, hours))
def server_command(out: str, ca_dir: str | None, sans: Sequence[str], no_default_san: bool,
                   cn: str | None, name: str | None, key_type: str | None,
                   key_size: int | None, days: int | None, hours: int | None, force: bool,
                   run: Run, **engine: Any) -> None:
    """A server pair from the CA: server-cert.pem, server-key.pem.

    \b
    One per Swarm manager, each in its own bundle (the three files its
    /etc/docker needs, under the names daemon.json uses):
      minipaas certs server --out .certs --name m1 --san 10.0.0.11

    Running it again is rotation: the new certificate keeps the current one's CN,
    SANs, key type and validity unless options name others, and the previous pair
    goes to a backup folder.  Options that would drop a current name are refused
    (exit 2) unless --force: `minipaas certs server --out .certs` renews the pair as
    it is, like `minipaas certs renew server --out .certs`.
    """
    from .generate import generate
    from .plan import Plan

    plan = Plan(_signer(ca_dir, engine),
                requests=(_request("server", name, cn, sans, no_default_san, key_type,
                                   key_size, days, hours),), force=force)
    run.report(generate(run.openssl, Path(out), plan, passphrase=run.passphrase,
                         templates=run.templates, progress=run.progress))


def _request(role: str, name: str | None, cn: str | None, sans: Sequence[str],
             no_default_san: bool, key_type: str | None, key_size: int | None,
             days: int | None, hours: int | None) -> Any:
    """One identity as a ``server`` or ``client`` command asks for it (None: not said)."""
    from .plan import Request

    named = bool(sans) or no_default_san  # else the current names, or the defaults
    return Request(role, name, cn or (name if role == "client" else None),
                   (*sans, *(() if no_default_san else DEFAULT_SANS)) if named else None,
                   key_kind=key_type, key_bits=key_size,
                   lifetime=None if days is None and hours is None
                   else chosen_lifetime(days, hours))


@click.command("client", epilog=EXIT_CODES)
@out_option
@ca_dir_option
@click.option("--cn", callback=CHECK_CN, default=None,
              help=f"Common name of the default client pair [default: {DEFAULT_CLIENT_CN}, "
                   "or the current one's when rotating].")
@click.option("--name", "names", multiple=True, callback=_check(parse_identity_name),
              help=f"Write the bundle {_bundle_help('client')}, CN=NAME, instead of the "
                   "default pair (repeatable: one run issues them all).")
@rotation_key_options
@leaf_validity_options(default=f"{DEFAULT_DAYS}, or the current certificate's when rotating")
@click.option("--force", is_flag=True,
              help="Replace an existing bundle (it goes to a backup folder), or change the "
                   "default pair's CN.")
@engine_options
@with_run(usage=_client_usage)
def client_command(out: str, ca_dir: str | None, cn: str | None, names: Sequence[str],
                   key_type: str | None, key_size: int | None, days: int | None,
                   hours: int | None, force: bool, run: Run, **engine: Any) -> None:
    """A client pair from the CA (client-*.pem, and cert.pem/key.pem).

    \b
    With --name, a ready DOCKER_CERT_PATH per identity instead, for example:
      minipaas certs client --out .certs --name alice --name ci
      export DOCKER_CERT_PATH=.certs/clients/ci
    A bundle never holds the CA key; an existing one is replaced only with --force.
    A CI job's credentials can expire the same day: --hours 8.  Running it again
    for the default pair is rotation: the CN, key type and validity are kept
    unless options name others (another --cn needs --force).
    """
    from .generate import generate
    from .plan import Plan

    bundles: list[str | None] = list(dict.fromkeys(names)) or [None]  # None: the default pair
    requests = tuple(_request("client", name, cn, (), False, key_type, key_size, days, hours)
                     for name in bundles)
    plan = Plan(_signer(ca_dir, engine), requests=requests, force=force)
    run.report(generate(run.openssl, Path(out), plan, passphrase=run.passphrase,
                         templates=run.templates, progress=run.progress))


host_option = click.option("--host", required=True, metavar="HOST[:PORT]",
                           help="The daemon's address as clients reach it (port 2376 "
                                "by default; [v6]:PORT for IPv6).")
name_option = click.option("--name", default=None, callback=_check(parse_identity_name),
                           help="A client bundle from `certs client --name` "
                                "[default: the default client pair].")


@click.command("env", epilog=EXIT_CODES)
@out_option
@host_option
@name_option
def env_command(out: str, host: str, name: str | None) -> None:
    """Print the DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH exports.

    \b
    eval "$(minipaas certs env --out .certs --host 10.0.0.5)"
    docker version

    Warns on stderr when the host is not among the server certificate's names.
    """
    from .docker_config import bundle_dir, env_lines, parse_host, server_names_warning

    target = parse_host(host)
    cert_path = bundle_dir(Path(out), name, target)
    warning = server_names_warning(Path(out), target)
    if warning:
        progress(warning)
    for line in env_lines(target, cert_path):
        say(line)


@click.command("daemon-json", epilog=EXIT_CODES)
@click.option("--cert-dir", default="/etc/docker", show_default=True,
              help="Where ca.pem, server-cert.pem and server-key.pem are on the daemon's host.")
@click.option("--listen", multiple=True, metavar="URL",
              help="A daemon `hosts` entry, repeatable [default: unix:///var/run/docker.sock "
                   "and tcp://0.0.0.0:2376]. The local socket is kept beside tcp:// values; "
                   "a unix:// value replaces it.")
@click.option("--no-local-socket", is_flag=True,
              help="Leave unix:///var/run/docker.sock out of \"hosts\" (docker on the "
                   "daemon's host then needs TLS too).")
@click.option("-q", "--quiet", is_flag=True, help="Print the JSON only, no advice on stderr.")
def daemon_json_command(cert_dir: str, listen: Sequence[str], no_local_socket: bool,
                        quiet: bool) -> None:
    """Print the daemon.json that turns on TLS verification with the server files.

    \b
    minipaas certs daemon-json --cert-dir /etc/docker --listen tcp://0.0.0.0:2376

    "hosts" replaces dockerd's default socket, so unix:///var/run/docker.sock stays
    in it (a note on stderr says so when it is added to --listen): docker on the
    daemon's host keeps working.  The advice on stderr explains the systemd drop-in
    that the stock docker.service needs (its -H fd:// conflicts with "hosts"), and
    that dockerd must be restarted to read rotated certificates.
    """
    from .docker_config import LOCAL_SOCKET_NOTE, SYSTEMD_ADVICE, daemon_hosts, daemon_json

    hosts, added = daemon_hosts(listen, local_socket=not no_local_socket)
    say(daemon_json(cert_dir, hosts))
    if not quiet:
        if added:
            progress(LOCAL_SOCKET_NOTE)
        progress(SYSTEMD_ADVICE)


@click.command("context", epilog=EXIT_CODES)
@out_option
@host_option
@name_option
@click.option("--context", "context_name", default=None,
              help="The context's name [default: minipaas, or minipaas-NAME].")
def context_command(out: str, host: str, name: str | None, context_name: str | None) -> None:
    """Print the line that creates a docker context for a client bundle, or updates it.

    Run it again after a renewal: the context then copies the current files in.

    \b
    minipaas certs context --out .certs --host 10.0.0.5 --name ci | sh
    docker --context minipaas-ci version
    """
    from .docker_config import (
        bundle_dir,
        context_line,
        default_context_name,
        parse_host,
        server_names_warning,
    )

    target = parse_host(host)
    cert_path = bundle_dir(Path(out), name, target)
    line = context_line(context_name or default_context_name(name), target, cert_path)
    warning = server_names_warning(Path(out), target)
    if warning:
        progress(warning)
    say(line)


@click.command("p12", epilog=EXIT_CODES)
@out_option
@name_option
@click.option("--password-file", "password_file", metavar="FILE", default=None,
              help=f"Protect the file with the one line of FILE (6 or more printable ASCII "
                   f"characters) [env {P12_PASSWORD_VARIABLE}].")
@with_run(templates=False, passphrase=None)
def p12_command(out: str, name: str | None, password_file: str | None, run: Run) -> None:
    """Write a client's certificate, its chain and its key as client.p12 (PKCS#12),
    for Java and other clients that take a keystore.

    \b
    (umask 077 && openssl rand -base64 24 > p12-password)
    minipaas certs p12 --out .certs --name ci --password-file p12-password
    keytool -list -storetype PKCS12 -keystore .certs/clients/ci/client.p12 \\
        -storepass:file p12-password

    In clients/NAME/ with --name, else in --out for the default client pair;
    mode 0600.  AES-256-CBC (PBES2) and a SHA-256 MAC on OpenSSL 1.1.1 and 3.x.
    The password reaches openssl through a pipe, never its command line.
    """
    from .pkcs12 import export

    password = _p12_password(password_file)
    run.written(export(run.openssl, Path(out), name, password, progress=run.progress))


directory_argument = click.argument("directory", required=False, metavar="[DIR]",
                                    default=".certs", envvar="MINIPAAS_CERTS_OUT",
                                    callback=_not_empty)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@click.command("show", epilog=EXIT_CODES)
@directory_argument
@json_option
def show_command(directory: str, as_json: bool) -> None:
    """Every certificate in DIR (default .certs or MINIPAAS_CERTS_OUT) and its bundles.

    Role, subject, SANs, usage, key, serial, validity and days left, issuer and
    SHA-256 fingerprint; where a CA rollover stands; and the identities revoked.
    """
    import datetime
    import json
    from dataclasses import asdict

    from .inventory import inventory, rollover_state, show_text
    from .revocations import read as read_revocations

    folder = Path(directory)
    now = datetime.datetime.now(datetime.timezone.utc)
    entries = inventory(folder)
    revoked = read_revocations(folder)
    if as_json:
        rollover = rollover_state(folder, entries)
        say(json.dumps({
            "directory": str(folder),
            "certificates": [entry.as_json(now) for entry in entries],
            "rollover": rollover.describe(folder) if rollover else None,
            "revoked": [asdict(entry) for entry in revoked],
        }, indent=2))
    else:
        say(show_text(folder, entries, now, revoked))


@click.command("check", epilog=EXIT_CODES)
@directory_argument
@click.option("--warn-days", type=click.IntRange(0, MAX_WARN_DAYS), default=DEFAULT_WARN_DAYS,
              show_default=True,
              help="Warn about certificates that expire within this many days.")
@json_option
@with_run(quiet=False, templates=False)
def check_command(directory: str, warn_days: int, as_json: bool, run: Run) -> int:
    """Exit 0 if DIR's certificates are sound; for cron and CI.

    Exit 7 if one expires within --warn-days, 8 if something is wrong now: an
    expired certificate, a key that does not match, a leaf that does not verify
    against ca.pem or outlives the CA, a key readable by others, cert.pem/key.pem
    not a valid client pair or not copies of client-cert.pem/client-key.pem, a
    missing file.  One line per finding, naming the file and the command that
    fixes it (a finding about the client pair names its copy too).
    """
    import json

    from .inventory import check

    folder = Path(directory)
    report = check(run.openssl, folder, warn_days, run.passphrase)
    findings, rollover, code = report.findings, report.rollover, report.exit_code
    if as_json:
        say(json.dumps({
            "directory": str(folder),
            "status": report.status,
            "findings": [finding.as_json() for finding in findings],
            "rollover": rollover.describe(folder) if rollover else None,
        }, indent=2))
        return code
    for finding in findings:
        say_line(finding.line())
    if rollover:
        say(rollover.describe(folder))
    if code == 0:
        say_line(f"OK: {folder}: {_count(report.certificates, 'certificate')}, "
                 f"none expires within {_count(warn_days, 'day')}")
    return code


def _count(number: int, noun: str) -> str:
    """``1 certificate``, ``2 certificates``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


@click.command("renew", epilog=EXIT_CODES)
@click.argument("role", type=click.Choice(["server", "client"]), required=False)
@out_option
@ca_dir_option
@click.option("--all", "every", is_flag=True,
              help="Renew every pair in --out (top-level, servers/*, clients/*) in one step.")
@click.option("--within", type=click.IntRange(0, MAX_DAYS), default=None, metavar="DAYS",
              help="With --all: only the pairs that expire within DAYS; when none does, "
                   "no file changes (for a daily timer).")
@click.option("--name", default=None, callback=_check(parse_identity_name),
              help="Renew the bundle servers/NAME (server) or clients/NAME (client).")
@click.option("--san", "sans", multiple=True, callback=_check(parse_san),
              help="A name to add to the server's current SANs (repeatable).")
@keep_key_options
@leaf_validity_options(default="the current certificate's")
@click.option("--force", is_flag=True,
              help="With --ca-dir: replace a ca.pem in --out that is another CA's (the old "
                   "one goes to a backup folder).")
@click.option("--json", "as_json", is_flag=True,
              help="With --all: say what changed as JSON on stdout.")
@engine_options
@with_run(usage=_renew_usage)
def renew_command(role: str | None, out: str, ca_dir: str | None, every: bool,
                  within: int | None, name: str | None, sans: Sequence[str],
                  key_type: str | None, key_size: int | None, days: int | None,
                  hours: int | None, force: bool, as_json: bool, run: Run,
                  **engine_values: Any) -> None:
    """Re-issue a pair, keeping its CN, SANs, key type and validity.

    \b
    minipaas certs renew server --out .certs              # same names, new dates
    minipaas certs renew server --out .certs --san 10.0.0.9
    minipaas certs renew server --out .certs --name m1    # the manager servers/m1
    minipaas certs renew client --out .certs --name ci
    minipaas certs renew --all --out .certs               # every pair, one step
    minipaas certs renew --all --within 30 --out .certs   # daily, from a timer

    The values come from the current certificates; the new pairs replace the old
    ones in a single step (the old ones go to a backup folder), signed by the CA
    in --out (or --ca-dir).  --all then says which daemons need their new files.
    """
    import datetime

    from .generate import renew, renew_all

    signer = _signer(ca_dir, engine_values)
    lifetime = None if days is None and hours is None else chosen_lifetime(days, hours)
    if every:
        renewal = renew_all(run.openssl, Path(out), lifetime=lifetime,
                            within=None if within is None else datetime.timedelta(days=within),
                            signer=signer, force=force, passphrase=run.passphrase,
                            templates=run.templates, progress=run.progress)
        _report_renewal(Path(out), renewal, within, as_json, run)
        return
    run.report(renew(run.openssl, Path(out), role or "", name=name, extra_sans=sans,
                     lifetime=lifetime, key_kind=key_type, key_bits=key_size,
                     signer=signer, force=force, passphrase=run.passphrase,
                     templates=run.templates, progress=run.progress))


def _report_renewal(out: Path, renewal: Outcome, within: int | None, as_json: bool,
                    run: Run) -> None:
    """What `renew --all` changed: JSON on stdout, or the files written on stdout and
    what was renewed and where it must go on stderr (even with -q: it needs a human)."""
    if as_json:
        import json

        say(json.dumps({
            "directory": str(out),
            "changed": renewal.changed,
            "within_days": within,
            "renewed": [reissue.as_json() for reissue in renewal.reissued],
            "deploy": renewal.deployment(out),
            "written": [str(path) for path in renewal.written],
            "skipped": [item.as_json() for item in renewal.skipped],
            "skipped_to": str(renewal.skipped_to) if renewal.skipped_to else None,
        }, indent=2))
        return
    for line in renewal.warnings():
        progress(line)
    if not renewal.reissued:
        run.progress(f"Nothing to renew in {out}: no certificate expires within "
                     f"{within} day{'' if within == 1 else 's'}")
        return
    run.written(renewal.written)
    for reissue in renewal.reissued:
        progress(f"Renewed {out / reissue.spec.cert_file} (CN={reissue.spec.common_name}, "
                 f"was to expire {reissue.current.not_after:%Y-%m-%d %H:%M} UTC)")
    progress("Deploy the new files (dockerd reads them only when it starts):")
    for line in renewal.deployment(out):
        progress(f"  {line}")


def _revoke_usage(names: Sequence[str], servers: Sequence[str], **_: Any) -> None:
    if not names and not servers:
        raise click.UsageError("name what to revoke: --name CLIENT or --server MANAGER")


@click.command("revoke", epilog=EXIT_CODES)
@out_option
@click.option("--name", "names", multiple=True, callback=_check(parse_identity_name),
              help="Revoke the client bundle clients/NAME (repeatable).")
@click.option("--server", "servers", multiple=True, callback=_check(parse_identity_name),
              help="Revoke the manager's bundle servers/NAME, e.g. a decommissioned one "
                   "(repeatable).")
@click.option("--ca-days", type=DAYS, default=DEFAULT_CA_DAYS, show_default=True,
              help="Validity of the new CA.")
@click.option("--days", type=DAYS, default=None,
              help="Validity of the re-issued certificates [default: each one's current].")
@with_run(passphrase=PASSPHRASE_NEXT_CA, usage=_revoke_usage)
def revoke_command(out: str, names: Sequence[str], servers: Sequence[str], ca_days: int,
                   days: int | None, run: Run) -> None:
    """Cut identities off, although dockerd checks no CRL: a new CA, every other
    identity re-issued from it, in one step.

    \b
    minipaas certs revoke --out .certs --name alice
    minipaas certs revoke --out .certs --server m3

    The new CA has the old one's key type; ca.pem and every bundle's ca.pem hold
    it alone. The top-level pairs, every servers/* and every remaining clients/*
    are re-issued with their CN, SANs and key type. The revoked bundles and the
    old CA go to a backup folder, and revoked.json records who was cut off.
    Revocation takes effect when each manager runs with its new files (copy
    them, restart dockerd); the remaining clients need their new bundles.
    """
    from .generate import revoke
    from .layout import Bundle

    cut_off = [*(Bundle("client", name) for name in names),
               *(Bundle("server", name) for name in servers)]
    run.report(revoke(run.openssl, Path(out), cut_off, ca_days=ca_days,
                       lifetime=None if days is None else chosen_lifetime(days),
                       passphrase=run.passphrase, templates=run.templates,
                       progress=run.progress))


class _InOrder(click.Group):
    """A group that lists its commands in the order they are defined (click sorts them):
    rotate-ca's steps read start, then finish."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            refuse_repeated_options(command, ctx, name, rest)
        return name, command, rest


@click.group("rotate-ca", cls=_InOrder, epilog=EXIT_CODES)
def rotate_ca() -> None:
    """Replace the CA without downtime: start, re-issue, finish.

    \b
    1. minipaas certs rotate-ca start --out .certs
       ca.pem becomes a bundle of the new and the old CA: deploy it to the
       daemons (restart them) and to the clients.
    2. minipaas certs server --out .certs ...; minipaas certs client ...
       (they sign with the new CA from now on); deploy, restart dockerd.
    3. minipaas certs rotate-ca finish --out .certs
       ca.pem holds the new CA alone; the old CA's files go to a backup folder.
    """


@rotate_ca.command("start", epilog=EXIT_CODES,
                   short_help="Step 1: a new CA, which ca.pem trusts beside the old one.")
@out_option
@click.option("--cn", callback=CHECK_CN, default=None,
              help="Common name of the new CA [default: the old one's, dated].")
@keep_key_options
@ca_days_option
@with_run(passphrase=PASSPHRASE_NEXT_CA)
def rotate_start_command(out: str, cn: str | None, key_type: str | None, key_size: int | None,
                         ca_days: int, run: Run) -> None:
    """Step 1: a new CA; ca.pem trusts both; the old CA is kept as ca-old*.pem."""
    from .rotate_ca import start

    key = _key(key_type, key_size) if key_type else None
    run.written(start(run.openssl, Path(out), common_name=cn, key=key, days=ca_days,
                      passphrase=run.passphrase, templates=run.templates,
                      progress=run.progress))


@rotate_ca.command("finish", epilog=EXIT_CODES,
                   short_help="Step 3: ca.pem trusts the new CA alone; the old is archived.")
@out_option
@click.option("--force", is_flag=True,
              help="Finish even though certificates from the old CA remain: they go into "
                   "the backup with it, each named with the command that issues it again.")
@quiet_option
def rotate_finish_command(out: str, force: bool, quiet: bool) -> None:
    """Step 3: drop the old CA from ca.pem; archive its certificate and key."""
    from .rotate_ca import finish

    written, warnings = finish(Path(out), force=force, progress=_reporter(quiet))
    Run.written(written)
    for line in warnings:  # even with -q: a person must issue these again
        progress(line)


@click.command("doctor", epilog=EXIT_CODES)
@host_option
@directory_argument
@name_option
@openssl_option
def doctor_command(host: str, directory: str, name: str | None,
                   openssl_path: str | None) -> int:
    """Try mutual TLS with a daemon using DIR's files; say why it fails, and the fix.

    \b
    minipaas certs doctor --host 10.0.0.5 .certs
    minipaas certs doctor --host manager.example.com:2376 .certs --name ci

    Exit 0 when a handshake and GET /version succeed, 8 otherwise, with the
    cause: nothing listens, the host is not among the server's SANs, the server's
    certificate is from another CA, expired, or not a server certificate, the
    daemon still runs the previous CA, a certificate is not valid yet, the
    bundle was revoked, or the daemon refuses the client certificate.
    """
    from .docker_config import parse_host
    from .doctor import doctor
    from .errors import EXIT_PROBLEMS

    diagnosis = doctor(parse_host(host, lookup=True), Path(directory), name, openssl_path)
    say(diagnosis.message)
    return 0 if diagnosis.ok else EXIT_PROBLEMS


@click.command("verify-sums", epilog=EXIT_CODES)
@directory_argument
def verify_sums_command(directory: str) -> int:
    """Check DIR's certificates against its SHA256SUMS (after carrying them across).

    Every run that writes DIR also writes SHA256SUMS, the SHA-256 of each
    certificate (keys are left out), in the format of `sha256sum -c`.  Exit 0 if
    every listed file matches and every certificate is listed, 8 otherwise.
    """
    from .errors import EXIT_PROBLEMS
    from .sums import verify

    folder = Path(directory)
    matched, mismatches = verify(folder)
    for mismatch in mismatches:
        say_line(f"problem: {mismatch.file}: {mismatch.message}")
    if mismatches:
        return EXIT_PROBLEMS
    say_line(f"OK: {folder}: {_count(matched, 'file')} "
             f"{'matches' if matched == 1 else 'match'} {SUMS_FILE}")
    return 0
