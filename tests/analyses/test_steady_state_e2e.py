"""One real run: ``ipw profile --max-concurrency 2 --slo …`` against the real llama_cpp.server, with the
real energy monitor, then the steady state, validity and SLO figures it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHECKS = ["steady_state_s", "mean_in_flight", "power_in_range", "monitor_coverage"]


def test_a_real_run_has_a_steady_window_inside_it_and_every_check_measured(tmp_path: Path, cli,
                                                                           llama_server_url: str) -> None:
    result = cli("profile", "--client", "openai", "--client-base-url", llama_server_url, "--client-param",
                 "api=completions", "--model", "gemma", "--max-queries", "6", "--max-concurrency", "2",
                 "--gen-param", "max_tokens=8", "--sample-interval-ms", "50", "--slo", "ttft_ms=60000,e2e_ms=60000",
                 "--output-dir", str(tmp_path), "--run-name", "steady")
    assert result.exit_code == 0, result.stderr
    analysis = tmp_path / "steady" / "analysis"
    energy = json.loads((analysis / "energy.json").read_text())
    latency = json.loads((analysis / "latency.json").read_text())
    summary = json.loads((analysis / "summary.json").read_text())

    run = energy["window"]
    steady = energy["steady_state"]
    assert steady["target_in_flight"] == 2 and steady["reason"] is None
    assert run["start_ns"] <= steady["start_ns"] < steady["end_ns"] <= run["end_ns"]  # inside the run
    assert steady["mean_in_flight"] > 1.0 and steady["peak_in_flight"] == 2
    assert steady["total_energy_j"] is not None and steady["total_energy_j_bound"] is not None
    assert steady["total_energy_j"] <= energy["total_energy_j"] + energy["total_energy_j_bound"]
    assert latency["steady_state"]["start_ns"] == steady["start_ns"]
    assert latency["steady_state"]["queries"] <= latency["queries"] == 6

    validity = summary["validity"]
    assert [c["check"] for c in validity["checks"] if c["check"] in CHECKS][:2] == CHECKS[:2]
    for name in CHECKS:
        found = [c for c in validity["checks"] if c["check"] == name]
        assert found, name
        for check in found:
            assert check["value"] is not None, check  # measured, whatever the verdict
            assert check["status"] in ("pass", "fail", "unknown")
    (length,) = [c for c in validity["checks"] if c["check"] == "steady_state_s"]
    # the verdict follows the measured length against the 30 s default, however long a loaded host took
    assert length["status"] == ("pass" if length["value"] >= 30 else "fail"), length
    if length["status"] == "fail":
        assert validity["valid"] is False and "validity: NOT VALID" in result.stdout  # the terminal says so
    # and a window shorter than asked always fails the run, in the file and on the terminal
    strict = cli("replay", str(tmp_path / "steady"), "--analysis", "summary",
                 "--option", f"min_steady_s={length['value'] + 1000}")
    assert strict.exit_code == 0, strict.stderr
    again = json.loads((analysis / "summary.json").read_text())["validity"]
    assert again["valid"] is False and "steady_state_s" in again["failures"], again

    assert latency["slo"]["targets_ms"] == {"e2e_ms": 60000.0, "ttft_ms": 60000.0}
    assert latency["slo"]["attainment"] == 1.0  # a minute is plenty for 8 tokens
    assert summary["metrics"]["slo_attainment"]["value"] == 1.0
    assert summary["options"]["slo"] == {"e2e_ms": 60000.0, "ttft_ms": 60000.0}


def test_a_malformed_slo_fails_before_anything_is_recorded(tmp_path: Path, cli) -> None:
    from tests.conftest import assert_one_clean_line

    result = cli("profile", "--client", "openai", "--client-base-url", "http://127.0.0.1:9/v1", "--model", "m",
                 "--slo", "ttft=5", "--output-dir", str(tmp_path))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert_one_clean_line(result.stderr)
    assert "slo" in result.stderr and not any(tmp_path.iterdir())
