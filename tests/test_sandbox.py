"""The sandbox for untrusted programs: each hostile program is contained within its limits, and nothing survives it.

These run real programs in real child processes; every storm is bounded
(a fork loop that stops at 3,000, output that the cap stops long before
10 GB), so a broken sandbox fails the test without harming a shared machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from ipw._sandbox import SANDBOX_UID, Limits, SandboxResult, run_untrusted, sandbox_python

ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def python() -> str:
    return sandbox_python()


def _survivors(result: SandboxResult) -> list[int]:
    """Processes still in the run's session, or whose HOME is its folder (one that left the session)."""
    found = []
    home = f"HOME={result.workdir}".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat_fields = Path(f"/proc/{entry.name}/stat").read_bytes().rpartition(b")")[2].split()
            if stat_fields[0] == b"Z":
                continue
            if int(stat_fields[3]) == result.session_id or home in Path(f"/proc/{entry.name}/environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _run(python: str, source: str, **kwargs: object) -> SandboxResult:
    result = run_untrusted([python, "-I", "main.py"], files={"main.py": source}, **kwargs)  # type: ignore[arg-type]
    assert _survivors(result) == [], "a process of the sandbox outlived it"
    assert not Path(result.workdir).exists(), "the sandbox folder was left behind"
    return result


def _unshare_works() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-n", "true"], capture_output=True).returncode == 0


def test_a_plain_program_runs_with_its_stdin_and_home_in_the_folder(python: str) -> None:
    result = _run(python, "import os, sys\nprint(sys.stdin.read().upper(), os.environ['HOME'], os.getcwd())\n",
                  stdin=b"ab")
    assert result.ok, result
    said, home, cwd = result.stdout.decode().split()
    assert said == "AB" and home == result.workdir and os.path.realpath(cwd) == os.path.realpath(result.workdir)
    if ROOT:
        assert result.isolation["uid"] == SANDBOX_UID


def test_a_bounded_fork_storm_stops_at_the_process_limit(python: str) -> None:
    storm = (
        "import os, time\n"
        "n = 0\n"
        "for _ in range(3000):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "    n += 1\n"
        "print(n, flush=True)\n"
    )
    result = _run(python, storm, limits=Limits(processes=24, wall_s=20))
    forks = int(result.stdout.decode().split()[0])
    assert forks < 24, f"{forks} forks succeeded under a limit of 24 processes"


def test_a_child_that_leaves_the_session_dies_with_the_run(python: str) -> None:
    escape = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(30)\n"
        "    os._exit(0)\n"
        "time.sleep(0.3)\n"
        "print('parent done', flush=True)\n"
    )
    result = _run(python, escape)
    assert b"parent done" in result.stdout


def test_rm_rf_home_deletes_only_the_sandbox_folder(python: str) -> None:
    # a folder owned by the tester, readable by all: the sandbox's user may look but not delete
    guarded = Path(tempfile.mkdtemp(prefix="ipw-canary-"))
    try:
        os.chmod(guarded, 0o755)
        canary = guarded / "canary.txt"
        canary.write_text("alive")
        os.chmod(canary, 0o644)
        attack = (
            "import os, subprocess\n"
            "print(os.environ['HOME'], flush=True)\n"
            "subprocess.run('rm -rf ~ ; rm -rf ~/', shell=True)\n"
            + (f"subprocess.run(['rm', '-rf', {str(guarded)!r}])\n" if ROOT else "")
        )
        result = _run(python, attack)
        assert result.stdout.decode().split()[0] == result.workdir
        assert canary.read_text() == "alive"
        assert stat.S_IMODE(guarded.stat().st_mode) == 0o755
    finally:
        shutil.rmtree(guarded)


def test_an_infinite_loop_is_stopped_by_the_wall_timeout(python: str) -> None:
    result = _run(python, "while True:\n    pass\n", limits=Limits(wall_s=1.0, cpu_s=30))
    assert result.reason == "timeout"
    assert result.returncode is not None and result.returncode < 0


def test_ten_gigabytes_of_output_are_cut_at_the_cap(python: str) -> None:
    flood = "import sys\nblock = 'x' * 65536\nfor _ in range(160_000):\n    sys.stdout.write(block)\n"
    result = _run(python, flood, limits=Limits(output_bytes=256 * 1024))
    assert result.reason == "output_limit"
    assert len(result.stdout) == 256 * 1024


def test_a_file_stops_growing_at_the_file_size_limit(python: str) -> None:
    writer = (
        "import os\n"
        "block = b'x' * 65536\n"
        "try:\n"
        "    with open('big', 'wb') as f:\n"
        "        for _ in range(160_000):\n"
        "            f.write(block)\n"
        "except OSError as exc:\n"
        "    print('refused', exc.errno)\n"
        "print(os.path.getsize('big'))\n"
    )
    result = _run(python, writer, limits=Limits(file_bytes=1024**2))
    lines = result.stdout.decode().split("\n")
    if result.reason is None:  # Python ignores SIGXFSZ, so the write fails with EFBIG instead of a signal
        assert lines[0].startswith("refused") and int(lines[1]) <= 1024**2
    else:
        assert result.reason == "signal:SIGXFSZ"


def test_no_socket_reaches_loopback_where_unshare_exists(python: str) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        probe = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)\nprint('connected')\n"
        result = _run(python, probe)
    if _unshare_works():
        assert result.isolation["network"] is True
        assert b"connected" not in result.stdout and result.returncode != 0
        assert b"unreachable" in result.stderr.lower() or b"refused" in result.stderr.lower()
    else:
        assert result.isolation["network"] is False


def test_a_memory_hog_meets_the_address_space_limit(python: str) -> None:
    result = _run(python, "hog = bytearray(4 * 1024**3)\nprint('allocated')\n", limits=Limits(memory_bytes=512 * 1024**2))
    assert result.returncode != 0 and b"allocated" not in result.stdout
    assert b"MemoryError" in result.stderr


def test_cpu_time_is_capped_apart_from_the_wall_clock(python: str) -> None:
    result = _run(python, "while True:\n    pass\n", limits=Limits(cpu_s=1, wall_s=30))
    assert result.reason == "cpu_time"


def test_none_of_ipws_environment_reaches_the_program(python: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPW_EVAL_API_KEY", "sk-sandbox-canary-123")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sandbox-canary-456")
    result = _run(python, "import os\nprint(sorted(os.environ.items()))\n")
    assert result.ok and b"sk-sandbox-canary" not in result.stdout
    assert b"OPENAI_API_KEY" not in result.stdout


def test_sandboxes_run_side_by_side_from_threads(python: str) -> None:
    results: list[SandboxResult] = []

    def one(i: int) -> None:
        results.append(_run(python, f"print({i} * 2)\n"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(int(r.stdout) for r in results) == [0, 2, 4, 6]


def test_a_file_name_may_not_leave_the_folder() -> None:
    with pytest.raises(ValueError):
        run_untrusted(["true"], files={"../escape.py": "x"})
