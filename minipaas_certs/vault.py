"""Signing through an OpenBao or HashiCorp Vault PKI secrets engine.

The key and the request are made locally (the key never leaves the machine);
the engine signs the request by its role's policy, through
``POST /v1/<mount>/sign/<role>``.  Standard library only.  The token travels in
the ``X-Vault-Token`` header, never in argv; what the engine refuses, or
changes (a TTL capped to the role's maximum), is one error quoting the engine.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import CAProblem, InvalidInput

if TYPE_CHECKING:
    import ssl

TIMEOUT = 30.0  # seconds for a whole request to the engine, however slowly it answers
MAX_ANSWER = 1024 * 1024
_MOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}(?:/[A-Za-z0-9][A-Za-z0-9_.-]{0,127})*\Z")
_ROLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")


class EngineRefused(CAProblem):
    """The PKI engine refused to sign, or signed other than asked."""


@dataclass(frozen=True)
class Engine:
    """Where and how to ask: the engine's address, PKI mount, role and token."""

    address: str
    mount: str
    role: str
    token: str
    cacert: bytes | None = None  # PEM: the CA of the engine's own HTTPS, read up front

    def __post_init__(self) -> None:
        if not re.match(r"https?://[^\s/?#]+\Z", self.address.rstrip("/")):
            raise InvalidInput(f"--vault-addr {self.address!r}: use http(s)://HOST:PORT")
        if not _MOUNT.match(self.mount):
            raise InvalidInput(f"--vault-mount {self.mount!r} is not a mount path")
        if not _ROLE.match(self.role):
            raise InvalidInput(f"--vault-role {self.role!r} is not a role name")
        if not self.token or not self.token.isprintable() or len(self.token) > 4096:
            raise InvalidInput("the engine token (VAULT_TOKEN, BAO_TOKEN or --vault-token-file) "
                               "is missing or not one line of text")

        if self.cacert is not None:
            self.tls_context  # noqa: B018 - refuse a file with no certificate before any key

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
            raise InvalidInput(f"--vault-cacert holds no PEM certificate ({error})") from None
        return context

    @property
    def in_clear(self) -> bool:
        """Plain HTTP to another machine than this one."""
        host = self.address.split("://", 1)[1].rsplit(":", 1)[0].strip("[]").rstrip("/")
        return self.address.startswith("http:") and host not in ("127.0.0.1", "localhost",
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
    """Have ``engine`` sign the request for ``hours``; names come from the request.

    The exchange runs on a thread of its own, so that SIGINT/SIGTERM and the
    deadline end the wait at once, however the engine answers.
    """
    import threading
    import time

    from . import interrupts

    outcome: list[Signed | BaseException] = []

    def exchange() -> None:
        try:
            outcome.append(_sign(engine, request_pem, hours))
        except BaseException as error:  # handed to the waiting thread
            outcome.append(error)

    worker = threading.Thread(target=exchange, daemon=True)
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


def _sign(engine: Engine, request_pem: bytes, hours: int) -> Signed:
    import http.client
    import urllib.error
    import urllib.request

    # The engine would add the CN to the SANs; the names asked are the request's alone.
    body = json.dumps({"csr": request_pem.decode("ascii"), "ttl": f"{hours}h",
                       "format": "pem", "exclude_cn_from_sans": True}).encode()
    call = urllib.request.Request(engine.sign_url, data=body, method="POST", headers={
        "X-Vault-Token": engine.token, "Content-Type": "application/json"})
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        """A redirect would carry the token to wherever it points: refused."""

        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    where = f"the PKI engine at {engine.address} (role {engine.role})"
    handlers: list[urllib.request.BaseHandler] = [NoRedirect()]
    if engine.sign_url.startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=engine.tls_context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(call, timeout=TIMEOUT) as answer:
            data = json.loads(answer.read(MAX_ANSWER + 1)[:MAX_ANSWER])
    except urllib.error.HTTPError as error:
        raise EngineRefused(f"{where} refused to sign: {_errors(error)}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CAProblem(f"cannot reach {where}: {reason}") from None
    except (ValueError, RecursionError, http.client.HTTPException):
        raise CAProblem(f"{where} answered with something that is not its JSON") from None
    if not isinstance(data, dict):
        raise CAProblem(f"{where} answered with something that is not its JSON")
    try:
        result = data["data"]
        certificate = result["certificate"].encode("ascii")
        chain = [item.encode("ascii") for item in result.get("ca_chain") or
                 [result["issuing_ca"]]]
        serial = str(result.get("serial_number", ""))
    except (KeyError, TypeError, AttributeError, UnicodeEncodeError):
        raise CAProblem(f"{where} answered without a certificate") from None
    capped = [w for w in data.get("warnings") or [] if isinstance(w, str) and "TTL" in w]
    if capped:  # the engine shortened the certificate: not what was asked
        raise EngineRefused(f"{where} would not sign for {hours} hours: {capped[0]}; ask for "
                            "less with --days or --hours")
    return Signed(certificate, chain, serial)


def _errors(error: object) -> str:
    """The engine's own words from an error answer."""
    try:
        data = json.loads(error.read(MAX_ANSWER))  # type: ignore[attr-defined]
        errors = [str(item) for item in data.get("errors", [])]
    except (ValueError, AttributeError, OSError):
        errors = []
    status = f"HTTP {getattr(error, 'code', '?')}"
    text = "; ".join(errors) or status
    return "".join(c if c.isprintable() else " " for c in text)[:500] + (
        f" ({status})" if errors else "")
