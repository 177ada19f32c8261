"""The server ipw starts for a run: placeholders, health, a start that fails with its log, no orphan.

The server here is ``python -m http.server``, a real HTTP server process that
stands in for an inference server where only the process's life matters (start,
health, stop, parent death); tests/studies/test_study_server.py and
test_record_server_cmd.py run the real llama_cpp.server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ipw.capture.cooldown import cool_down, total_power_w
from ipw.capture.server_process import ServerProcess, ServerSpec, fill_template, redact_argv
from ipw.errors import ConfigError, ServerUnreachableError, UsageError
from ipw.events import ServerStarted, ServerStopped

HTTP_SERVER = "{python} -m http.server {port} --bind 127.0.0.1"
HEALTH = "http://127.0.0.1:{port}/"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait_gone(pid: int, limit_s: float = 20.0) -> bool:
    deadline = time.monotonic() + limit_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_fill_template_fills_each_name_and_refuses_one_nothing_fills() -> None:
    assert fill_template("a {x} b {y}", {"x": 1, "y": "z"}) == "a 1 b z"
    with pytest.raises(ConfigError, match=r"\{n_ctx\}"):
        fill_template("serve --n_ctx {n_ctx}", {"port": 1})


def test_credential_flags_lose_their_values_in_the_recorded_command() -> None:
    argv = ["serve", "--api-key", "sk-abcdefgh12345", "--hf_token=hf_zyxwvutsrq", "--n_ctx", "512"]
    assert redact_argv(argv) == ["serve", "--api-key", "<redacted>", "--hf_token=<redacted>", "--n_ctx", "512"]


def test_a_started_server_answers_then_is_stopped_with_its_events() -> None:
    server = ServerProcess(ServerSpec(command=HTTP_SERVER, health_url=HEALTH, startup_timeout_s=30), model="m")
    with server:
        pid = server.pid
        assert pid is not None and _alive(pid)
        started = server.started_event()
        assert isinstance(started, ServerStarted)
        assert started.command[:3] == [sys.executable, "-m", "http.server"]
        assert started.port == server.port and str(server.port) in started.command
        assert started.pid == pid and started.startup_s > 0
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert not _alive(pid)
    stopped = server.stop()  # idempotent: the same event again
    assert isinstance(stopped, ServerStopped) and stopped.exit_code is not None
    assert "Serving HTTP" in stopped.log_tail


def test_a_server_that_exits_early_fails_with_its_last_log_lines() -> None:
    command = "{python} -c \"import sys; print('loading'); print('fatal: no such model'); sys.exit(3)\""
    with pytest.raises(ServerUnreachableError) as caught:
        ServerProcess(ServerSpec(command=command, startup_timeout_s=30), model="m").start()
    line = caught.value.one_line()
    assert "exited with code 3" in line and "loading | fatal: no such model" in line


def test_a_server_never_healthy_is_stopped_after_its_timeout_and_says_so() -> None:
    command = "{python} -c \"import os, time; print('pid', os.getpid(), flush=True); time.sleep(600)\""
    server = ServerProcess(ServerSpec(command=command, startup_timeout_s=1), model="m")
    with pytest.raises(ServerUnreachableError, match=r"did not answer .*within 1 s; its log ends: pid \d+"):
        server.start()
    pid = int(server.log_tail[0].split()[1])
    assert not _alive(pid)


def test_an_unknown_program_or_a_broken_command_is_refused() -> None:
    with pytest.raises(ConfigError, match="not found"):
        ServerProcess(ServerSpec(command="no-such-server-xyz --port {port}"), model="m").start()
    with pytest.raises(UsageError, match="cannot be split"):
        ServerProcess(ServerSpec(command="serve 'unclosed"), model="m").start()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death guard is prctl, Linux only")
def test_the_server_dies_with_ipw_even_when_ipw_is_killed(tmp_path: Path) -> None:
    # a child Python process stands for ipw: it starts a server, says its pid, and is then SIGKILLed
    script = (
        "import sys, time\n"
        "from ipw.capture.server_process import ServerProcess, ServerSpec\n"
        f"s = ServerProcess(ServerSpec(command={HTTP_SERVER!r}, health_url={HEALTH!r}), model='m').start()\n"
        "print(s.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    ipw = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=os.getcwd())
    assert ipw.stdout is not None
    server_pid = int(ipw.stdout.readline())
    assert _alive(server_pid)
    ipw.send_signal(signal.SIGKILL)
    ipw.wait()
    assert _wait_gone(server_pid), "the server outlived the process that started it"


def test_cooldown_waits_until_power_is_back_near_idle_or_gives_up() -> None:
    # the reader stands for the energy monitor: a sequence of total-power readings, one a second
    import contextlib

    def reader(watts: list[float]):  # type: ignore[no-untyped-def]
        readings = iter(watts)
        return contextlib.nullcontext(lambda duration_s: next(readings))

    slept: list[float] = []
    cooled = cool_down(cooldown_s=2, idle_w=10.0, within_pct=10, timeout_s=60, sleep=slept.append,
                       reader=reader([30.0, 20.0, 10.5]))
    assert slept == [2] and cooled.reached is True and cooled.power_w == 10.5 and cooled.target_w == pytest.approx(11)
    gave_up = cool_down(idle_w=10.0, within_pct=10, timeout_s=0, reader=reader([30.0, 30.0]))
    assert gave_up.reached is False and gave_up.power_w == 30.0
    fixed = cool_down(cooldown_s=1, sleep=slept.append)
    assert fixed.reached is None and slept[-1] == 1
    assert total_power_w({"devices": [{"mean_power_w": 3.0}, {"mean_power_w": None}, {"mean_power_w": 4.5}]}) == 7.5
