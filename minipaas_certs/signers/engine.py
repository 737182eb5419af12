"""Signing through an OpenBao or HashiCorp Vault PKI engine (``--vault-role``).

The keys and requests are made here (no key leaves the machine); the engine signs
each request by its role's policy (see ``vault``), and its answer is held to what a
local CA's signature is: the purpose, the lifetime asked, no end after a CA above
it, no weak signature, the key asked for.  The anchor copied as ca.pem is the
engine's root, known only once it has signed.
"""

from __future__ import annotations

import datetime
import functools
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from .. import clock
from ..authority import CHAIN_FILE
from ..certinfo import Certificate, parse_pem, read_certificates
from ..errors import CAProblem, InvalidInput, OutputError
from ..files import write_private
from ..identity import Role
from ..keys import public_key_of_file
from ..layout import CA_CERT, CA_KEY, CERT_MODE, DIR_MODE
from ..parallel import run_all
from ..plan import BACKDATE, CLOCK_MARGIN, HOUR, describe
from ..render import SHIPPED, Templates
from ..signing import SIGNING, LeafRequest, place_and_check, request_leaf
from ..vault import Engine, EngineRefused, ca_chain
from ..vault import sign as engine_sign
from .base import (
    Signer,
    Signing,
    SigningRun,
    copy_ca,
    copy_into_bundles,
    differs,
    refuse_left_behind,
)
from .local import stop_children, workers

if TYPE_CHECKING:
    from ..openssl import OpenSSL
    from ..plan import LeafSpec, Placement


class EngineSigner(Signer):
    """The PKI engine: ``engines`` holds it once per leaf role it signs, each with the
    engine role that signs it (an engine role signs servers or clients, not both)."""

    def __init__(self, engines: Mapping[Role, Engine]) -> None:
        if not engines:
            raise ValueError("an engine signer needs a role")
        self.engines = dict(engines)
        self.engine = next(iter(self.engines.values()))  # the address, mount, token

    @property
    def options(self) -> tuple[str, ...]:
        named = {engine.role for engine in self.engines.values()}
        if len(named) == 1:
            return (f"--vault-role {named.pop()}",)
        return tuple(f"--vault-{role}-role {engine.role}" for role, engine in
                     self.engines.items())

    def options_for(self, role: Role) -> tuple[str, ...]:
        engine = self.engines.get(role)
        return (f"--vault-role {engine.role}",) if engine else self.options

    def open(self, run: SigningRun) -> Signing:
        return _EngineSigning(run, self)


