"""``ipw ledger verify RUN`` derives each analysis file again and flags one the ledger does not give."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ipw.reports.audit import check_derived

from tests.conftest import assert_one_clean_line

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "v1" / "run"


@pytest.fixture
def analysed(tmp_path: Path, cli) -> Path:
    """The golden v1 run with analyses written by 'ipw replay', one of them with non-default options."""
    run = tmp_path / "run"
    shutil.copytree(GOLDEN, run)
    for analysis in ("accuracy", "latency", "summary", "judges"):
        assert cli("replay", str(run), "--analysis", analysis).exit_code == 0
    result = cli("replay", str(run), "--analysis", "energy", "--option", "policy=window", "--option", "idle_baseline=subtract")
    assert result.exit_code == 0, result.stderr
    return run


def test_untouched_analyses_verify_with_the_options_they_record(analysed: Path, cli) -> None:
    check = check_derived(analysed)
    assert check.mismatch is None, check.why
    assert set(check.checked) == {f"analysis/{a}.json" for a in ("accuracy", "latency", "summary", "judges", "energy")}
    result = cli("ledger", "verify", str(analysed))
    assert result.exit_code == 0, result.stderr


def _forge(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("energy", lambda d: d.update(total_energy_j=(d["total_energy_j"] or 0) + 1.0)),
        ("energy", lambda d: d.update(policy="active")),  # re-labelled: the numbers are the window policy's
        ("accuracy", lambda d: d.update(correct=d["correct"] + 1)),
        ("latency", lambda d: d.update(queries=d["queries"] + 1)),
        ("summary", lambda d: d["metrics"]["accuracy"].update(value=0.25)),
    ],
)
def test_a_forged_analysis_is_reported_by_name(analysed: Path, cli, name: str, edit) -> None:
    _forge(analysed / "analysis" / f"{name}.json", edit)
    result = cli("ledger", "verify", str(analysed))
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert_one_clean_line(result.stderr)
    assert f"analysis/{name}.json" in result.stderr


def test_an_analysis_ipw_does_not_know_is_reported(analysed: Path, cli) -> None:
    (analysed / "analysis" / "bogus.json").write_text('{"accuracy": 1.0}\n')
    result = cli("ledger", "verify", str(analysed))
    assert result.exit_code == 3
    assert_one_clean_line(result.stderr)
    assert "analysis/bogus.json" in result.stderr
