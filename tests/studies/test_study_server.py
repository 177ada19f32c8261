"""A study that starts the real llama_cpp.server itself, one per cell, sweeping n_ctx; a bad value fails its cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipw.events import RunFinished, ServerStarted, ServerStopped
from ipw.ledger import read_events
from tests.capture.test_server_process import _alive
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e

STUDY = """name = "servers"
output_dir = {output_dir}

[server]
command = "{{python}} -m llama_cpp.server --model {{model_path}} --host 127.0.0.1 --port {{port}} --n_ctx {{n_ctx}} --n_threads 1 --interrupt_requests False"
startup_timeout_s = 180

[base]
client = "openai"
model = "gemma-3-270m"
max_queries = 2
energy = "none"
gen_param = {{ max_tokens = 8 }}
client_param = {{ api = "completions" }}

[matrix]
"server.n_ctx" = [512, 1024, "bogus"]
"""


def server_processes(port: int) -> list[int]:
    """Every live process whose command line is a llama_cpp.server on ``port``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"llama_cpp.server" in argv and str(port).encode() in argv and _alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def test_each_cell_gets_its_own_server_which_is_gone_after_it(tmp_path: Path) -> None:
    study_file = tmp_path / "servers.toml"
    study_file.write_text(STUDY.format(output_dir=json.dumps(str(tmp_path / "studies"))))
    result = run_cli("study", "run", str(study_file), "--json")
    assert result.exit_code == 9, result.stderr  # one cell failed, the others completed
    cells = {c["name"]: c for c in json.loads(result.stdout)["cells"]}
    assert [cells[n]["status"] for n in ("n_ctx512", "n_ctx1024")] == ["completed", "completed"]

    bad = cells["n_ctx_bogus"]
    assert bad["status"] == "failed"
    assert "the server exited with code" in bad["message"] and "its log ends:" in bad["message"]
    assert "bogus" in bad["message"].split("its log ends:")[1]  # the server's own words about the bad value

    pids = set()
    for name, n_ctx in (("n_ctx512", 512), ("n_ctx1024", 1024)):
        events = read_events(tmp_path / "studies" / "servers" / "runs" / name)
        started = [e for e in events if isinstance(e, ServerStarted)]
        stopped = [e for e in events if isinstance(e, ServerStopped)]
        assert len(started) == 1 and len(stopped) == 1
        command = started[0].command
        assert command[command.index("--n_ctx") + 1] == str(n_ctx)
        assert started[0].version and "llama" in started[0].version and started[0].startup_s > 0
        assert events.index(stopped[0]) < events.index(next(e for e in events if isinstance(e, RunFinished)))
        assert stopped[0].exit_code is not None and stopped[0].log_tail
        assert not _alive(started[0].pid)
        assert server_processes(started[0].port) == []  # nothing left serving that cell's port
        pids.add(started[0].pid)
    assert len(pids) == 2  # one server per cell
