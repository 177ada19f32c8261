"""One writer per run: an exclusive OS lock on the run folder.

Every path that appends to a ledger (record, resume, a replay that judges,
import-power, repair, import) holds :class:`RunLock` from before it first
touches ``events/`` until it has closed the ledger. Readers never take it.

The lock is ``flock(2)`` on ``RUN/writer.lock``. The OS drops it when the
process ends, however it ends, so a killed writer never blocks the next one.
The same file says who holds it (pid, command, since) so that a refused
writer can name the holder; what a killed writer left there is ignored,
because only the OS lock counts. The file is never deleted: removing a lock
file while another process waits on it would let two writers hold locks on
two different files of the same name.

``flock`` rather than the ``filelock`` package: ``filelock`` truncates the
lock file each time it tries to acquire it, which would wipe the holder's
details exactly when a second writer needs them.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..errors import LedgerError, LedgerLockedError

LOCK_NAME = "writer.lock"

OnWait = Callable[["LockHolder | None"], None]


@dataclass(frozen=True)
class _Policy:
    command: str | None = None
    wait: bool = False
    on_wait: OnWait | None = None


# set by the CLI around a command: how it names itself and whether it waits (--wait) for another writer
_POLICY: contextvars.ContextVar[_Policy] = contextvars.ContextVar("ipw_writer_policy", default=_Policy())

# lock files this process holds, so a reader here can tell its own writer is live
_HELD_HERE: set[str] = set()


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held) a run's lock, as written in the lock file."""

    pid: int
    command: str
    since: str
    host: str
    process_started_s: float | None = None

    def describe(self) -> str:
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"pid {self.pid}{where} ({self.command}) since {self.since}"


def lock_path(run_dir: Path) -> Path:
    return Path(run_dir) / LOCK_NAME


@contextlib.contextmanager
def writer_policy(*, command: str | None = None, wait: bool = False, on_wait: OnWait | None = None) -> Iterator[None]:
    """How the writers started inside this block behave when their run is locked.

    ``wait`` makes them wait for the holder instead of refusing; ``on_wait``
    is called once, with the holder, before a wait starts. ``command`` is how
    they name themselves in the lock file (the CLI passes its command path,
    e.g. ``ipw ledger repair``; by default the program's name).
    """
    token = _POLICY.set(_Policy(command, wait, on_wait))
    try:
        yield
    finally:
        _POLICY.reset(token)


