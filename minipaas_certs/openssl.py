"""The one place that runs the openssl binary."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, NamedTuple, Sequence, Union

from . import interrupts
from .errors import CertsError, Interrupted, InvalidInput, OpenSSLFailed, OpenSSLUnavailable

DEFAULT_TIMEOUT = 300.0  # seconds; RSA 4096 key generation can take many seconds
TIMEOUT_VARIABLE = "MINIPAAS_OPENSSL_TIMEOUT"
_VERSION = re.compile(r"(OpenSSL|LibreSSL) (\d+)\.(\d+)\.(\d+)([a-z]*)\b")
# Variables a dynamically linked or wrapped openssl may need to start at all; every
# other inherited variable (OPENSSL_CONF, OPENSSL_MODULES, RANDFILE, HOME...) is
# dropped so that nothing outside the tool changes what openssl produces.
_KEPT_ENVIRONMENT = ("PATH", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "SYSTEMROOT")
Argument = Union[str, "os.PathLike[str]"]


class Version(NamedTuple):
    """What ``openssl version`` reported, reduced to what the tool decides on."""

    flavour: str  # "OpenSSL" or "LibreSSL"
    number: tuple[int, int, int]


def parse_version(text: str) -> Version:
    """Parse the first words of ``openssl version``; refuse what is too old or unknown."""
    match = _VERSION.match(text.strip())
    if not match:
        first_line = text.strip().splitlines()[0] if text.strip() else "nothing"
        raise OpenSSLUnavailable(
            f"unrecognised openssl version {first_line!r}: OpenSSL 1.1.1 or newer "
            "(or LibreSSL 3) is required"
        )
    flavour = match.group(1)
    number = (int(match.group(2)), int(match.group(3)), int(match.group(4)))
    minimum = (1, 1, 1) if flavour == "OpenSSL" else (3, 0, 0)
    if number < minimum:
        raise OpenSSLUnavailable(
            f"{match.group(0)} is too old: OpenSSL 1.1.1 or newer (or LibreSSL 3) is required"
        )
    return Version(flavour, number)


def clean_environment() -> dict[str, str]:
    """The environment every openssl child gets: only what it needs to start.

    OPENSSL_CONF points at an empty file because an inherited one can switch
    providers (a FIPS ``default_properties`` breaks key generation) and a missing
    one is silently ignored; every call that needs a config passes its own.
    """
    env = {name: os.environ[name] for name in _KEPT_ENVIRONMENT if name in os.environ}
    env.update(OPENSSL_CONF=os.devnull, LC_ALL="C")
    return env


def _timeout_from_environment() -> float:
    text = os.environ.get(TIMEOUT_VARIABLE)
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not 0 < value <= 86400:
        raise InvalidInput(f"{TIMEOUT_VARIABLE}={text!r}: give seconds, more than 0")
    return value


class OpenSSL:
    """An openssl executable: resolved once, its version detected once, run safely."""

    def __init__(self, executable: str | None = None, timeout: float | None = None):
        wanted = executable or "openssl"
        found = shutil.which(wanted)
        if found is None:
            where = "on PATH" if executable is None else "(from --openssl / MINIPAAS_OPENSSL)"
            raise OpenSSLUnavailable(
                f"openssl not found {where}: install OpenSSL 1.1.1 or newer, "
                "or name the binary with --openssl PATH"
            )
        self.executable = found
        self.timeout = timeout if timeout is not None else _timeout_from_environment()
        self._env = clean_environment()
        self._version: Version | None = None
        self._detection: threading.Thread | None = None
        self._detection_error: CertsError | None = None
        # Re-entrant: the signal handler runs in the main thread, possibly while
        # that thread is inside `start`.
        self._lock = threading.RLock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._cancelled: int | None = None
        _instances.add(self)

    def start_detection(self) -> None:
        """Run ``openssl version`` in the background while the caller gets ready."""
        self._detection = threading.Thread(target=self._detect, daemon=True)
        self._detection.start()

    def _detect(self) -> None:
        try:
            text = self.run(["version"]).decode("utf-8", "replace")
            self._version = parse_version(text)
        except OpenSSLFailed as error:
            self._detection_error = OpenSSLUnavailable(f"{self.executable} does not run: {error}")
        except CertsError as error:
            self._detection_error = error

    @property
    def version(self) -> Version:
        """The detected version; ``openssl version`` runs at most once per instance."""
        if self._detection is not None:
            self._detection.join()
        elif self._version is None and self._detection_error is None:
            self._detect()
        if self._detection_error is not None:
            raise self._detection_error
        assert self._version is not None
        return self._version

    def argv(self, args: Sequence[Argument]) -> list[str]:
        """The full command line for ``args`` (exposed for tests and messages)."""
        return [self.executable, *[os.fspath(arg) for arg in args]]

    def run(self, args: Sequence[Argument], *, stdin: bytes | None = None,
            cwd: Path | None = None, secrets: Mapping[str, bytes] | None = None,
            inherit: Sequence[int] = ()) -> bytes:
        """Run ``openssl ARGS`` and wait; return its stdout, or raise OpenSSLFailed."""
        return self.start(args, stdin=stdin, cwd=cwd, secrets=secrets, inherit=inherit).wait()

    def start(self, args: Sequence[Argument], *, stdin: bytes | None = None,
              cwd: Path | None = None, secrets: Mapping[str, bytes] | None = None,
              inherit: Sequence[int] = ()) -> Running:
        """Start ``openssl ARGS`` without waiting (``wait()`` on the result).

        Never through a shell; stdin is closed unless bytes are given, so openssl
        can never stop to prompt.  ``secrets`` maps an option (``-passin``,
        ``-pass``) to a passphrase, handed over through a pipe as ``fd:N``:
        never in argv or the environment, which other users can read.
        ``inherit``: descriptors the child gets (files opened and checked by the
        caller, named ``/dev/fd/N`` in ``args``).
        """
        argv = self.argv(args)
        pipes = [_secret_pipe(secret) for secret in (secrets or {}).values()]
        # After the other options: `ca -infiles` takes every argument after it as a file.
        end = argv.index("-infiles") if "-infiles" in argv else len(argv)
        argv[end:end] = [part for option, descriptor in zip(secrets or {}, pipes)
                         for part in (option, f"fd:{descriptor}")]
        try:
            # Under the lock, so that `cancel` either stops this child or sees it refused.
            with self._lock:
                if self._cancelled is not None:
                    raise Interrupted(self._cancelled)
                process = subprocess.Popen(
                    argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, env=self._env, cwd=cwd,
                    pass_fds=[*pipes, *inherit],
                )
                self._running.add(process)
                if self._cancelled is not None:  # a signal arrived during Popen
                    process.kill()
        except OSError as error:
            raise OpenSSLUnavailable(f"cannot run {self.executable}: {error.strerror}") from None
        finally:
            for descriptor in pipes:
                os.close(descriptor)
        return Running(self, argv, process, stdin or b"")

    def _finished(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.discard(process)

    def cancel(self, signal_number: int) -> None:
        """Stop every running openssl child and refuse to start new ones."""
        with self._lock:
            self._cancelled = signal_number
            self.stop_all()

    def stop_all(self) -> None:
        """Kill every openssl child still running (quick: the signal handler calls it)."""
        with self._lock:
            for process in list(self._running):
                if process.returncode is None:
                    with contextlib.suppress(OSError):
                        process.kill()

    def reap(self) -> None:
        """Kill and wait for every child still running: before a run's staging folder
        goes, nothing may still be writing into it."""
        self.stop_all()
        with self._lock:
            leftovers = list(self._running)
        for process in leftovers:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                process.wait(timeout=10)
            self._finished(process)


_instances: weakref.WeakSet[OpenSSL] = weakref.WeakSet()


def _cancel_all(signal_number: int) -> None:
    for instance in list(_instances):
        instance.cancel(signal_number)


def _reap_all() -> None:
    for instance in list(_instances):
        instance.reap()


interrupts.on_signal(_cancel_all)
interrupts.before_exit(_reap_all)


class Running:
    """An openssl child started by ``OpenSSL.start``."""

    def __init__(self, owner: OpenSSL, argv: list[str], process: subprocess.Popen[bytes],
                 stdin: bytes) -> None:
        self.owner, self.argv, self.process, self.stdin = owner, argv, process, stdin
        self.deadline = time.monotonic() + owner.timeout

    def wait(self) -> bytes:
        """Wait for the child (within the timeout); its stdout, or OpenSSLFailed."""
        process = self.process
        try:
            remaining = max(0.0, self.deadline - time.monotonic())
            stdout, stderr = process.communicate(self.stdin, timeout=remaining)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
            raise OpenSSLFailed(self.argv, None, stderr.decode("utf-8", "replace")
                                + f" (no answer after {self.owner.timeout:g} s)") from None
        finally:
            if process.poll() is None:  # interrupted while waiting: never leave it running
                process.kill()
                process.wait()
            self.owner._finished(process)
        if self.owner._cancelled is not None:
            raise Interrupted(self.owner._cancelled)
        if process.returncode != 0:
            raise OpenSSLFailed(self.argv, process.returncode, stderr.decode("utf-8", "replace"),
                                stdout)
        return stdout


def _secret_pipe(secret: bytes) -> int:
    """A pipe's read end that yields ``secret`` and a newline, then end of file."""
    descriptor = input_pipe(secret + b"\n")
    assert descriptor is not None  # far below a pipe's buffer
    return descriptor


def input_pipe(data: bytes) -> int | None:
    """A pipe's read end that yields ``data``, then end of file; None if ``data`` does
    not fit in the pipe's buffer (writing it would wait for a reader).

    A child reads it as ``/dev/fd/N`` (see ``OpenSSL.start``'s ``inherit``): an
    input without a file created and removed for it.
    """
    read_end, write_end = os.pipe()
    try:
        os.set_blocking(write_end, False)
        written = os.write(write_end, data) if data else 0
    except BlockingIOError:
        written = -1
    finally:
        os.close(write_end)
    if written != len(data):
        os.close(read_end)
        return None
    return read_end


def descriptor_budget(workers: int) -> int:
    """How many descriptors one openssl call may be handed, so that ``workers`` such
    calls at once stay well inside the open-file limit (1024 by default; often less)."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        soft = 4096
    return max(1, min(256, (soft - 64) // (2 * workers)))


@contextmanager
def children_reaped(openssl: OpenSSL) -> Iterator[None]:
    """No openssl child outlives the block (it writes into the staging folder)."""
    try:
        yield
    finally:
        openssl.reap()
