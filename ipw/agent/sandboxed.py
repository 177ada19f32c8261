"""Running a model's program, or a task's check, in the sandbox over a copy of the task's workspace.

:func:`ipw._sandbox.run_untrusted` runs a program in a fresh folder of its
own and removes it afterwards, so the workspace travels as a tar archive: a
small launcher (:data:`_LAUNCHER`, run by the sandbox's Python) unpacks it
into ``ws/``, runs the program there, and then writes the folder back, packed,
after a random marker on stdout. What came back replaces the workspace
(:meth:`~.workspace.Workspace.replace_from` checks every name). A program
that is stopped by a limit, or ends itself with ``os._exit``, writes nothing
back, and the workspace stays as it was before the call.

A check is a shell command (``sh -c``) run the same way, with ``python`` and
``python3`` on its ``PATH`` meaning the sandbox's interpreter; its changes are
never taken back.

CPU time: the program runs in descendants of the sandbox's launcher, which
waits for them, so their CPU seconds reach ipw's ``RUSAGE_CHILDREN`` when the
launcher is reaped; :func:`run_in_workspace` reports the difference across
the call. The lock keeps two calls from counting each other's children. A
program killed at its wall timeout is killed with its launcher, and what it
had used is then not counted (the CPU limit, one second under the wall
limit, stops a busy loop first, and that one is counted).
"""

from __future__ import annotations

import base64
import math
import resource
import secrets
import threading
from dataclasses import dataclass

from .._sandbox import Limits, SandboxUnavailable, run_untrusted, sandbox_python
from .workspace import MAX_WORKSPACE_BYTES, PathRefused, Workspace

__all__ = ["ProgramRun", "run_in_workspace", "SandboxUnavailable"]

_LOCK = threading.Lock()

_LAUNCHER = r"""
import base64, io, os, runpy, sys, tarfile, traceback
mode, marker = sys.argv[1], sys.argv[2]
home = os.getcwd()
ws = os.path.join(home, "ws")
os.mkdir(ws)
with tarfile.open(os.path.join(home, "ws.tar")) as tar:
    tar.extractall(ws)  # written by ipw itself a moment ago
os.chdir(ws)
code = 0
if mode == "check":
    import subprocess
    bindir = os.path.join(home, "bin")
    os.mkdir(bindir)
    for name in ("python", "python3"):
        os.symlink(sys.executable, os.path.join(bindir, name))
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    with open(os.path.join(home, "check.sh")) as f:
        code = subprocess.call(["/bin/sh", "-c", f.read()], env=env)
    sys.stdout.flush()
    os._exit(code if 0 <= code < 256 else 1)
sys.argv = ["program.py"]
sys.path.insert(0, ws)
try:
    runpy.run_path(os.path.join(home, "program.py"), run_name="__main__")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if not isinstance(exc.code, int) and exc.code is not None:
        print(exc.code, file=sys.stderr)
except BaseException:
    traceback.print_exc()
    code = 1
sys.stdout.flush()
sys.stderr.flush()
os.chdir(ws)
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
    for name in sorted(os.listdir(ws)):
        tar.add(name)
out = sys.stdout.buffer
out.write(b"\n" + marker.encode() + b"\n" + base64.b64encode(buf.getvalue()))
out.flush()
os._exit(code if 0 <= code < 256 else 1)
"""


@dataclass(frozen=True)
class ProgramRun:
    """How one sandboxed run ended: its output, whether it succeeded, why it stopped, its CPU seconds."""

    ok: bool
    returncode: int | None
    stdout: str
    stderr: str
    reason: str | None  # a limit that stopped it (see ipw._sandbox), None when it ended by itself
    cpu_s: float | None
    workspace_note: str = ""  # why the workspace was not taken back, when it was not


def _limits(wall_s: float) -> Limits:
    wall_s = max(0.5, wall_s)
    # a busy loop meets the CPU limit before the wall one, so its CPU time is counted (see above)
    return Limits(wall_s=wall_s, cpu_s=max(1, math.ceil(wall_s) - 1),
                  output_bytes=2 * MAX_WORKSPACE_BYTES)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_in_workspace(workspace: Workspace, *, program: str | None = None, check: str | None = None,
                     wall_s: float = 10.0) -> ProgramRun:
    """Run Python ``program`` (its changes to the workspace taken back) or shell ``check`` (not taken back).

    Raises :class:`SandboxUnavailable` when nothing could run at all.
    """
    if (program is None) == (check is None):
        raise ValueError("give a program or a check, not both")
    python = sandbox_python()
    marker = "IPW-WORKSPACE-" + secrets.token_hex(16)
    files: dict[str, str | bytes] = {"launcher.py": _LAUNCHER, "ws.tar": workspace.pack()}
    if program is not None:
        files["program.py"] = program
    else:
        files["check.sh"] = check or ""
    argv = [python, "-I", "launcher.py", "program" if program is not None else "check", marker]
    with _LOCK:
        before = _children_cpu_s()
        result = run_untrusted(argv, files=files, limits=_limits(wall_s))
        cpu_s = max(0.0, _children_cpu_s() - before)
    stdout = result.stdout
    note = ""
    if program is not None:
        head, found, tail = stdout.rpartition(b"\n" + marker.encode() + b"\n")
        if found:
            stdout = head
            try:
                workspace.replace_from(base64.b64decode(tail, validate=True))
            except (PathRefused, ValueError) as exc:
                note = f"the workspace was left as it was: {exc}"
        else:
            note = "the program did not finish, so the workspace was left as it was"
    return ProgramRun(ok=result.ok, returncode=result.returncode, stdout=stdout.decode("utf-8", "replace"),
                      stderr=result.stderr.decode("utf-8", "replace"), reason=result.reason, cpu_s=round(cpu_s, 6),
                      workspace_note=note)