class _EngineSigning(Signing):
    def __init__(self, run: SigningRun, signer: EngineSigner) -> None:
        super().__init__(run)
        self.engines, self.engine = signer.engines, signer.engine

    def refuse(self, leaves: Sequence[LeafSpec], gone: set[str]) -> None:
        """Before any key: every role of ``leaves`` has an engine role of its own."""
        roles = list(dict.fromkeys(spec.role for spec in leaves))
        for role in roles:
            if role not in self.engines:
                mine = [spec.identity.label for spec in leaves if spec.role is role]
                shown = ", ".join(mine[:3]) + (f" and {len(mine) - 3} more"
                                               if len(mine) > 3 else "")
                raise InvalidInput(f"no engine role signs the {role} certificates of this "
                                   f"run ({shown}): add --vault-{role}-role ROLE")
        if len(roles) > 1 and len({self.engines[role].role for role in roles}) == 1:
            raise InvalidInput(
                f"the engine role {self.engines[roles[0]].role} would sign both the server "
                "and the client certificates, and a role signs one kind (server_flag or "
                "client_flag): name each with --vault-server-role ROLE and "
                "--vault-client-role ROLE")

    def prepare(self, leaves: Sequence[LeafSpec], placement: Placement,
                gone: set[str]) -> None:
        if self.engine.in_clear:
            self.run.progress(f"Warning: {self.engine.address} is plain HTTP: the token "
                              "crosses the network in clear; use https:// (and "
                              "--vault-cacert)")
        if self.run.plan.revoke:  # before any key: a revocation needs the engine's new root
            if CA_KEY in placement.present:
                raise CAProblem(f"{self.run.out} holds its own CA ({CA_KEY}): revoke without "
                                "the engine options, which makes the new CA here")
            try:
                chain = parse_pem(ca_chain(self.engine), Path("ca_chain"))
            except OutputError as error:
                raise CAProblem(f"the PKI engine at {self.engine.address} answered its CA "
                                f"chain with a damaged certificate ({error})") from None
            self._refuse_same_root([cert for cert in chain if cert.self_issued])

    def sign(self, leaves: Sequence[LeafSpec]) -> bytes:
        run = self.run
        requests = run_all([functools.partial(request_leaf, run.openssl, run.store.staging,
                                              spec, run.templates, progress=run.progress)
                            for spec in leaves],
                           workers(leaves), on_interrupt=stop_children(run))
        anchors = sign_with_engine(run.openssl, run.store.staging, self.engines, requests,
                                   run.templates)
        copy_into_bundles(run.store, leaves, anchors)
        return anchors

    def _refuse_same_root(self, roots: Sequence[Certificate]) -> None:
        """A revocation whose engine signs under a root the folder's ca.pem holds would
        leave what it cuts off trusted."""
        from ..vault import NEW_ROOT

        try:
            ours = read_certificates(self.run.out / CA_CERT)
        except OutputError:
            return  # no readable ca.pem here: whatever the engine's root, it is another
        same = [root for root in roots if any(root.der == cert.der for cert in ours)]
        if same:
            raise CAProblem(
                f"the PKI engine at {self.engine.address} still signs under "
                f"CN={same[0].subject_cn}, the root {self.run.out / CA_CERT} holds: what it "
                "signed stays trusted, so revoking through it would cut nothing off; give "
                f"it a new root first ({NEW_ROOT}), then run this again")

    def settle(self, leaves: Sequence[LeafSpec], placement: Placement, gone: set[str],
               anchors: bytes) -> None:
        run = self.run
        origin = f"the PKI engine at {self.engine.address}"
        if run.plan.revoke:  # its root changed between prepare and signing?
            self._refuse_same_root(parse_pem(anchors, run.out / CA_CERT))
        self.replaces_ca = differs(run.store, anchors)
        # One role signs servers or clients: a folder cannot move over piece by piece.
        refuse_left_behind(run.out, gone, anchors, origin,
                           "write the engine's certificates into a new --out instead")
        copy_ca(run, placement, anchors, origin, self.replaces_ca)


