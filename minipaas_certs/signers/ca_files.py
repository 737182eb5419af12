"""A CA from files: ca.pem and ca-key.pem in the output directory, or in another
folder (``--ca-dir``, an organisation's intermediate), read once under a shared
lock and checked fit to sign before any key is made."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..authority import Authority, load_authority, read_ca
from ..certinfo import parse_pem
from ..errors import OutputError, quote
from ..files import read_limited
from ..identity import renew_every
from ..layout import CA_CERT, CA_KEY
from ..plan import leaf_end
from ..store import same_directory
from .base import Signer, Signing, SigningRun, copy_ca, differs, refuse_left_behind
from .local import sign_locally

if TYPE_CHECKING:
    from ..plan import LeafSpec, Placement


class CAFiles(Signer):
    """The CA in ``folder``, or (None) in the output directory."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder

    @property
    def options(self) -> tuple[str, ...]:
        return (f"--ca-dir {quote(self.folder)}",) if self.folder is not None else ()

    def open(self, run: SigningRun) -> Signing:
        return _FilesSigning(run, self.folder or run.out)

    def other_ca(self, out: Path) -> bool:
        """Whether the roots of the folder's ca.pem differ from those of ``out``'s (what
        a signing from it copies into ``out``); unreadable counts as different, and the
        run then reads it properly."""
        if self.folder is None:
            return False
        try:
            theirs = parse_pem(read_limited(self.folder / CA_CERT), self.folder / CA_CERT)
            ours = parse_pem(read_limited(out / CA_CERT), out / CA_CERT)
        except (OutputError, OSError):
            return True
        roots = [cert for cert in theirs if cert.self_issued] \
            if not all(cert.self_issued for cert in theirs) else theirs
        return {cert.der for cert in roots} != {cert.der for cert in ours}


class _FilesSigning(Signing):
    def __init__(self, run: SigningRun, source: Path) -> None:
        super().__init__(run)
        self.source = source
        cert_pem, key_pem = read_ca(run.store, source)
        self.authority: Authority = load_authority(run.openssl, run.store.staging, source,
                                                   cert_pem, key_pem, run.passphrase)
        self.elsewhere = not same_directory(source, run.out)
        self.replaces_ca = self.elsewhere and differs(run.store, self.authority.cert_pem)
        plan = run.plan
        if self.replaces_ca and plan.force and plan.others and plan.others.within is not None:
            run.progress(f"{source / CA_CERT} is not the CA of {run.out / CA_CERT}: every "
                         "certificate is re-issued from it, not only those due")

    def prepare(self, leaves: Sequence[LeafSpec], placement: Placement,
                gone: set[str]) -> None:
        run, source, loaded = self.run, self.source, self.authority
        if self.elsewhere:  # what is left behind, before --force
            again = renew_every(out=run.out,
                                  options=[("--ca-dir", source), "--force"])
            refuse_left_behind(run.out, gone, loaded.cert_pem, source / CA_CERT,
                               f"re-issue every certificate from it in one step with "
                               f"`{again}`")
            copy_ca(run, placement, loaded.cert_pem, source / CA_CERT, self.replaces_ca)
        if run.passphrase is not None and loaded.passphrase is None:
            run.progress(f"Note: {source / CA_KEY} is not encrypted; the passphrase "
                         "was not needed")
        for spec in leaves:
            loaded.check_can_sign_until(leaf_end(spec.lifetime))

    def sign(self, leaves: Sequence[LeafSpec]) -> bytes:
        authority = self.authority
        return sign_locally(self.run, lambda: authority, leaves)
