"""The HTTP client of an OpenBao or HashiCorp Vault PKI secrets engine (its signer,
with the checks of what it signs, is ``signers.engine``).

The key and the request are made locally (the key never leaves the machine);
the engine signs the request by its role's policy, through
``POST /v1/<mount>/sign/<role>``.  Standard library only.  The token travels in
the ``X-Vault-Token`` header, never in argv; what the engine refuses, or
changes (a TTL capped to the role's maximum), is one error quoting the engine.

Proxies are chosen as the ``bao`` and ``vault`` CLIs choose them (Go's
``ProxyFromEnvironment``), but the token never reaches a proxy: an https engine
is reached through a CONNECT tunnel, and a plain-HTTP one that a proxy variable
would route through its proxy is refused before any request.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, NamedTuple, TypeVar, Union

from .errors import CAProblem, InvalidInput

if TYPE_CHECKING:
    import ssl
    import urllib.request

TIMEOUT = 30.0  # seconds for a whole request to the engine, however slowly it answers
MAX_ANSWER = 1024 * 1024
# What gives an engine a new root, which the roles then sign with (their issuer_ref is
# "default"); the vault CLI takes the same paths.
NEW_ROOT = ("`bao write pki/root/rotate/internal common_name=NAME issuer_name=ISSUER`, "
            "then `bao write pki/root/replace default=ISSUER`")
CACERT_SOURCES = ("VAULT_CACERT", "BAO_CACERT")  # --vault-cacert's variables, first set first
_MOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}(?:/[A-Za-z0-9][A-Za-z0-9_.-]{0,127})*\Z")
ROLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")


class EngineRefused(CAProblem):
    """The PKI engine refused to sign, or signed other than asked."""


class Proxy(NamedTuple):
    """The proxy a request to the engine goes through, and the variable naming it."""

    variable: str  # HTTPS_PROXY or https_proxy, HTTP_PROXY or http_proxy
    scheme: str
    host: str
    port: int
    credentials: str | None  # user:password, as in the URL


_Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


def _first_set(environ: Mapping[str, str], *names: str) -> tuple[str, str]:
    """The first of ``names`` set and not empty, and its value (Go's getEnvAny)."""
    for name in names:
        if environ.get(name):
            return name, environ[name]
    return names[0], ""


def proxy_for(address: str, environ: Mapping[str, str]) -> Proxy | None:
    """The proxy Go's ``http.ProxyFromEnvironment`` takes to ``address`` (what the
    ``bao`` CLI does), or None: connect directly.

    HTTPS_PROXY for https, HTTP_PROXY for http (upper case first); none for
    ``localhost`` or a loopback address, nor for a host NO_PROXY names: ``*``, an
    IP, a CIDR block, or a domain (``example.com`` and ``.example.com`` both match
    its subdomains; the first also itself), each with an optional ``:port``.
    """
    from urllib.parse import urlsplit

    target = urlsplit(address)
    scheme = target.scheme.lower()
    variable, value = _first_set(environ, *(("HTTPS_PROXY", "https_proxy") if scheme == "https"
                                            else ("HTTP_PROXY", "http_proxy")))
    host = (target.hostname or "").strip()
    if not value or host == "localhost":
        return None
    try:
        ip: _Address | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and ip.is_loopback:
        return None
    port = str(target.port or (443 if scheme == "https" else 80))
    if _bypassed(host, port, ip, _first_set(environ, "NO_PROXY", "no_proxy")[1]):
        return None
    return _parse_proxy(variable, value)


def _bypassed(host: str, port: str, ip: _Address | None, no_proxy: str) -> bool:
    """Does a NO_PROXY entry name ``host`` (see ``proxy_for``)?"""
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if entry == "*":
            return True
        if not entry:
            continue
        if "/" in entry:  # a CIDR block
            try:
                if ip is not None and ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name, entry_port = entry, ""
        bracketed = re.match(r"\[([^\]]*)\](?::(.*))?\Z", entry)
        if bracketed:
            name, entry_port = bracketed.group(1), bracketed.group(2) or ""
        elif entry.count(":") == 1:
            name, entry_port = entry.split(":")
        if (entry_port and entry_port != port) or not name:
            continue
        try:
            if ipaddress.ip_address(name) == ip:  # an IP entry matches that IP alone
                return True
            continue
        except ValueError:
            pass
        suffix = name[1:] if name.startswith("*.") else name
        if host.endswith(suffix if suffix.startswith(".") else "." + suffix) or host == suffix:
            return True
    return False


def _parse_proxy(variable: str, value: str) -> Proxy:
    """A proxy variable's URL; ``host:port`` alone means http://, as in Go."""
    from urllib.parse import unquote, urlsplit

    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme not in ("http", "https", "socks5", "socks5h"):
        value, scheme = f"http://{value}", "http"
    try:
        parsed = urlsplit(value)
        port = parsed.port or (443 if scheme == "https" else 1080 if "socks" in scheme else 80)
    except ValueError:
        parsed, port = None, 0
    if parsed is None or not parsed.hostname:
        raise InvalidInput(f"{variable} is not a proxy URL: fix it, or add the engine's host "
                           "to NO_PROXY")
    credentials = None
    if parsed.username is not None:
        credentials = f"{unquote(parsed.username)}:{unquote(parsed.password or '')}"
    return Proxy(variable, scheme, parsed.hostname, port, credentials)


@dataclass(frozen=True)
class Engine:
    """Where and how to ask: the engine's address, PKI mount, role and token."""

    address: str
    mount: str
    role: str
    token: str
    cacert: bytes | None = None  # PEM: the CA of the engine's own HTTPS, read up front
    token_source: str = ""  # where the token was read: VAULT_TOKEN, --vault-token-file...
    # The proxy variables (see ``proxy_for``); none: every request goes direct.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    cacert_source: str = "--vault-cacert"  # where ``cacert`` was named: or VAULT_CACERT...

    def __post_init__(self) -> None:
        if "@" in self.address:
            # user:password@ would go to the resolver as part of the host, and into
            # messages: refuse it unprinted (the engine takes a token, not a login).
            shown = f"{self.address.partition('://')[0]}://...@{self.address.rpartition('@')[2]}"
            raise InvalidInput(f"--vault-addr {shown!r} holds credentials before the host: "
                               "give the token in VAULT_TOKEN or --vault-token-file, and "
                               "use http(s)://HOST:PORT")
        if not re.match(r"https?://[^\s/?#]+\Z", self.address.rstrip("/")):
            raise InvalidInput(f"--vault-addr {self.address!r}: use http(s)://HOST:PORT")
        if not _MOUNT.match(self.mount):
            raise InvalidInput(f"--vault-mount {self.mount!r} is not a mount path")
        if not ROLE_NAME.match(self.role):
            raise InvalidInput(f"--vault-role {self.role!r} is not a role name")
        source = self.token_source or "the engine token"
        if not self.token:
            raise InvalidInput("no engine token: set VAULT_TOKEN or BAO_TOKEN, or give "
                               "--vault-token-file FILE")
        # What an HTTP header carries as it is: printable Latin-1, no control character.
        if not self.token.isprintable() or max(map(ord, self.token)) > 0xFF \
                or len(self.token) > 4096:
            raise InvalidInput(f"{source} holds no token an HTTP header can carry (control "
                               "or non-Latin-1 characters, or over 4096 of them): give the "
                               "token the engine issued, on one line")
        proxy = self.proxy
        if proxy is not None and proxy.scheme != "http":
            raise InvalidInput(f"{proxy.variable} names a {proxy.scheme}:// proxy, but the engine "
                               "is reached through http:// proxies alone (CONNECT): use one, "
                               f"or add {self.host} to NO_PROXY")
        if proxy is not None and not self.address.startswith("https:"):
            raise InvalidInput(
                f"{proxy.variable} would carry the engine token in clear through its proxy to "
                f"{self.address} (plain HTTP): use https:// in --vault-addr, or add "
                f"{self.host} to NO_PROXY to connect directly")
        if self.cacert is not None:
            self.tls_context  # noqa: B018 - refuse a file with no certificate before any key

    @functools.cached_property
    def proxy(self) -> Proxy | None:
        """The proxy ``environ`` routes the engine's requests through, or None."""
        return proxy_for(self.address, self.environ)

    @property
    def host(self) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self.address).hostname or ""

    @functools.cached_property
    def tls_context(self) -> ssl.SSLContext:
        """How the engine's HTTPS is checked: by ``cacert`` alone if given, else by the
        system's CAs; the host name always."""
        import ssl

        if self.cacert is None:
            return ssl.create_default_context()
        from .certinfo import pem_blocks

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the name and chain
        # The certificate blocks alone: a bundle's comments may be in any encoding.
        blocks = b"".join(pem_blocks(self.cacert))
        try:
            context.load_verify_locations(cadata=blocks.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as error:
            raise InvalidInput(f"{self.cacert_source} holds no PEM certificate ({error})"
                               ) from None
        return context

    @property
    def in_clear(self) -> bool:
        """Plain HTTP to another machine than this one."""
        return self.address.startswith("http:") and self.host not in ("127.0.0.1", "localhost",
                                                                      "::1")

    @property
    def sign_url(self) -> str:
        return f"{self.address.rstrip('/')}/v1/{self.mount}/sign/{self.role}"


@dataclass(frozen=True)
class Signed:
    """What the engine returned: the certificate and its CA chain (PEM texts)."""

    certificate: bytes
    chain: list[bytes]  # from the issuing CA up, as the engine lists them
    serial: str


def sign(engine: Engine, request_pem: bytes, hours: int) -> Signed:
    """Have ``engine`` sign the request for ``hours``; names come from the request."""
    return _waited(engine, lambda: _sign(engine, request_pem, hours))


def ca_chain(engine: Engine) -> bytes:
    """The CA chain the engine signs with now (its default issuer's, up to the root as
    the issuer holds it), PEM: ``GET /v1/<mount>/cert/ca_chain``."""
    return _waited(engine, lambda: _fetch_chain(engine))


_T = TypeVar("_T")


def _waited(engine: Engine, exchange: Callable[[], _T]) -> _T:
    """``exchange()`` on a thread of its own, so that SIGINT/SIGTERM and the deadline end
    the wait at once, however the engine answers."""
    import threading
    import time

    from . import interrupts

    outcome: list[_T | BaseException] = []

    def run() -> None:
        try:
            outcome.append(exchange())
        except BaseException as error:  # handed to the waiting thread
            outcome.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    deadline = time.monotonic() + TIMEOUT
    while worker.is_alive():
        interrupts.check()
        if time.monotonic() > deadline:
            raise CAProblem(f"no answer from the PKI engine at {engine.address} within "
                            f"{TIMEOUT:g} s")
        worker.join(0.05)
    interrupts.check()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _fetch_chain(engine: Engine) -> bytes:
    import urllib.request

    url = f"{engine.address.rstrip('/')}/v1/{engine.mount}/cert/ca_chain"
    call = urllib.request.Request(url, method="GET", headers={"X-Vault-Token": engine.token})
    where = f"the PKI engine at {engine.address}"
    data = _exchange(engine, call, where, "would not give its CA chain")
    result = data.get("data") if isinstance(data, dict) else None
    chain = result.get("ca_chain") or result.get("certificate") \
        if isinstance(result, dict) else None
    if not isinstance(chain, str) or not chain.isascii():
        raise CAProblem(f"{where} answered its CA chain with no PEM text")
    return chain.encode("ascii")


def _sign(engine: Engine, request_pem: bytes, hours: int) -> Signed:
    import urllib.request

    # The engine would add the CN to the SANs; the names asked are the request's alone.
    body = json.dumps({"csr": request_pem.decode("ascii"), "ttl": f"{hours}h",
                       "format": "pem", "exclude_cn_from_sans": True}).encode()
    call = urllib.request.Request(engine.sign_url, data=body, method="POST", headers={
        "X-Vault-Token": engine.token, "Content-Type": "application/json"})
    where = f"the PKI engine at {engine.address} (role {engine.role})"
    signed, warnings = _reply(_exchange(engine, call, where, "refused to sign"), where)
    capped = [w for w in warnings if "TTL" in w]
    if capped:  # the engine shortened the certificate: not what was asked
        raise EngineRefused(f"{where} would not sign for {hours} hours: {capped[0]}; ask for "
                            "less with --days or --hours")
    return signed


def _exchange(engine: Engine, call: urllib.request.Request, where: str, refused: str
              ) -> object:
    """``call`` sent to the engine, its JSON answer read (capped): no redirect followed,
    no proxy but ``engine.proxy``; an error answer is one error quoting the engine."""
    import http.client
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        """A redirect would carry the token to wherever it points: refused."""

        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    # No proxy from urllib's own reading of the environment: only ``engine.proxy``.
    handlers: list[urllib.request.BaseHandler] = [NoRedirect(), urllib.request.ProxyHandler({})]
    if engine.address.startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=engine.tls_context))
        if engine.proxy is not None:  # a CONNECT tunnel: the proxy sees TLS alone
            call.set_proxy(f"{engine.proxy.host}:{engine.proxy.port}", "https")
            if engine.proxy.credentials is not None:  # sent with CONNECT, not to the engine
                import base64

                basic = base64.b64encode(engine.proxy.credentials.encode()).decode()
                call.add_header("Proxy-Authorization", f"Basic {basic}")
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(call, timeout=TIMEOUT) as answer:
            return json.loads(answer.read(MAX_ANSWER + 1)[:MAX_ANSWER])
    except urllib.error.HTTPError as error:
        raise EngineRefused(f"{where} {refused}: {_errors(error)}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CAProblem(f"cannot reach {where}: {reason}{_untrusted_hint(engine, reason)}"
                        ) from None
    except (ValueError, RecursionError, http.client.HTTPException):
        raise CAProblem(f"{where} answered with something that is not its JSON") from None