def sign_with_engine(openssl: OpenSSL, staging: Path, engines: Mapping[Role, Engine],
                     requests: Sequence[LeafRequest], templates: Templates = SHIPPED
                     ) -> bytes:
    """Have a PKI engine sign every request (see ``vault``) with its role's engine role
    (``engines``), then check as for a local CA.  Returns the trust anchor, the
    engine's root, as ca.pem copies hold it."""
    work = staging / f"{SIGNING}-engine"
    work.mkdir(mode=DIR_MODE)
    issued: dict[Path, Certificate] = {}
    anchors: list[Certificate] = []
    intermediates: list[Certificate] = []
    for request in requests:
        engine = engines[request.spec.identity.role]
        asked = clock.now()
        signed = engine_sign(engine, request.request,
                             request.spec.lifetime // HOUR)
        answered = clock.now()
        try:
            leaf = parse_pem(signed.certificate, request.cert_path)[0]
            above = [parse_pem(pem, request.cert_path)[0] for pem in signed.chain]
        except OutputError as error:
            raise CAProblem(f"the PKI engine answered with a damaged certificate ({error})"
                            ) from None
        roots = [cert for cert in above if cert.self_issued]
        if not roots:
            raise EngineRefused(
                f"the PKI engine's CA chain for role {engine.role} ends at "
                f"CN={above[-1].subject_cn if above else '?'}, not at a root: give its issuer "
                "the whole chain up to the root (the ca_chain of the engine's issuer), so "
                "that ca.pem can hold the root")
        if anchors and roots[:1] != anchors:
            raise CAProblem("the PKI engine signed with two different CAs in one run")
        anchors, intermediates = roots[:1], [cert for cert in above if not cert.self_issued]
        if public_key_of_file(openssl, request.key_path) != leaf.public_key_der:
            raise CAProblem(f"the PKI engine signed a key other than {request.key_path.name}")
        purpose = request.spec.identity.role.eku_oid
        if leaf.extended_key_usage != (purpose,):
            raise EngineRefused(
                f"the PKI engine's role {engine.role} signed CN={request.spec.common_name} "
                f"for other purposes than {request.spec.role} authentication alone: use a "
                f"role with {request.spec.role}_flag=true and the other flag false")
        _check_engine_leaf(leaf, above, request.spec, asked, answered, engine.role)
        issued[request.cert_path] = leaf
    anchors_pem = b"".join(cert.pem for cert in anchors)
    chain_pem = b"".join(cert.pem for cert in intermediates)
    write_private(work / CA_CERT, anchors_pem, CERT_MODE)
    chain_path = work / CHAIN_FILE if intermediates else None
    if chain_path:
        write_private(chain_path, chain_pem, CERT_MODE)
    place_and_check(openssl, requests, issued, chain_pem, work / CA_CERT, chain_path,
                     templates)
    shutil.rmtree(work)
    return anchors_pem


def _check_engine_leaf(leaf: Certificate, above: Sequence[Certificate], spec: LeafSpec,
                       asked: datetime.datetime, answered: datetime.datetime, role: str
                       ) -> None:
    """What a local CA's signature is held to (see ``sign_leaves``): the lifetime asked,
    to within ``CLOCK_MARGIN`` of the engine's clock, from at most ``BACKDATE`` (and the
    margin) before the request (OpenBao backdates by its role's not_before_duration, 30 s
    by default), so that ``plan.span`` reads it back; no end after a CA above it; no
    SHA-1 or MD5 signature on it or its chain (Go rejects them)."""
    name, lifetime = spec.common_name, spec.lifetime
    until = f"{leaf.not_after:%Y-%m-%d %H:%M} UTC"
    if leaf.not_after < asked + lifetime - CLOCK_MARGIN:
        raise EngineRefused(f"the PKI engine signed {name} only until {until}, not for "
                            f"{describe(lifetime)}: ask for less with --days or --hours")
    if leaf.not_after > answered + lifetime + CLOCK_MARGIN:
        raise EngineRefused(f"the PKI engine signed {name} until {until}, longer than the "
                            f"{describe(lifetime)} asked: clear the not_after of its role "
                            f"{role}, which overrides the TTL asked")
    if not asked - BACKDATE - CLOCK_MARGIN <= leaf.not_before <= answered + CLOCK_MARGIN:
        raise EngineRefused(f"the PKI engine signed {name} valid from "
                            f"{leaf.not_before:%Y-%m-%d %H:%M:%S} UTC, not from about now: set "
                            f"the not_before_duration of its role {role} to 5m or less, or "
                            "is a clock wrong?")
    for ca in above:
        if leaf.not_after > ca.not_after:
            raise EngineRefused(
                f"the PKI engine signed {name} until {until}, after its CA CN={ca.subject_cn} "
                f"expires ({ca.not_after:%Y-%m-%d %H:%M} UTC), which Go (dockerd, the docker "
                "CLI) then rejects: ask for less with --days or --hours, or have the engine's "
                "issuer renewed (and its leaf_not_after_behavior set to err)")
    if leaf.weak_signature:
        raise EngineRefused(f"the PKI engine signed {name} with {leaf.weak_signature}, which Go "
                            "(dockerd, the docker CLI) rejects: set the signature_bits of its "
                            f"role {role} to 256")
    for ca in above:
        if ca.weak_signature:
            raise EngineRefused(f"the PKI engine's CA CN={ca.subject_cn} is signed with "
                                f"{ca.weak_signature}, which Go (dockerd, the docker CLI) "
                                "rejects: the engine's issuer needs a CA signed with SHA-256")