class RunLock:
    """The exclusive writer lock of one run folder.

    ``acquire`` refuses with :class:`LedgerLockedError` (exit 3) when another
    writer holds it, or waits when asked to (``wait=True``, or inside
    :func:`writer_policy`). ``release`` may be called any number of times.
    """

    def __init__(self, run_dir: Path, *, command: str | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.path = lock_path(run_dir)
        self.command = command or _POLICY.get().command or _command_line()
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, wait: bool | None = None, create_dir: bool = False) -> "RunLock":
        """Take the lock; ``create_dir`` also creates the run folder (for a new run)."""
        import fcntl

        if self._fd is not None:
            return self
        policy = _POLICY.get()
        if wait is None:
            wait = policy.wait
        if create_dir:
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LedgerError(
                    f"cannot create the run folder {self.run_dir}: {exc.strerror or exc}",
                    hint="choose another --output-dir or --run-name",
                ) from exc
        try:
            # no O_TRUNC: the holder's details must survive another process opening the file
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise LedgerError(
                f"cannot open the writer lock {self.path}: {exc.strerror or exc}",
                hint="the run folder must exist and be writable; choose another --output-dir or --run-name",
            ) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder_retrying(self.path)
                if not wait:
                    raise LedgerLockedError(
                        f"{self.run_dir} is being written by "
                        + (holder.describe() if holder else "another process")
                        + ", and a run takes one writer at a time",
                        hint="wait for it to finish and run this again, or add --wait to queue behind it",
                    ) from None
                if policy.on_wait is not None:
                    policy.on_wait(holder)
                fcntl.flock(fd, fcntl.LOCK_EX)  # blocks; Ctrl-C still interrupts it
            self._write_holder(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        _HELD_HERE.add(_key(self.path))
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        _HELD_HERE.discard(_key(self.path))
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # an empty file: nobody holds it
        os.close(fd)  # closing drops the flock

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def _write_holder(self, fd: int) -> None:
        me = LockHolder(
            pid=os.getpid(),
            command=self.command,
            since=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            host=socket.gethostname(),
            process_started_s=_process_started_s(os.getpid()),
        )
        data = json.dumps(me.__dict__).encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        except OSError:
            pass  # the details only name the holder; the lock itself is what protects the run


def read_holder(run_dir: Path) -> LockHolder | None:
    """The details in the lock file, without taking the lock; ``None`` when there are none."""
    try:
        raw = lock_path(run_dir).read_bytes()[:4096]
        data = json.loads(raw)
        return LockHolder(
            pid=int(data["pid"]),
            command=str(data.get("command", "?"))[:200],
            since=str(data.get("since", "?"))[:40],
            host=str(data.get("host", ""))[:255],
            process_started_s=float(data["process_started_s"]) if data.get("process_started_s") is not None else None,
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None


def active_writer(run_dir: Path) -> LockHolder | None:
    """The writer appending to this run right now, if any, found without taking the lock.

    Readers use it to tell a frame still being written from a tail torn by a
    crash. A holder on another host cannot be checked and counts as live.
    """
    holder = read_holder(run_dir)
    if holder is None:
        return None
    if holder.host != socket.gethostname():
        return holder
    if holder.pid == os.getpid():
        return holder if _key(lock_path(run_dir)) in _HELD_HERE else None
    return holder if _alive(holder) else None  # a writer that was killed leaves its details behind


def _read_holder_retrying(path: Path) -> LockHolder | None:
    # the holder writes its details just after taking the lock; until then the file is
    # empty or still names a writer that was killed, so wait a moment for a live one
    for _ in range(50):
        holder = read_holder(path.parent)
        if holder is not None and (holder.host != socket.gethostname() or _alive(holder)):
            return holder
        time.sleep(0.02)
    return None


def _started_s(pid: int) -> float:
    """When process ``pid`` started, in seconds since the epoch: ``psutil.Process(pid).create_time()``.

    On Linux it is read from /proc the way psutil computes it (the start in
    clock ticks since boot, plus the boot time), because importing psutil
    costs each run ~20-35 ms of CPU; elsewhere psutil answers. Raises
    ``ProcessLookupError`` when there is no such process, ``OSError`` when
    it cannot be told.
    """
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{int(pid)}/stat", "rb") as fh:
                stat = fh.read()
        except FileNotFoundError as exc:
            raise ProcessLookupError(pid) from exc
        try:
            # the command name (field 2) may hold spaces and parentheses: the fields after its last ")"
            # start at field 3, so the start time (field 22) is the 20th of them
            ticks = int(stat.rsplit(b")", 1)[1].split()[19])
            return ticks / os.sysconf("SC_CLK_TCK") + _boot_time_s()
        except (IndexError, ValueError) as exc:
            raise OSError(f"/proc/{pid}/stat is not readable as a process's status") from exc
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.NoSuchProcess as exc:
        raise ProcessLookupError(pid) from exc
    except psutil.Error as exc:
        raise OSError(str(exc)) from exc


def _boot_time_s() -> float:
    with open("/proc/stat", "rb") as fh:
        for line in fh:
            if line.startswith(b"btime"):
                return float(line.split()[1])
    raise OSError("/proc/stat has no btime line")


def _process_started_s(pid: int) -> float | None:
    try:
        return _started_s(pid)
    except OSError:
        return None


def _alive(holder: LockHolder) -> bool:
    """Whether the holder's process still runs (and is the same process, not a reused pid)."""
    try:
        started = _started_s(holder.pid)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists but may not be inspected: count it as live
    return holder.process_started_s is None or abs(started - holder.process_started_s) < 1.0


def _command_line() -> str:
    """The program, for a writer outside the CLI (which names itself): never its arguments, they may hold secrets."""
    return f"{os.path.basename(sys.executable) or 'python'} {os.path.basename(sys.argv[0]) if sys.argv else ''}".strip()


def _key(path: Path) -> str:
    return os.path.realpath(path)


__all__ = ["LOCK_NAME", "LockHolder", "RunLock", "active_writer", "lock_path", "read_holder", "writer_policy"]
