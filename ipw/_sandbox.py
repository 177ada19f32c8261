"""Running an untrusted program: a child process with limits, never ipw's own process.

A model's program is hostile until it has finished: it may fork without end,
delete the home folder, loop forever, print 10 GB, open sockets or eat
memory. :func:`run_untrusted` runs it in a fresh temporary folder and returns
a :class:`SandboxResult`; a program that hits a limit is stopped and the
result's ``reason`` says which one (``"timeout"``, ``"output_limit"``,
``"cpu_time"``, ``"signal:<NAME>"``), never an exception.

What stands between the program and the machine (each from :class:`Limits`):

- rlimits set in the child before ``exec``: CPU seconds, address space
  (``RLIMIT_AS``), size of any file written (``RLIMIT_FSIZE``), open files,
  no core dumps, and the process count (``RLIMIT_NPROC``);
- ``RLIMIT_NPROC`` does not bind root, so when ipw runs as root the program
  runs as ``nobody`` (65534), with the temporary folder handed to it; as
  another user the cap is that user's current process count plus the limit;
- namespaces where the kernel grants them: a network namespace (loopback
  down, so no socket reaches anything, 127.0.0.1 included) and a PID
  namespace, so every process the program starts dies with it, even one
  that left the session; ``isolation`` in the result says which were had;
- a wall-clock timeout, after which the whole session is killed; at the end
  the session's process group, any process still in the session, and any
  process carrying this run's marker in its environment are killed;
- output read with a byte cap (the program is killed when it passes it);
  stdin comes from a file, so nothing blocks on a full pipe;
- a scrubbed environment: ``HOME`` and ``TMPDIR`` are the temporary folder,
  ``PATH`` the system's, and nothing of ipw's own environment (its keys) is
  passed on.

The child is a small launcher (``python -I -S -c``) that unshares, forks the
namespace's first process, which forks the program, drops privileges and ``exec``s;
no ``preexec_fn`` runs in ipw, so this is safe to call from judging threads.

This module imports nothing from ipw, so every layer may use it.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

__all__ = [
    "Limits",
    "SandboxResult",
    "SandboxUnavailable",
    "SANDBOX_UID",
    "run_untrusted",
    "sandbox_python",
]

SANDBOX_UID = 65534  # nobody
_MARKER = "IPW_SANDBOX_RUN"
_SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


class SandboxUnavailable(RuntimeError):
    """The program could not be started in a sandbox at all; ``str()`` says why."""


@dataclass(frozen=True)
class Limits:
    """What one run of an untrusted program may use."""

    wall_s: float = 10.0
    cpu_s: int = 10
    memory_bytes: int = 1024**3
    file_bytes: int = 16 * 1024**2
    processes: int = 64
    output_bytes: int = 1024**2  # each of stdout and stderr
    open_files: int = 256


@dataclass(frozen=True)
class SandboxResult:
    """How an untrusted program ended.

    ``returncode`` is negative for a signal (as in :mod:`subprocess`);
    ``reason`` is None when the program ended on its own within every limit.
    ``isolation`` records what held it: ``uid``, ``network`` (own namespace),
    ``pid_namespace``. ``session_id`` is the session its processes ran in.
    """

    returncode: int | None
    stdout: bytes
    stderr: bytes
    reason: str | None
    wall_s: float
    isolation: dict[str, object] = field(default_factory=dict)
    session_id: int = 0
    workdir: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None and self.returncode == 0


# The launcher runs in the child, in a fresh interpreter (``-I -S``: no site, no PYTHON* variables).
# It takes one JSON argument and writes one JSON line to the status pipe before the program starts.
_LAUNCHER = r"""
import ctypes, json, os, resource, signal, sys
cfg = json.loads(sys.argv[1])
status = os.fdopen(cfg["status_fd"], "w")
try:
    libc = ctypes.CDLL(None, use_errno=True)
except OSError:
    libc = None
NEWUSER, NEWPID, NEWNET = 0x10000000, 0x20000000, 0x40000000
def unshare(flags):
    return libc is not None and libc.unshare(flags) == 0
base = 0 if cfg["drop"] else NEWUSER  # without root a namespace needs a user namespace of its own
net = pid = False
if cfg["namespaces"]:
    if unshare(base | NEWNET | NEWPID):
        net = pid = True
    elif unshare(base | NEWNET):
        net = True
