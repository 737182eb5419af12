"""What a run will make, decided before anything runs: the issuance plan.

Keys (``KeySpec``), a new CA (``CASpec``), leaves (``LeafSpec``), the defaults
(server SANs, common names), the day rules (a leaf never outlives its CA), what a
renewal keeps, what a new CA re-issues or a revocation cuts off, and which
files a run puts in place and which it keeps in a backup.  ``generate.generate``
carries a ``Plan`` out; the Click layer only parses options into one with the
builders at the end of this module.
"""

from __future__ import annotations

import datetime
import enum
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import AbstractSet, Callable, Iterable, NamedTuple, Protocol, Sequence

from . import clock
from .certinfo import Certificate
from .errors import CAProblem, Conflict, InvalidInput, listed, quote
from .identity import CLIENT, SERVER, Identity, Role, as_role, certs_command
from .layout import (
    CA_CERT,
    CA_FILES,
    CA_KEY,
    CERT_MODE,
    CLIENT_CERT,
    CLIENT_P12,
    KEY_MODE,
    OLD_CA_CERT,
    OLD_CA_KEY,
)
from .names import MAX_CN_LENGTH, SubjectAltName, parse_common_name, parse_san, parse_sans

Progress = Callable[[str], None]  # how an operation reports what it is doing


# A run of many leaves reports them in three kinds of line, so that a terminal can show
# one count (N/M) instead of a line per leaf; any other reporter prints them as text.
class Leaves(str):
    """``total`` leaves follow, each said by a ``LeafLine`` and counted by a ``MADE``."""

    total: int

    def __new__(cls, text: str, total: int) -> Leaves:
        made = super().__new__(cls, text)
        made.total = total
        return made


class LeafLine(str):
    """A line about one leaf of a run."""

    per_leaf = True  # how ``output.Reporter`` knows it without importing this module


MADE = LeafLine("")  # one more leaf's key and request are made

