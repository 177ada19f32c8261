"""A capture refused before ``run_started`` leaves nothing behind: no run folder, no output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.capture._stub_server import completions_server
from tests.conftest import assert_one_clean_line


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with completions_server() as url:
        yield url


@pytest.mark.parametrize(
    ("extra", "code", "fragment"),
    [
        (["--gen-param", "model=x"], 2, "model"),
        (["--gen-param", "stream=false"], 2, "stream"),
        (["--gen-param", "max_tokens=0"], 2, "max_tokens"),
        (["--client-param", "nonsense=1"], 2, "nonsense"),
        (["--client-param", "api=telepathy"], 2, "api"),
        (["--dataset", "no-such-dataset"], 2, "no-such-dataset"),
        (["--dataset-param", "subjects=no-such-subject"], 4, "no-such-subject"),
        (["--energy", "bogus"], 2, "bogus"),
        (["--client-base-url", "http://127.0.0.1:9/v1"], 5, "does not answer"),
    ],
)
def test_a_refusal_leaves_no_folder(tmp_path: Path, cli, server: str, extra: list[str], code: int,
                                    fragment: str) -> None:
    out = tmp_path / "out"
    args = ["record", "--client", "openai", "--client-base-url", server, "--model", "m", "--max-queries", "2",
            "--energy", "none", "--output-dir", str(out), "--run-name", "r", *extra]
    result = cli(*args)
    assert result.exit_code == code, result.stderr
    assert_one_clean_line(result.stderr)
    assert fragment in result.stderr
    assert not out.exists(), sorted(str(p) for p in out.rglob("*"))


def test_the_same_capture_without_the_bad_flag_runs(tmp_path: Path, cli, server: str) -> None:
    # the baseline the refusals are measured against: these flags do make a run
    result = cli("record", "--client", "openai", "--client-base-url", server, "--model", "m", "--max-queries", "2",
                 "--energy", "none", "--output-dir", str(tmp_path / "out"), "--run-name", "r")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / "r" / "manifest.json").is_file()
