"""ipw.api: the one pipeline (record -> judge -> analyse) and how often it replays a ledger.

The inference server is the loopback completions stub (standing in for any
OpenAI-compatible server) where the answers do not matter, and the real
llama_cpp.server where an LLM judge must actually judge them.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from ipw import api
from ipw.replay import engine
from tests.capture._stub_server import completions_server
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


def _config(out: Path, name: str, url: str, **settings: object) -> api.CaptureConfig:
    return api.CaptureConfig(client="openai", model="m", client_base_url=url, client_params={"api": "completions"},
                             output_dir=str(out), run_name=name, energy="none", max_queries=3, **settings)


def _imported(path: Path) -> set[str]:
    """Every module and name ``path`` imports, at any depth (deferred imports included), and every api.X it uses."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "api":
            names.add(f"api.{node.attr}")
    return names


@pytest.mark.parametrize("module", ["ipw/cli/capture_cmd.py", "ipw/studies/runner.py"])
def test_only_api_profile_strings_record_judge_and_analyse_together(module: str) -> None:
    used = _imported(ROOT / module)
    assert "api.profile" in used
    steps = {"api.judge", "api.analyse", "api.profile_judge"} | {n for n in used if "judging" in n or "analyses.accuracy" in n}
    assert not used & steps, f"{module} strings the steps together itself: {sorted(used & steps)}"


def test_the_cli_and_a_study_cell_are_calls_of_api_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, object]] = []
    real = api.profile

    def counting(config, settings=None, **kw):  # type: ignore[no-untyped-def]
        calls.append((config.run_name, settings))
        return real(config, settings, **kw)

    monkeypatch.setattr(api, "profile", counting)
    with completions_server() as url:
        result = run_cli("profile", "--client", "openai", "--client-base-url", url, "--client-param", "api=completions",
                         "--model", "m", "--energy", "none", "--max-queries", "2", "--output-dir", str(tmp_path),
                         "--run-name", "cli", "--no-eval", "--json")
        assert result.exit_code == 0, result.stderr
        study = tmp_path / "s.toml"
        study.write_text(f'name = "s"\noutput_dir = {json.dumps(str(tmp_path / "studies"))}\n[base]\n'
                         f'client = "openai"\nmodel = "m"\nclient_base_url = {json.dumps(url)}\n'
                         'client_param = { api = "completions" }\nenergy = "none"\nmax_queries = 2\nno_eval = true\n')
        assert run_cli("study", "run", str(study), "--json").exit_code == 0
    assert [name for name, _ in calls] == ["cli", "base"]
    assert all(isinstance(s, api.EvalSettings) and s.no_eval for _, s in calls)


@pytest.fixture
def count_replays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every replay of a ledger goes through engine.build_view: count them."""
    seen: list[int] = []
    real = engine.build_view

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "build_view", counting)
    return seen


def test_analyse_replays_once_and_again_only_after_appending_verdicts(tmp_path: Path, count_replays: list[int]) -> None:
    with completions_server() as url:
        run = api.record(_config(tmp_path, "r", url)).run_dir  # the built-in set: every record names a scorer
    count_replays.clear()
    first = api.analyse(run, ["accuracy", "latency", "summary"])
    assert first.judge_report is not None and first.judge_report.appended == 3
    assert len(count_replays) == 2  # the replay it judged from, and one after its verdicts were appended
    count_replays.clear()
    again = api.analyse(run, ["accuracy", "latency", "summary"])
    assert again.judge_report is not None and again.judge_report.appended == 0
    assert len(count_replays) == 1
    assert again.results["accuracy"] == first.results["accuracy"]


def test_profile_reads_the_dataset_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ipw.capture import runner

    reads: list[str] = []
    real = runner.load_records
    monkeypatch.setattr(runner, "load_records", lambda config: reads.append(config.dataset) or real(config))
    with completions_server() as url:
        out = api.profile(_config(tmp_path, "p", url))
    assert reads == ["builtin"]
    assert out.analysis.results["accuracy"]["judge"] == "scorer:auto/v1"
    assert out.run.run_dir == tmp_path / "p"


def test_profile_options_for_one_analysis_stay_with_it(tmp_path: Path) -> None:
    with completions_server() as url:
        out = api.profile(_config(tmp_path, "slo", url), api.EvalSettings(no_eval=True), slo={"ttft_ms": 60_000.0})
    assert out.analysis.results["accuracy"]["unevaluated"] == 3  # no_eval: nothing judged
    assert "slo" in json.dumps(out.analysis.results["latency"]) and "slo" in json.dumps(out.summary)
    assert "slo" not in json.dumps(out.analysis.results["energy"])


ROWS = [{"problem": "What is the capital of France?", "answer": "Paris", "subject": "geography"},
        {"problem": "How many legs does a spider have?", "answer": "8", "subject": "science"},
        {"problem": "Name the largest planet in the Solar System.", "answer": "Jupiter", "subject": "science"},
        {"problem": "What is 2 + 2?", "answer": "4", "subject": "math"}]


def test_a_study_cell_judged_by_an_llm_is_rejudged_from_its_own_record(tmp_path: Path, llama_server_url: str) -> None:
    """The cell records how it was judged; answers added later are judged by that judge with no --eval flag."""
    from ipw.replay import load_run
    from ipw.studies.runner import run_study
    from ipw.studies.spec import load_spec

    data = tmp_path / "ipw.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    url = json.dumps(llama_server_url)
    study = tmp_path / "judged.toml"
    study.write_text(
        f'name = "judged"\noutput_dir = {json.dumps(str(tmp_path / "studies"))}\n[base]\n'
        f'client = "openai"\nmodel = "gemma"\nclient_base_url = {url}\nclient_param = {{ api = "completions" }}\n'
        f'dataset = "ipw"\ndataset_param = {{ path = {json.dumps(str(data))} }}\nmax_queries = 2\n'
        'energy = "none"\ngen_param = { max_tokens = 6 }\n'
        f'eval_client = "openai"\neval_base_url = {url}\neval_model = "gemma"\n'
        'eval_param = { max_tokens = 16, api_key = "sk-not-to-be-kept-123456" }\n')
    outcome = run_study(load_spec(study))
    assert outcome.ok, outcome.cells
    run = outcome.study_dir / "runs" / "base"
    recorded = load_run(run).config["eval"]
    assert recorded == {"judge": "llm:openai:gemma:ipw-judge/v1", "client": "openai", "base_url": llama_server_url,
                        "model": "gemma", "params": {"max_tokens": 16, "api_key": "<redacted>"}}
    # two more answers, recorded with no judging, then replayed with no --eval flag at all
    more = load_spec(study).cells()[0].capture_config(outcome.study_dir / "runs")
    more.max_queries = 4
    api.record(more, resume=True)
    result = run_cli("replay", str(run), "--analysis", "accuracy", "--json")
    assert result.exit_code == 0, result.stderr
    assert "judged 2 answers with llm:openai:gemma:ipw-judge/v1" in result.stderr
    accuracy = json.loads(result.stdout)
    assert accuracy["judge"] == "llm:openai:gemma:ipw-judge/v1"
    view = load_run(run)
    judged = view.verdicts_by_judge()["llm:openai:gemma:ipw-judge/v1"]
    assert {q.query_id for q in view.measured_queries()} <= set(judged) and len(view.measured_queries()) == 4