def _untrusted_hint(engine: Engine, reason: object) -> str:
    """What to do when the engine's HTTPS certificate fails verification."""
    import ssl

    if not isinstance(reason, ssl.SSLCertVerificationError):
        return ""
    if reason.verify_code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH
        return (f": the engine's certificate does not name {engine.host}; give --vault-addr "
                "a name its certificate holds")
    if engine.cacert is not None:
        return (f": the engine's certificate is not trusted by {engine.cacert_source}: give "
                "the CA that issued its HTTPS certificate")
    return (": the engine's certificate is not trusted here: give the CA of its HTTPS with "
            f"--vault-cacert FILE (or {' / '.join(CACERT_SOURCES)})")


def _reply(data: object, where: str) -> tuple[Signed, list[str]]:
    """The sign reply's certificate, chain and warnings, each of the type the API
    documents; any other shape is one error, not a crash."""
    def malformed(what: str) -> CAProblem:
        return CAProblem(f"{where} answered with a malformed sign reply: {what}")

    if not isinstance(data, dict):
        raise malformed("not a JSON object")
    warnings = data.get("warnings") or []
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise malformed('"warnings" is not a list of texts')
    result = data.get("data")
    if not isinstance(result, dict):
        raise malformed('"data" is missing or not an object')
    chain = result.get("ca_chain") or [result.get("issuing_ca")]
    if not isinstance(chain, list):
        raise malformed('"ca_chain" is not a list')
    texts = [result.get("certificate"), *chain]
    if not all(isinstance(text, str) and text.isascii() for text in texts):
        raise malformed('"certificate", "issuing_ca" or an item of "ca_chain" is missing or '
                        "not a PEM text")
    pems = [str(text).encode("ascii") for text in texts]
    return Signed(pems[0], pems[1:], str(result.get("serial_number", ""))), warnings


def _errors(error: object) -> str:
    """The engine's own words from an error answer."""
    import http.client

    try:
        data = json.loads(error.read(MAX_ANSWER))  # type: ignore[attr-defined]
        listed = data.get("errors") if isinstance(data, dict) else None
        errors = [str(item) for item in listed] if isinstance(listed, list) else []
    except (ValueError, RecursionError, AttributeError, OSError, http.client.HTTPException):
        errors = []
    status = f"HTTP {getattr(error, 'code', '?')}"
    text = "; ".join(errors) or status
    return "".join(c if c.isprintable() else " " for c in text)[:500] + (
        f" ({status})" if errors else "")
