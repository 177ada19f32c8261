"""``ipw ledger verify RUN`` derives each analysis file again and flags one the ledger does not give."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from ipw.reports.audit import FLOAT_REL_TOL, check_derived, first_difference

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


@pytest.mark.parametrize("options", [None, ["policy", "window"], "policy=window"])
def test_options_that_are_not_an_object_are_reported_not_guessed_at(analysed: Path, cli, options) -> None:
    _forge(analysed / "analysis" / "energy.json", lambda d: d.update(options=options))
    result = cli("ledger", "verify", str(analysed))
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert_one_clean_line(result.stderr)
    assert "analysis/energy.json" in result.stderr and '"options" is not an object' in result.stderr


# -- files written before analyses recorded their options ----------------------------------


def test_an_old_file_without_options_is_derived_with_the_defaults(analysed: Path, cli) -> None:
    for name in ("accuracy", "latency", "summary", "judges"):  # written with the defaults
        _forge(analysed / "analysis" / f"{name}.json", lambda d: d.pop("options"))
    (analysed / "analysis" / "energy.json").unlink()
    result = cli("ledger", "verify", str(analysed))
    assert result.exit_code == 0, result.stderr


def test_an_old_file_written_with_other_options_is_reported_as_such(analysed: Path, cli) -> None:
    _forge(analysed / "analysis" / "energy.json", lambda d: d.pop("options"))  # policy=window, idle_baseline=subtract
    result = cli("ledger", "verify", str(analysed))
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert_one_clean_line(result.stderr)
    assert "analysis/energy.json" in result.stderr and "records no options" in result.stderr
    assert "ipw replay" in result.stderr  # and says how to rewrite it


# -- floats: equal to a stated relative tolerance, so another Python or numpy verifies ---------


def _floats(value, path=()):
    """(path, float) of every float in a JSON value, in a stable order."""
    if isinstance(value, float):
        yield path, value
    elif isinstance(value, dict):
        for key in sorted(value):
            yield from _floats(value[key], (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _floats(item, (*path, i))


def _set(data, path, value) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


@pytest.mark.parametrize("name", ["accuracy", "latency", "summary", "energy"])
def test_every_float_one_ulp_off_still_verifies(analysed: Path, cli, name: str) -> None:
    path = analysed / "analysis" / f"{name}.json"
    data = json.loads(path.read_text())
    moved = [(p, v) for p, v in _floats(data) if v != 0.0]
    assert moved, f"{name}.json has floats to move"
    for p, v in moved:  # as another Python's sum() or another LAPACK would round them
        _set(data, p, math.nextafter(v, math.inf))
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    result = cli("ledger", "verify", str(analysed))
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("name", ["accuracy", "latency", "summary", "energy"])
def test_a_float_one_millionth_off_is_caught(analysed: Path, cli, name: str) -> None:
    path = analysed / "analysis" / f"{name}.json"
    data = json.loads(path.read_text())
    where, value = next((p, v) for p, v in _floats(data) if abs(v) > 1e-3)
    _set(data, where, value * (1 + 1e-6))
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    result = cli("ledger", "verify", str(analysed))
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert_one_clean_line(result.stderr)
    assert f"analysis/{name}.json" in result.stderr and str(where[-1]) in result.stderr


@pytest.mark.parametrize(
    ("recorded", "derived", "differs"),
    [
        (1.0, math.nextafter(1.0, 2.0), False),
        (1.0, 1.0 + 1e-6, True),
        (1e-13, -1e-13, False),  # cancelled to about zero: within the absolute bound
        (1, 1.0, True),  # an int is not a float
        (True, 1, True),
        ("a", "a", False),
        ({"a": [1.5, None]}, {"a": [1.5, None]}, False),
        ({"a": [1.5]}, {"a": [1.5, 2.0]}, True),
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": 1, "b": 2}, {"a": 1}, True),
        (None, 0.0, True),
    ],
)
def test_first_difference(recorded, derived, differs: bool) -> None:
    assert (first_difference(recorded, derived) is not None) is differs
    assert FLOAT_REL_TOL == 1e-9
