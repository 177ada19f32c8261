"""--max-concurrency means that many streams in flight, and connections are reused (SPEC §10).

The server is ``benchmarks/loopback_server.py``, a small OpenAI-compatible
streaming server on loopback that counts what it sees: connections accepted,
requests, and the most streams open at once. With ``--hold-until N`` it holds
every stream open until N are open together (released after ``--hold-s`` at
the latest), so the figures are counts, independent of the machine's speed.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from ipw.capture.runner import CaptureConfig, Runner
from ipw.errors import UsageError
from ipw.events import HarnessCpu
from ipw.ledger import read_events

from tests.conftest import assert_one_clean_line

SERVER = Path(__file__).resolve().parents[2] / "benchmarks" / "loopback_server.py"


class Loopback:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(SERVER), "--port", "0", *args], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        assert line.startswith("PORT "), line
        self.port = int(line.split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/stats")
            stats = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        stats["connections"] -= 1  # the one that asked
        return stats


@pytest.fixture
def loopback(request: pytest.FixtureRequest) -> Iterator[Loopback]:
    server = Loopback(*getattr(request, "param", ()))
    try:
        yield server
    finally:
        server.proc.terminate()
        server.proc.wait(10)


def _capture(tmp_path: Path, base_url: str, queries: int, concurrency: int, name: str = "run") -> Any:
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps({"problem": f"q{i}", "answer": "x"}) + "\n" for i in range(queries)))
    config = CaptureConfig(client="openai", model="bench", dataset="file", dataset_params={"path": str(data)},
                           output_dir=str(tmp_path), run_name=name, max_concurrency=concurrency, energy="none",
                           client_base_url=base_url, gen_params={"max_tokens": 4})
    return Runner(config).run()


@pytest.mark.parametrize("loopback", [("--hold-s", "20", "--hold-until", "256")], indirect=True)
def test_max_concurrency_256_keeps_256_streams_in_flight_over_reused_connections(tmp_path: Path, loopback: Loopback) -> None:
    result = _capture(tmp_path, loopback.base_url, queries=512, concurrency=256)
    assert result.completed == 512
    stats = loopback.stats()
    assert stats["requests"] == 512
    assert stats["streams_max_open"] >= 240  # httpx's default pool held this at 100
    assert stats["connections"] <= 272  # one per stream slot, reused: not one per query


def test_sequential_queries_share_one_connection(tmp_path: Path, loopback: Loopback) -> None:
    result = _capture(tmp_path, loopback.base_url, queries=20, concurrency=1)
    assert result.completed == 20
    stats = loopback.stats()
    assert stats["requests"] == 20
    assert stats["connections"] == 1  # the stream is read to its end after [DONE], so the connection is reused


def test_capture_records_its_own_cpu_time(tmp_path: Path, loopback: Loopback) -> None:
    _capture(tmp_path, loopback.base_url, queries=5, concurrency=2)
    samples = [e for e in read_events(tmp_path / "run") if isinstance(e, HarnessCpu)]
    assert len(samples) >= 2  # at the start and at the end at least
    assert samples[-1].cpu_s > samples[0].cpu_s
    assert samples[-1].t_ns > samples[0].t_ns
    assert samples[0].host_cpus and samples[0].pid


_NEEDED_1024 = 1024 + 64  # the streams, plus ipw.capture.limits.SPARE_FILES


@pytest.mark.parametrize("loopback", [("--hold-s", "30", "--hold-until", "1024")], indirect=True)
def test_max_concurrency_1024_under_the_usual_soft_limit_of_1024_files(tmp_path: Path, loopback: Loopback) -> None:
    """SPEC §10: N streams in flight up to at least 1,024. Most Linux processes start with a soft limit of
    1,024 open files; the runner raises it as far as the streams need (or refuses in one line)."""
    resource = pytest.importorskip("resource")  # POSIX only: elsewhere there is no such limit
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, soft), hard))
    try:
        if hard != resource.RLIM_INFINITY and hard < _NEEDED_1024:
            with pytest.raises(UsageError, match="needs about 1088 open files"):
                _capture(tmp_path, loopback.base_url, queries=2048, concurrency=1024)
            assert not (tmp_path / "run").exists()
            return
        result = _capture(tmp_path, loopback.base_url, queries=2048, concurrency=1024)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= _NEEDED_1024
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert (result.completed, result.failed) == (2048, 0)
    stats = loopback.stats()
    assert stats["requests"] == 2048
    assert stats["streams_max_open"] == 1024
    assert stats["connections"] <= 1024 + 16


def test_a_concurrency_the_hard_limit_cannot_hold_is_refused_in_one_line(tmp_path: Path) -> None:
    """With at most 256 open files allowed (soft and hard), --max-concurrency 1024 cannot work: refused
    before anything is recorded (the limit is set in a child process, as a shell's ulimit -n 256 would)."""
    pytest.importorskip("resource")
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256)); "
            "from ipw.cli import main; main(sys.argv[1:])")
    data = tmp_path / "prompts.jsonl"
    data.write_text(json.dumps({"problem": "q", "answer": "x"}) + "\n")
    proc = subprocess.run([sys.executable, "-c", code, "record", "--client", "openai", "--client-base-url",
                           "http://127.0.0.1:9/v1", "--model", "m", "--dataset", str(data), "--energy", "none",
                           "--max-concurrency", "1024", "--output-dir", str(tmp_path), "--run-name", "r"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc
    assert_one_clean_line(proc.stderr)
    assert "--max-concurrency 1024 needs about 1088 open files" in proc.stderr and "ulimit -n 1088" in proc.stderr
    assert not (tmp_path / "r").exists()
