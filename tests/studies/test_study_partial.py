"""A cell whose run lost queries is ``partial``; a rerun asks only those queries again.

The server is a loopback OpenAI-compatible stub that answers HTTP 500 to every
second completion while ``failing`` is set — it stands in for a real server
that dies and comes back mid-cell — and counts the completions it is asked
(only those: any other POST, such as a token count, is answered 404).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ipw.capture.resume import resume_state
from ipw.events import QueryFinished, QueryStarted
from ipw.ledger import read_events, verify
from ipw.studies import load_spec
from tests._servers import StubHandler, loopback_http, one_chunk_sse
from tests.conftest import run_cli


class _Flaky(StubHandler):
    failing = True
    posts = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.read_body()
        if not self.path.endswith("/completions"):  # ipw's token-count fallback: not a query
            self.send_whole(404, "application/json", b'{"error": {"message": "not here"}}')
            return
        with _Flaky.lock:
            _Flaky.posts += 1
            fail = _Flaky.failing and _Flaky.posts % 2 == 0
        if fail:
            self.send_whole(500, "application/json", b'{"error": {"message": "the model crashed"}}')
            return
        self.send_whole(200, "text/event-stream", one_chunk_sse(" 4", "stop"))


def _write(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "flaky.toml"
    path.write_text(
        f'name = "flaky"\noutput_dir = {json.dumps(str(tmp_path / "studies"))}\n'
        "[base]\n"
        f'client = "openai"\nmodel = "m"\nclient_base_url = {json.dumps(url)}\n'
        'max_queries = 6\nmax_retries = 0\nenergy = "none"\nno_eval = true\n'
        'client_param = { api = "completions" }\n'
        "[matrix]\nmax_concurrency = [1]\n"
    )
    return path


def test_a_cell_with_failed_queries_is_partial_and_a_rerun_asks_only_those(tmp_path: Path) -> None:
    _Flaky.failing, _Flaky.posts = True, 0
    with loopback_http(_Flaky) as url:
        spec = _write(tmp_path, url)
        first = run_cli("study", "run", str(spec), "--json")
        assert first.exit_code == 9, first.stderr  # not every cell completed
        (cell,) = json.loads(first.stdout)["cells"]
        assert cell["status"] == "partial" and cell["queries_failed"] == 3 and cell["queries_completed"] == 3
        assert "3 of 6 queries failed" in cell["message"]
        study = tmp_path / "studies" / "flaky"
        run = study / cell["run_dir"]

        status = run_cli("study", "status", str(study), "--json")
        assert status.exit_code == 0
        assert [(c["status"], c["on_disk"]) for c in json.loads(status.stdout)] == [("partial", "partial")]
        report = run_cli("study", "report", str(study), "--json")
        assert report.exit_code == 0, report.stderr
        assert [r["status"] for r in json.loads(report.stdout)["rows"]] == ["partial"]

        answered = {e.query_id for e in read_events(run) if isinstance(e, QueryFinished)}
        records = {e.query_id: e.record_id for e in read_events(run) if isinstance(e, QueryStarted)}
        failed_records = {r for q, r in records.items() if q not in answered}
        assert len(failed_records) == 3
        # the library's view of it: retry_failed (the default) asks them again, False leaves them failed
        config = load_spec(spec).cells()[0].capture_config(study / "runs")
        assert resume_state(run, config, None).failed_records == failed_records
        assert not failed_records & resume_state(run, config, None).done_records
        assert failed_records <= resume_state(run, config, None, retry_failed=False).done_records

        _Flaky.failing, posts_before = False, _Flaky.posts
        again = run_cli("study", "run", str(spec), "--json")
        assert again.exit_code == 0, again.stderr
        (cell,) = json.loads(again.stdout)["cells"]
        assert cell["status"] == "completed" and cell["queries_failed"] == 0
        assert _Flaky.posts - posts_before == 3  # only the failed queries were asked again

    assert verify(run).ok
    started = [e for e in read_events(run) if isinstance(e, QueryStarted) and not e.warmup]
    retried = [e.record_id for e in started if e.query_id not in records]
    assert sorted(retried) == sorted(failed_records)  # the answered ones were not re-asked
    finished = {e.query_id for e in read_events(run) if isinstance(e, QueryFinished)}
    assert {e.record_id for e in started if e.query_id in finished} == set(records.values())

    rerun = run_cli("study", "run", str(spec), "--json")
    assert rerun.exit_code == 0 and json.loads(rerun.stdout)["ran"] == 0