def start_program():
    try:
        for name, soft, hard in cfg["rlimits"]:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        os.chdir(cfg["cwd"])
        if cfg["drop"]:
            os.setgroups([])
            os.setgid(cfg["uid"])
            os.setuid(cfg["uid"])
        os.execvpe(cfg["argv"][0], cfg["argv"], cfg["env"])
    except BaseException as exc:
        os.write(2, ("ipw sandbox: cannot start the program: %s\n" % (exc,)).encode())
    os._exit(127)
# The namespace's first process only waits: the kernel drops default-action signals sent to it
# (SIGXCPU, SIGSEGV), so the program runs as its child, and its wait status comes back on a pipe.
status_r, status_w = os.pipe()
first = os.fork()
if first == 0:
    os.close(status_r)
    if libc is not None:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: the namespace dies with its launcher
    program = os.fork()
    if program == 0:
        start_program()
    _, st = os.waitpid(program, 0)
    os.write(status_w, str(st).encode())
    os._exit(0)
os.close(status_w)
status.write(json.dumps({"network": net, "pid_namespace": pid, "uid": cfg["uid"] if cfg["drop"] else os.getuid()}))
status.close()
os.waitpid(first, 0)
raw = os.read(status_r, 64)
st = int(raw) if raw else 137 << 8
if os.WIFSIGNALED(st):
    sig = os.WTERMSIG(st)
    if sig not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(sig, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.kill(os.getpid(), sig)
os._exit(os.WEXITSTATUS(st) if os.WIFEXITED(st) else 1)
"""


def _processes_of_uid(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def _rlimits(limits: Limits, nproc: int) -> list[tuple[str, int, int]]:
    """(name, soft, hard) of each rlimit the program runs under."""
    return [
        # the hard CPU limit a second later, so the soft one's SIGXCPU names the cause before SIGKILL
        ("RLIMIT_CPU", int(limits.cpu_s), int(limits.cpu_s) + 1),
        *((name, int(value), int(value)) for name, value in (
            ("RLIMIT_AS", limits.memory_bytes),
            ("RLIMIT_FSIZE", limits.file_bytes),
            ("RLIMIT_NOFILE", limits.open_files),
            ("RLIMIT_CORE", 0),
            ("RLIMIT_NPROC", nproc),
        )),
    ]


def _leftovers(session_id: int, marker: str) -> list[int]:
    """Processes still in the run's session, or carrying its marker in their environment."""
    found = []
    needle = f"{_MARKER}={marker}".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
            if fields[0] == b"Z":
                continue  # a zombie holds nothing; its parent reaps it
            if int(fields[3]) == session_id:  # fields after the name: state, ppid, pgrp, session
                found.append(pid)
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(pid)
        except (OSError, ValueError, IndexError):
            continue
    return found


def _kill_all(session_id: int, marker: str) -> None:
    try:
        os.killpg(session_id, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for _ in range(3):  # a process forked while the first sweep ran is caught by the next
        pids = [p for p in _leftovers(session_id, marker) if p != os.getpid()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)


def _read_capped(proc: subprocess.Popen[bytes], deadline: float, cap: int) -> tuple[bytes, bytes, str | None]:
    """stdout and stderr, each at most ``cap`` bytes; the reason reading stopped early, if it did."""
    assert proc.stdout is not None and proc.stderr is not None
    chunks: dict[int, bytearray] = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    sel = selectors.DefaultSelector()
    for stream in (proc.stdout, proc.stderr):
        os.set_blocking(stream.fileno(), False)
        sel.register(stream.fileno(), selectors.EVENT_READ)
    reason = None
    exited_at: float | None = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                reason = "timeout"
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            # the program has ended: what a leftover holding the pipe open writes is not waited for
            if exited_at is not None and now - exited_at > 0.5:
                break
            for key, _ in sel.select(timeout=min(0.1, deadline - now)):
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not data:
                    sel.unregister(key.fd)
                    continue
                buf = chunks[key.fd]
                buf += data[: cap + 1 - len(buf)]
                if len(buf) > cap:
                    del buf[cap:]
                    reason = "output_limit"
                    break
            if reason:
                break
    finally:
        sel.close()
    return bytes(chunks[proc.stdout.fileno()]), bytes(chunks[proc.stderr.fileno()]), reason


def run_untrusted(
    argv: Sequence[str],
    *,
    files: Mapping[str, str | bytes] | None = None,
    stdin: bytes = b"",
    limits: Limits = Limits(),
    env: Mapping[str, str] | None = None,
    namespaces: bool = True,
) -> SandboxResult:
    """Run ``argv`` in a new temporary folder holding ``files`` (name → content), within ``limits``.

    ``argv[0]`` is looked up on the system ``PATH`` unless it is a path.
    ``env`` adds variables to the scrubbed environment. The folder is removed
    afterwards. :class:`SandboxUnavailable` means nothing ran (the launcher
    could not start); every way the program itself ends is a result.
    """
    drop = os.geteuid() == 0
    uid = SANDBOX_UID if drop else os.getuid()
    nproc = limits.processes if drop else _processes_of_uid(uid) + limits.processes
    marker = secrets.token_hex(8)
    workdir = Path(tempfile.mkdtemp(prefix="ipw-sandbox-"))
    try:
        for name, content in (files or {}).items():
            target = workdir / name
            if target.resolve().parent != workdir.resolve():
                raise ValueError(f"sandbox file name {name!r} must be a plain name")
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        (workdir / ".stdin").write_bytes(stdin)
        if drop:
            for path in [workdir, *workdir.iterdir()]:
                os.chown(path, SANDBOX_UID, SANDBOX_UID)
        os.chmod(workdir, 0o700)
        child_env = {"HOME": str(workdir), "TMPDIR": str(workdir), "PATH": _SYSTEM_PATH, "LANG": "C.UTF-8",
                     "PYTHONDONTWRITEBYTECODE": "1", _MARKER: marker, **(env or {})}
        return _launch(list(argv), workdir, child_env, limits, drop, uid, nproc, namespaces, marker)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _launch(argv: list[str], workdir: Path, env: dict[str, str], limits: Limits, drop: bool, uid: int,
            nproc: int, namespaces: bool, marker: str) -> SandboxResult:
    status_r, status_w = os.pipe()
    cfg = {"status_fd": status_w, "rlimits": _rlimits(limits, nproc), "cwd": str(workdir), "drop": drop,
           "uid": uid, "argv": argv, "env": env, "namespaces": namespaces}
    started = time.monotonic()
    try:
        with open(workdir / ".stdin", "rb") as stdin:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _LAUNCHER, json.dumps(cfg)],
                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(status_w,),
                start_new_session=True, env={"PATH": _SYSTEM_PATH}, cwd=str(workdir),
            )
    except OSError as exc:
        os.close(status_r)
        raise SandboxUnavailable(f"cannot start the sandbox launcher: {exc}") from exc
    finally:
        os.close(status_w)
    session_id = proc.pid  # start_new_session: the launcher leads its own session and group
    try:
        stdout, stderr, reason = _read_capped(proc, started + limits.wall_s, limits.output_bytes)
    finally:
        _kill_all(session_id, marker)
        returncode = proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
        with os.fdopen(status_r, "rb") as f:
            status = f.read(4096)
    try:
        isolation = json.loads(status) if status else {}
    except ValueError:
        isolation = {}
    if not isolation:
        raise SandboxUnavailable(f"the sandbox launcher failed: {stderr.decode(errors='replace')[-500:]}")
    if reason is None and returncode == -signal.SIGXCPU:
        reason = "cpu_time"
    elif reason is None and returncode is not None and returncode < 0:
        reason = f"signal:{signal.Signals(-returncode).name}"
    return SandboxResult(returncode, stdout, stderr, reason, time.monotonic() - started, isolation, session_id,
                         str(workdir))


_PYTHON_CACHE: dict[int, str] = {}


def sandbox_python() -> str:
    """A Python interpreter the sandbox's user can run (ipw's own may sit in a folder only root can enter).

    Tried in order: ipw's interpreter, its base interpreter, ``python3`` on
    the system path; the first that runs ``pass`` in the sandbox is kept.
    """
    uid = SANDBOX_UID if os.geteuid() == 0 else os.getuid()
    if uid in _PYTHON_CACHE:
        return _PYTHON_CACHE[uid]
    candidates = [sys.executable, getattr(sys, "_base_executable", ""), shutil.which("python3", path=_SYSTEM_PATH)]
    tried = []
    for candidate in dict.fromkeys(c for c in candidates if c):
        result = run_untrusted([candidate, "-I", "-c", "pass"], limits=Limits(wall_s=20))
        if result.ok:
            _PYTHON_CACHE[uid] = candidate
            return candidate
        tried.append(f"{candidate}: {(result.reason or result.stderr.decode(errors='replace').strip())[-200:]}")
    raise SandboxUnavailable("no Python interpreter runs in the sandbox (" + "; ".join(tried) + ")")
