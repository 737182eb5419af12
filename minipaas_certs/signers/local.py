"""Signing with a CA key on this machine: the pipeline the new-CA and CA-folder
signers share.

The leaves' keys and requests are made while the CA is made (or loaded and
checked): CPU-bound work in openssl children, run on ``workers`` threads.  Then
``openssl ca`` signs them (see ``signing.sign_leaves``), many leaves in parts so that
each part is signed and checked while later parts' keys are made.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from typing import TYPE_CHECKING, Callable, Sequence

from ..authority import Authority
from ..parallel import Deferred, run_all
from ..signing import LeafRequest, request_leaf, sign_leaves
from .base import SigningRun, copy_into_bundles

if TYPE_CHECKING:
    from ..plan import LeafSpec

_PIPELINE_FROM = 16  # leaves


def workers(leaves: Sequence[LeafSpec]) -> int:
    # One more than the cores for RSA keys (three keys on two cores finish in about
    # 1.5 key times instead of 2) and for a few leaves beside a new CA.  Many cheap
    # keys: one per core, as each request is then mostly process start-up (54 ECDSA
    # requests on two cores: 220 ms on two threads, 255 ms on three).
    cores = os.cpu_count() or 1
    few = len(leaves) <= cores
    return cores + 1 if few or any(spec.key.kind == "rsa" for spec in leaves) else cores


def batch_sizes(count: int) -> list[int]:
    """How many leaves each ``openssl ca`` call signs: many leaves in parts of half
    what is left, so that each part is signed and checked while the next ones' keys
    are made, and the last, which nothing overlaps, is small (200 leaves: 100, 50,
    25, 13, 12)."""
    sizes = []
    while count >= _PIPELINE_FROM:
        sizes.append((count + 1) // 2)
        count -= sizes[-1]
    return [*sizes, count] if count else sizes


def stop_children(run: SigningRun) -> Callable[[BaseException], None]:
    """What an interrupt does to the openssl children still running."""
    def stop(interrupt: BaseException) -> None:
        run.openssl.cancel(getattr(interrupt, "signal_number", signal.SIGINT))
    return stop


def sign_locally(run: SigningRun, provide: Callable[[], Authority],
                 leaves: Sequence[LeafSpec],
                 finish: Callable[[Authority], Authority] | None = None,
                 ca_requested: threading.Event | None = None) -> bytes:
    """Provide the authority and issue the leaves; returns the anchors' PEM.

    A new CA is ``provide``d as a provisional one (``authority.start_ca``), which signs
    while ``finish`` makes its ca.pem; its request is on the way to every
    signature, so the leaves render their configs (and compete for the
    interpreter) once ``ca_requested`` is set.
    """
    openssl, store, templates = run.openssl, run.store, run.templates
    signer: Deferred[Authority] = Deferred()
    authority: Deferred[Authority] = Deferred() if finish is not None else signer
    gate = ca_requested or threading.Event()

    def make_ca() -> None:
        try:
            signer.provide(provide)
        finally:
            gate.set()  # a CA that failed before its request lets the leaves fail too
        if finish is not None:  # ca.pem, while the leaves are signed by the provisional CA
            authority.provide(lambda: finish(signer.get()))

    sizes = batch_sizes(len(leaves))

    def sign(batch: int, parts: list[Deferred[LeafRequest]]) -> None:
        requests = [part.get() for part in parts]
        sign_leaves(openssl, store.staging, signer.get(), requests, templates, batch,
                    trust=authority.get)
        written = copy_into_bundles(store, [r.spec for r in requests],
                                    authority.get().cert_pem)
        if batch < len(sizes) - 1:  # while later parts' keys are made: less left to commit
            store.sync(written)

    making: list[Callable[[], object]] = [make_ca]
    signing: list[Callable[[], object]] = []
    requested: list[Deferred[LeafRequest]] = []
    for batch, size in enumerate(sizes):
        parts: list[Deferred[LeafRequest]] = [Deferred() for _ in range(size)]
        making += [functools.partial(part.provide, functools.partial(
            request_leaf, openssl, store.staging, spec, templates, gate.wait, run.progress))
            for part, spec in zip(parts, leaves[len(requested):])]
        signing.append(functools.partial(sign, batch, parts))
        requested += parts
    failed = threading.Event()

    def make() -> None:
        try:
            run_all(making, workers(leaves), failed=failed)
        except BaseException as error:  # the signing thread may wait for one never made
            for part in requested:
                part.fail(error)
            raise

    # The keys and requests on their workers; each part signed, checked and completed
    # on a thread of its own as soon as its requests are made, so that no worker
    # waits for a signature while requests remain.
    both: list[Callable[[], object]] = [make, functools.partial(run_all, signing, 1,
                                                                failed=failed)]
    run_all(both, 2, on_interrupt=stop_children(run))
    return authority.get().cert_pem