KEY_SIZES = {"ecdsa": (256, 384), "rsa": (2048, 3072, 4096), "ed25519": (256,)}
DEFAULT_KEY_TYPE = "ecdsa"
DEFAULT_DAYS, DEFAULT_CA_DAYS, MAX_DAYS = 365, 3650, 36500
DEFAULT_WARN_DAYS, MAX_WARN_DAYS = 30, 3650  # `check` warns of what expires that soon
MAX_HOURS = 8760  # --hours is for short-lived credentials: up to a year
DEFAULT_KEY_SIZE = {"ecdsa": 256, "rsa": 3072, "ed25519": 256}
EC_CURVES = {256: "P-256", 384: "P-384"}
DEFAULT_SANS = ("localhost", "127.0.0.1")
DEFAULT_CA_CN, DEFAULT_SERVER_CN, DEFAULT_CLIENT_CN = "minipaas-ca", "server", "client"
# A successor CA's stamp (a date, or since 2026-12 a UTC date and time), stripped so that
# names carry one stamp, not one per replacement.
_DATED = re.compile(r" ([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})Z\Z"
                    r"| [0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
# Margin for the moments between our reading of the clock and openssl's.
CLOCK_MARGIN = datetime.timedelta(minutes=5)
# How long before now a certificate starts: a peer whose clock is behind still accepts
# it.  Its validity is then exactly its lifetime plus this.
BACKDATE = datetime.timedelta(minutes=5)
DAY, HOUR = datetime.timedelta(days=1), datetime.timedelta(hours=1)


class KeySpec(NamedTuple):
    """A key algorithm and size, validated: ``ecdsa`` 256/384, ``rsa`` 2048+, ``ed25519``."""

    kind: str
    bits: int

    @classmethod
    def parse(cls, kind: str, bits: int | None = None) -> KeySpec:
        if kind not in KEY_SIZES:
            raise InvalidInput(f"unknown key type {kind!r}: use ecdsa, rsa or ed25519")
        if bits is None:
            bits = DEFAULT_KEY_SIZE[kind]
        if bits not in KEY_SIZES[kind]:
            allowed = ", ".join(map(str, KEY_SIZES[kind]))
            raise InvalidInput(f"--key-size {bits} is not valid for {kind} keys (use {allowed})")
        return cls(kind, bits)

    def __str__(self) -> str:
        if self.kind == "ecdsa":
            return f"ECDSA {EC_CURVES[self.bits]}"
        return "Ed25519" if self.kind == "ed25519" else f"RSA {self.bits}"


class CASpec(NamedTuple):
    """What a new CA must contain."""

    common_name: str
    key: KeySpec
    days: int


@dataclass(frozen=True)
class LeafSpec:
    """What a server or client certificate must contain, and where its pair goes.

    A leaf with a ``bundle`` name is written into its bundle folder with a copy of
    ca.pem (see ``identity.Identity``): a client's ready DOCKER_CERT_PATH, or the three
    files of one Swarm manager's /etc/docker.
    """

    role: Role  # or a role's name, made its Role
    common_name: str
    key: KeySpec
    lifetime: datetime.timedelta  # whole hours; notAfter is this after now
    sans: tuple[SubjectAltName, ...] = ()
    bundle: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", as_role(self.role))
        if self.role.needs_sans and not self.sans:
            raise InvalidInput("a server certificate needs at least one --san")

    @property
    def identity(self) -> Identity:
        return Identity(self.role, self.bundle or None)

    @property
    def place(self) -> Identity | None:
        return self.identity if self.bundle else None

    @property
    def cert_file(self) -> str:
        return self.identity.cert

    @property
    def key_file(self) -> str:
        return self.identity.key


def chosen_lifetime(days: int | None = None, hours: int | None = None
                    ) -> datetime.timedelta:
    """A leaf's lifetime from ``--days`` or ``--hours`` (365 days if neither)."""
    if days is not None and hours is not None:
        raise InvalidInput("--days and --hours cannot be combined: give one validity")
    if hours is not None:
        return hours * HOUR
    return (DEFAULT_DAYS if days is None else days) * DAY


def span(certificate: Certificate) -> datetime.timedelta:
    """A leaf's lifetime as it was asked for (the backdating left out), in whole hours;
    whole days when within a quarter hour of them (another issuer's backdating: 30 s
    for OpenBao), so that 23 or 25 hours stay 23 or 25 hours."""
    asked = certificate.not_after - certificate.not_before - BACKDATE
    days = round(asked / DAY)
    if days and abs(asked - days * DAY) <= HOUR / 4:
        return days * DAY
    return max(1, round(asked / HOUR)) * HOUR


def _count_and_unit(lifetime: datetime.timedelta) -> tuple[int, str]:
    if lifetime >= DAY and not lifetime % DAY:
        return lifetime // DAY, "day"
    return max(0, lifetime // HOUR), "hour"


def describe(lifetime: datetime.timedelta) -> str:
    """``400 days``, or ``8 hours`` when not whole days (and ``1 day``, ``1 hour``)."""
    count, unit = _count_and_unit(lifetime)
    return f"{count} {unit}{'' if count == 1 else 's'}"


def time_left(left: datetime.timedelta) -> str:
    """How long a certificate has left, in whole days, or hours when under a day."""
    if left >= DAY:
        return describe(left // DAY * DAY)
    return describe(left // HOUR * HOUR) if left >= HOUR else "less than an hour"


def as_option(lifetime: datetime.timedelta) -> str:
    """The option that asks for ``lifetime``: ``--days 400`` or ``--hours 8``."""
    count, unit = _count_and_unit(lifetime)
    return f"--{unit}s {count}"


def leaf_end(lifetime: datetime.timedelta) -> datetime.datetime:
    """The latest a leaf of ``lifetime`` issued now can end (with the clock margin)."""
    return clock.now() + lifetime + CLOCK_MARGIN


@dataclass
class Placement:
    """What a run will move into place: top-level files and whole bundle folders."""

    files: dict[str, int] = field(default_factory=dict)
    bundles: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)  # if replaced, moved into a backup
    present: AbstractSet[str] = frozenset()  # what the folder held of the names considered

    def add_leaf(self, spec: LeafSpec) -> None:
        if spec.place:
            self.bundles.append(spec.place.label)  # its folder
            return
        self.files.update({spec.cert_file: CERT_MODE, spec.key_file: KEY_MODE})
        copies = spec.identity.role.cli_copies
        if copies:
            self.files.update({copies[spec.cert_file]: CERT_MODE,
                               copies[spec.key_file]: KEY_MODE})


class SignerChoice(Protocol):
    """What a plan needs to know of its signer (``signers.base.Signer``)."""

    @property
    def new_ca(self) -> CASpec | None: ...  # a CA this run makes, placed with the leaves

    @property
    def options(self) -> tuple[str, ...]: ...  # how printed commands name it

    def options_for(self, role: Role) -> tuple[str, ...]: ...  # ... one that issues role


class Kind(enum.Enum):
    """What a run does, which decides what it may replace without --force."""

    NEW_CA = "new CA"  # certs all, certs ca: a CA made in this run, and its leaves
    ISSUE = "issue"  # certs server, certs client: identities issued or rotated
    NEW_SET = "new set"  # certs all through an engine: no CA made, nothing replaced
    RENEW = "renew"  # renew server|client: one identity that exists
    RENEW_ALL = "renew all"  # renew --all: every identity present (that is due)
    REVOKE = "revoke"  # a new CA re-issues every identity but those cut off


# A certificate is due for renewal once less than a third of its lifetime is left: the
# default of cert-manager (renewBefore unset: renew at 2/3 of the duration) and close to
# step's `certificate needs-renewal` (66 % elapsed).  A fixed number of days cannot fit
# both a 365-day server pair (30 days: renewed 11 months in) and an 8-hour CI credential
# (30 days: renewed at every run, a backup each time).
DUE_SHARE = Fraction(1, 3)


@dataclass(frozen=True)
class Window:
    """When ``renew --all`` finds a certificate due: ``days`` or fewer left, or else less
    than ``share`` of its lifetime (notBefore to notAfter) left; a share of 1 (100 %)
    makes every certificate due."""

    days: int | None = None
    share: Fraction = DUE_SHARE

    @classmethod
    def parse(cls, text: str) -> Window:
        """``30`` (days) or ``33%`` (of each certificate's lifetime)."""
        number = text.strip()
        percent = number.endswith("%")
        digits = number[:-1].strip() if percent else number
        if not digits.isdigit() or not digits.isascii():
            raise InvalidInput(f"{text!r} is neither days (30) nor a share of the "
                               "lifetime (33%)")
        value = int(digits)
        if percent:
            if value > 100:
                raise InvalidInput(f"{text!r}: a share of the lifetime is 0% to 100%")
            return cls(share=Fraction(value, 100))
        if value > MAX_DAYS:
            raise InvalidInput(f"{text!r}: at most {MAX_DAYS} days")
        return cls(days=value)

    def is_due(self, current: Certificate, now: datetime.datetime) -> bool:
        left = current.not_after - now
        if self.days is not None:
            return left <= datetime.timedelta(days=self.days)
        lifetime = current.not_after - current.not_before
        return self.share >= 1 or left * self.share.denominator < lifetime * self.share.numerator


@dataclass(frozen=True)
class Others:
    """Every other identity the directory holds, re-issued in the same run: each keeps
    its CN, SANs and key type, and its span unless ``lifetime`` says otherwise;
    ``within``: only those it finds due (None: all)."""

    lifetime: datetime.timedelta | None = None
    within: Window | None = None

    def is_due(self, current: Certificate, now: datetime.datetime) -> bool:
        return self.within is None or self.within.is_due(current, now)


@dataclass(frozen=True)
class Plan:
    """One run: its ``kind``, who signs (``signer``: a new CA, a CA from files, a PKI
    engine) and what it issues.  Build one with the constructor of its kind
    (``new_set``, ``issue``, ``renewal``, ``renew_all``, ``revocation``).

    A new CA never replaces an existing one, nor any file a new CA would orphan,
    unless ``force``: then the old files go into a dated backup folder.  Leaves
    from an existing CA replace the previous pair (that is rotation), which goes
    into a backup folder too; a named client bundle is someone's credentials, so
    an ``issue`` replaces it only with ``force``.  ``requests`` become leaves once
    the directory is locked: one for an identity that exists keeps its names (see
    ``Request``).  ``others``: every other identity is re-issued too (see
    ``Others``); with a new CA, nothing it orphans is left behind.  ``revoke``:
    those bundles are not re-issued but moved into the backup with the old CA, and
    recorded in revoked.json.
    """

    signer: SignerChoice
    kind: Kind
    leaves: tuple[LeafSpec, ...] = ()
    requests: tuple[Request, ...] = ()  # identities issued or rotated, read under the lock
    force: bool = False
    others: Others | None = None
    revoke: tuple[Identity, ...] = ()

    @classmethod
    def new_set(cls, signer: SignerChoice, leaves: Sequence[LeafSpec] = (), *,
                force: bool = False, reissue: bool = False) -> Plan:
        """A new CA and ``leaves``; ``reissue``: every other identity too."""
        return cls(signer, Kind.NEW_CA, tuple(leaves), force=force,
                   others=Others() if reissue else None)

    @classmethod
    def issue(cls, signer: SignerChoice, requests: Sequence[Request], *,
              force: bool = False, new_set: bool = False) -> Plan:
        """``requests`` issued or rotated; ``new_set`` (``certs all`` through an engine):
        like a new CA's leaves, none replaces what is there without ``force``."""
        return cls(signer, Kind.NEW_SET if new_set else Kind.ISSUE, requests=tuple(requests),
                   force=force)

    @classmethod
    def renewal(cls, signer: SignerChoice, request: Request, *, force: bool = False) -> Plan:
        return cls(signer, Kind.RENEW, requests=(request,), force=force)

    @classmethod
    def renew_all(cls, signer: SignerChoice, *, lifetime: datetime.timedelta | None = None,
                  within: Window | None = None, force: bool = False) -> Plan:
        return cls(signer, Kind.RENEW_ALL, force=force, others=Others(lifetime, within))

    @classmethod
    def revocation(cls, signer: SignerChoice, cut_off: Sequence[Identity], *,
                   lifetime: datetime.timedelta | None = None) -> Plan:
        """``cut_off`` moved away, every other identity re-issued by ``signer``: a new CA,
        or a PKI engine, which must sign under a root other than the folder's."""
        return cls(signer, Kind.REVOKE, force=True, others=Others(lifetime),
                   revoke=tuple(dict.fromkeys(cut_off)))

    @property
    def ca(self) -> CASpec | None:
        """The CA this run makes, if any."""
        return self.signer.new_ca

    @property
    def reissue(self) -> bool:
        """Whether every other identity present is re-issued too."""
        return self.others is not None

    def __post_init__(self) -> None:
        # A revocation's new CA is made here, or is a PKI engine's new root.
        if (self.ca is not None) != (self.kind is Kind.NEW_CA) and self.kind is not Kind.REVOKE:
            raise ValueError(f"a {self.kind.value} run and its signer disagree on a new CA")
        if self.revoke and self.kind is not Kind.REVOKE:
            raise ValueError("only a revocation cuts identities off")
        if any(isinstance(cut, Identity) and cut.name is None and not cut.role.pair_revocable
               for cut in self.revoke):
            raise ValueError("the top-level server pair is re-issued by a revocation")
        if self.ca is None:
            return
        if self.reissue and self.ca.days < 2:
            raise InvalidInput(f"--ca-days {self.ca.days} leaves no time for the certificates "
                               "re-issued from the new CA: use 2 or more")
        # Signed after the CA, a leaf of an equal span would end later.
        lifetime = self.others.lifetime if self.others else None
        for asked in (lifetime, *(spec.lifetime for spec in self.leaves)):
            if asked is not None and asked >= self.ca.days * DAY:
                raise InvalidInput(
                    f"{as_option(asked)} must be shorter than --ca-days {self.ca.days}: "
                    "a certificate must not outlive its CA")

    def placement(self, leaves: Sequence[LeafSpec], out: Path = Path("."),
                  snapshot: Callable[[Iterable[str]], AbstractSet[str]] = lambda _: frozenset()
                  ) -> Placement:
        """Where the new CA (if any) and ``leaves`` (the plan's and the re-issued ones) go
        in ``out``, and which of the names there the run replaces (they are kept in a
        backup); a replacement the rules above forbid is a Conflict.  What is there
        comes from one ``snapshot`` (``store.snapshot``) of every name placement and a
        CA copy consider, kept in the placement."""
        placement = Placement(files=dict(CA_FILES) if self.ca is not None else {})
        for spec in leaves:
            placement.add_leaf(spec)
        placement.present = snapshot([*placement.files, *placement.bundles, CA_CERT, CA_KEY])
        placement.keep = [name for name in (*placement.files, *placement.bundles)
                          if name in placement.present]
        if self.kind is Kind.NEW_SET and placement.keep and not self.force:
            raise Conflict(
                f"{out} already holds {', '.join(placement.keep)}: `{certs_command('all')}` "
                f"never replaces them; use `{certs_command(SERVER.name)}` or `client` to "
                "renew them, or --force to move the old files into a backup folder")
        if self.ca is not None and placement.keep and not self.force:
            raise Conflict(
                f"{out} already holds {listed(placement.keep)}: a new CA never replaces "
                f"them; use `{certs_command(SERVER.name)}` or `client` to issue from the "
                "existing CA, or --force to move the old files into a backup folder")
        if self.kind is Kind.ISSUE and not self.force:
            clients = [name for name in placement.keep if (found := Identity.of(name))
                       and found.name is not None and found.role.force_over_bundle]
            if clients:
                raise Conflict(
                    f"{listed(out / name for name in clients)} already exists; "
                    "use --force to replace it (the old bundle is kept in a backup folder)")
        return placement

    def archive(self, placement: Placement) -> list[str]:
        """What the run moves into the backup with nothing in its place: a replaced CA's
        predecessor, revoked bundles, and a client.p12 beside a replaced default client
        pair (it holds the old pair; a bundle's goes with its folder)."""
        old_ca = [OLD_CA_CERT, OLD_CA_KEY] if self.ca is not None and self.force else []
        stale = [CLIENT_P12] if CLIENT_CERT in placement.files else []
        return [*old_ca, *(name for bundle in self.revoke for name in bundle.owned), *stale]

    def reissued(self, current: Certificate, where: Path, identity: Identity) -> LeafSpec:
        """The re-issue of an identity the directory holds (``others``)."""
        asked = (self.others.lifetime if self.others else None) or span(current)
        if self.ca is not None:
            asked = min(asked, (self.ca.days - 1) * DAY)
        return renewal(current, where, identity.role, identity.name, (), asked, None)

    def signer_options(self, role: Role | None = None) -> list[str]:
        """The options that name this plan's signer, for the commands it prints (one
        that issues ``role``: those that command accepts)."""
        return list(self.signer.options if role is None else self.signer.options_for(role))


# --- builders: from parsed options to a plan ----------------------------------------------

def server_names(sans: Sequence[str], with_defaults: bool = True) -> tuple[SubjectAltName, ...]:
    """The server's SANs: the given values, then localhost and 127.0.0.1 unless told not."""
    return tuple(parse_sans([*sans, *(DEFAULT_SANS if with_defaults else ())]))


def default_server_cn(names: Sequence[SubjectAltName]) -> str:
    """The first SAN, where it makes a valid CN (a wildcard or a long name does not)."""
    for name in names[:1]:
        try:
            return parse_common_name(name.value)
        except InvalidInput:
            pass
    return DEFAULT_SERVER_CN


def server_leaf(cn: str | None, sans: Sequence[str], with_default_sans: bool, key: KeySpec,
                lifetime: datetime.timedelta, bundle: str | None = None) -> LeafSpec:
    """The top-level server pair, or with ``bundle`` the manager ``servers/BUNDLE``."""
    names = server_names(sans, with_defaults=with_default_sans)
    return LeafSpec(SERVER, cn or default_server_cn(names), key, lifetime, names, bundle)


def client_leaves(cn: str | None, bundles: Sequence[str], key: KeySpec,
                  lifetime: datetime.timedelta) -> tuple[LeafSpec, ...]:
    """One bundle per name (its CN is its name), or else the default client pair."""
    unique = list(dict.fromkeys(bundles))
    return (tuple(LeafSpec(CLIENT, name, key, lifetime, bundle=name) for name in unique)
            or (LeafSpec(CLIENT, cn or DEFAULT_CLIENT_CN, key, lifetime),))


def check_renewal(role: Role, extra_sans: Sequence[str]) -> None:
    """What a renewal may change, checked before anything is read."""
    if not role.needs_sans and extra_sans:
        raise InvalidInput("--san is for server certificates; a client is named by its CN")


@dataclass(frozen=True)
class Request:
    """What a ``server``, ``client`` or ``renew`` command asks for one identity, before the
    directory is read; None (or empty) where the command did not say.

    Where the identity exists, issuing it again is rotation (``resolve``): what the
    command does not name is kept from the current certificate (CN, SANs, key type
    and size, span); a name it would drop is refused unless ``force``.  ``sans`` is
    the whole list the command names (defaults included); ``add_sans`` adds to the
    current ones (``renew --san``).
    """

    role: Role  # or a role's name, made its Role
    bundle: str | None = None
    common_name: str | None = None
    sans: tuple[str, ...] | None = None
    add_sans: tuple[str, ...] = ()
    key_kind: str | None = None
    key_bits: int | None = None
    lifetime: datetime.timedelta | None = None
    existing_only: bool = False  # `renew`: the identity must be there

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", as_role(self.role))
        check_renewal(self.role, self.add_sans)
        if not self.role.needs_sans and self.sans:
            raise InvalidInput("--san is for server certificates; a client is named by its CN")
        if self.key_kind is not None:  # --key-size alone is checked against the current key
            KeySpec.parse(self.key_kind, self.key_bits)  # refuse at once

    @property
    def identity(self) -> Identity:
        return Identity(self.role, self.bundle or None)

    @property
    def cert_file(self) -> str:
        return self.identity.cert

    def new(self, out: Path) -> LeafSpec:
        """The identity issued for the first time: the defaults where nothing was said."""
        if self.existing_only:
            raise CAProblem(f"nothing to renew: {out / self.cert_file} does not exist; "
                            f"issue it with `{self.identity.command(out)}`")
        names = server_names(self.sans or (), with_defaults=self.sans is None) \
            if self.identity.role.needs_sans else ()
        names = (*names, *(san for san in parse_sans(self.add_sans) if san not in names))
        common_name = self.common_name or (
            default_server_cn(names) if self.identity.role.needs_sans else DEFAULT_CLIENT_CN)
        key = KeySpec.parse(self.key_kind or DEFAULT_KEY_TYPE, self.key_bits)
        return LeafSpec(self.role, common_name, key, self.lifetime or DEFAULT_DAYS * DAY,
                        tuple(names), self.bundle)

    def resolve(self, current: Certificate, where: Path, force: bool = False) -> LeafSpec:
        """The identity issued again: ``current``'s CN, SANs, key and span where the
        request names none.  A CN or SAN it would drop is refused (exit 2) unless
        ``force``, which also takes the defaults for what cannot be kept as it is (a CN
        or key this tool would not issue)."""
        common_name = self.common_name
        if common_name is None:
            try:
                common_name = parse_common_name(current.subject_cn or "", "current common name")
            except InvalidInput as error:
                if not force:
                    raise CannotKeep(where, str(error)) from None
        names: list[SubjectAltName] = []
        if self.identity.role.needs_sans:
            listed = list(current.names if self.sans is None else self.sans)
            if self.sans == ():  # --no-default-san alone: the current names, less those
                defaults = {str(name) for name in server_names((), with_defaults=True)}
                listed = [name for name in current.names if _canonical(name) not in defaults]
            if force and self.sans is None:  # what the tool would not write is dropped
                listed = [name for name in listed if _writable(name)]
            try:
                names = parse_sans([*listed, *self.add_sans])
            except InvalidInput as error:
                raise CannotKeep(where, str(error)) from None
            if self.common_name is None and self.sans is not None and common_name:
                was_a_name = common_name.lower() in {
                    name.split(":", 1)[1].lower() for name in current.names}
                if was_a_name and common_name.lower() not in {n.value for n in names}:
                    common_name = None  # it named a SAN now dropped: it follows the new ones
        if common_name is None:
            common_name = default_server_cn(names) if self.identity.role.needs_sans else (
                self.bundle or DEFAULT_CLIENT_CN)
        key = self._key(current, where, force)
        if not force:
            _refuse_dropped(self, current, names, common_name, where)
        return LeafSpec(self.role, common_name, key, self.lifetime or span(current),
                        tuple(names), self.bundle)

    def _key(self, current: Certificate, where: Path, force: bool) -> KeySpec:
        """The current key's type and size, unless the request names others."""
        kind = self.key_kind or current.key_type
        bits = self.key_bits or (current.key_bits if kind == current.key_type else None)
        try:
            return KeySpec.parse(kind, bits)
        except InvalidInput as error:
            if self.key_bits is not None and self.key_kind is None:
                raise InvalidInput(f"{error}: {where} has a {current.key_label} key; "
                                   "name another type with --key-type") from None
            if not force:
                raise CannotKeep(where, str(error)) from None
            return KeySpec.parse(DEFAULT_KEY_TYPE)


class CannotKeep(InvalidInput):
    """A current certificate holds what this tool would not issue (``reason``)."""

    def __init__(self, where: Path, reason: str) -> None:
        self.reason = reason
        super().__init__(f"cannot renew {where} as it is: {reason}")


def _writable(name: str) -> bool:
    """Whether the SAN ``name`` (``DNS:x``, ``IP:y``) is one this tool would write."""
    try:
        parse_san(name.split(":", 1)[1])
        return True
    except InvalidInput:
        return False


def _refuse_dropped(request: Request, current: Certificate, names: Sequence[SubjectAltName],
                    common_name: str, where: Path) -> None:
    """Refuse a rotation that drops a name clients connect by, one the tool cannot write
    again (a URI or e-mail SAN), or the CN another --cn replaces."""
    kept = {str(name) for name in names}
    dropped = [name for name in current.names if _canonical(name) not in kept]
    ways = []
    if dropped:
        keep = " ".join(f"--san {quote(_canonical(name).split(':', 1)[1])}" for name in dropped)
        ways.append(f"add {keep} to keep {'it' if len(dropped) == 1 else 'them'}")
    if request.common_name is not None and current.subject_cn \
            and common_name != current.subject_cn:
        dropped.insert(0, f"CN={current.subject_cn}")
        ways.append(f"give --cn {quote(current.subject_cn)} instead to keep the CN")
    if current.other_names:
        dropped += current.other_names
        ways.append(f"this tool cannot write {', '.join(current.other_names)} again")
    if not dropped:
        return
    them = "it" if len(dropped) == 1 else "them"
    why = " (a client that connects by a name dropped fails once the daemon restarts)" \
        if any(not name.startswith("CN=") for name in dropped) else ""
    raise InvalidInput(f"{where} holds {', '.join(dropped)}, which this run would drop{why}: "
                       f"{'; '.join(ways)}; or give --force to drop {them}")


def _canonical(name: str) -> str:
    """A SAN as this tool writes it (``DNS:Manager.Example.com`` is ``DNS:manager.example.com``:
    names are case-insensitive), or as it is when the tool would not write it."""
    try:
        return str(parse_san(name.split(":", 1)[1]))
    except InvalidInput:
        return name


def renewal(current: Certificate, where: Path, role: Role | str, bundle: str | None,
            extra_sans: Sequence[str], lifetime: datetime.timedelta,
            key: KeySpec | None) -> LeafSpec:
    """What a renewal keeps: the current certificate's CN and SANs (plus ``extra_sans``)
    and its key type and size unless ``key`` says otherwise."""
    return Request(as_role(role), bundle, add_sans=tuple(extra_sans),
                   key_kind=key.kind if key else None, key_bits=key.bits if key else None,
                   lifetime=lifetime).resolve(current, where)


def successor_ca(old: Certificate, ca_days: int) -> CASpec:
    """The CA that replaces ``old`` when identities are cut off: named after it and of
    its key type (the default type if that one cannot be made)."""
    try:
        key = KeySpec.parse(old.key_type, old.key_bits)
    except InvalidInput:
        key = KeySpec.parse(DEFAULT_KEY_TYPE)
    return CASpec(successor_cn(old.subject_cn), key, ca_days)


def unstamped(name: str) -> str:
    """A CA's name without a successor's stamp: the line of CAs it belongs to."""
    return _DATED.sub("", name)


def successor_cn(old: str | None, now: datetime.datetime | None = None) -> str:
    """A replacement CA's default CN: the old one's, stamped with the UTC time to the
    second (minipaas-ca if unusable), so that two CAs made the same day (two
    revocations, a revocation then a rollover) differ in every message and in Go's
    errors.  The stamp is always later than the old one's: a chain of replacements
    never repeats a name, however fast they come."""
    moment = (now or clock.now()).astimezone(
        datetime.timezone.utc).replace(microsecond=0)
    stamped = _DATED.search(old or "")
    if stamped and stamped.group(1):
        previous = datetime.datetime.strptime(stamped.group(1), "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=datetime.timezone.utc)
        moment = max(moment, previous + datetime.timedelta(seconds=1))
    stamp = f"{moment:%Y-%m-%d %H:%M:%S}Z"
    base = _DATED.sub("", old or DEFAULT_CA_CN)  # one stamp, not one per replacement
    try:
        return parse_common_name(f"{base[:MAX_CN_LENGTH - len(stamp) - 1]} {stamp}")
    except InvalidInput:
        return f"{DEFAULT_CA_CN} {stamp}"
