"""A real run for the pack and power-trace tests, captured once per session against llama_cpp.server.

``shared_run`` is profiled through the real capture path (openai client,
completions API, the energy monitor's ``auto`` collectors) and then re-judged
with a second, deterministic judge, so that every analysis — ``judges``
included — has something to say. Tests that change a run work on a copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import CliResult, run_cli

QUERIES = 4
MAX_TOKENS = 8
SECOND_JUDGE = "scorer:exact/v1"


def profile(url: str, output_dir: Path, run_name: str, *extra: str, max_queries: int = QUERIES,
            max_tokens: int = MAX_TOKENS) -> CliResult:
    """``ipw profile`` against the real server with the small settings every shared-run test uses."""
    return run_cli(
        "profile", "--client", "openai", "--client-base-url", url, "--model", "gemma",
        # the packaged gemma is a base model: the completions API, not a guessed chat template
        "--client-param", "api=completions",
        "--max-queries", str(max_queries), "--gen-param", f"max_tokens={max_tokens}",
        "--output-dir", str(output_dir), "--run-name", run_name, "--json", *extra,
    )


@pytest.fixture(scope="session")
def shared_run(tmp_path_factory: pytest.TempPathFactory, llama_server_url: str) -> Path:
    """A profiled run with measured-or-estimated power and verdicts from two judges. Do not modify it."""
    root = tmp_path_factory.mktemp("sharing")
    result = profile(llama_server_url, root, "shared", "--sample-interval-ms", "50")
    assert result.exit_code == 0, result.stderr
    run = root / "shared"
    rejudged = run_cli("replay", str(run), "--analysis", "accuracy", "--eval-client", "exact")
    assert rejudged.exit_code == 0, rejudged.stderr
    return run


@pytest.fixture
def run_copy(shared_run: Path, tmp_path: Path) -> Path:
    """A private copy of ``shared_run`` (ledger and manifest only) that a test may append to."""
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copytree(shared_run / "events", copy / "events")
    shutil.copy2(shared_run / "manifest.json", copy / "manifest.json")
    return copy
