"""A ``k=v`` value nested deeper than ``MAX_JSON_DEPTH`` is a usage error (exit 2), never exit 70.

``--gen-param stop=[[[…]]]`` 5,000 deep overflowed json's recursion and
reached the user as an internal error. Every ``k=v`` flag is parsed by one
function, so each flag is tried here, through the CLI's error boundary.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ipw._untrusted import MAX_JSON_DEPTH
from ipw.cli._options import parse_kv
from tests.conftest import assert_one_clean_line, run_cli


def _nested(depth: int) -> str:
    return "[" * depth + '"x"' + "]" * depth


@pytest.mark.parametrize("depth", [5_000, MAX_JSON_DEPTH + 1])
@pytest.mark.parametrize("flag", ["--gen-param", "--client-param", "--dataset-param"])
def test_record_refuses_a_value_nested_too_deep(tmp_path: Path, flag: str, depth: int) -> None:
    result = run_cli("record", "--client", "openai", "--model", "m", "--output-dir", str(tmp_path),
                     "--run-name", "r", "--energy", "none", flag, f"stop={_nested(depth)}")
    assert result.exit_code == 2, result
    assert_one_clean_line(result.stderr)
    assert f"nests JSON deeper than {MAX_JSON_DEPTH} levels" in result.stderr
    assert not (tmp_path / "r").exists()  # refused before anything was made


def test_profile_refuses_an_eval_param_nested_too_deep(tmp_path: Path) -> None:
    result = run_cli("profile", "--client", "openai", "--model", "m", "--output-dir", str(tmp_path),
                     "--run-name", "r", "--energy", "none", "--eval-param", f"x={_nested(5_000)}")
    assert result.exit_code == 2, result
    assert_one_clean_line(result.stderr)


def test_a_value_at_the_depth_limit_is_still_json() -> None:
    assert parse_kv([f"stop={_nested(MAX_JSON_DEPTH - 1)}"], "--gen-param")["stop"][0] is not None
    assert parse_kv(['stop=["\\n", "Q:"]'], "--gen-param") == {"stop": ["\n", "Q:"]}
    assert parse_kv(["stop=[[[unclosed"], "--gen-param") == {"stop": "[[[unclosed"}  # not JSON: a string
