"""Every analysis, with every option it accepts, written by 'ipw replay --option k=v', verifies.

The audit re-derives a file with the options the file records (defaults
included), so no option of any analysis can make ``ipw ledger verify`` cry
wolf. The analyses and their options are read from the registry and from the
``"options"`` each one records, so a new analysis or a new option lands in
this matrix by itself; an option with no values to try here fails
``test_every_option_has_values_to_try`` until it gets some.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from ipw.analyses.energy import IDLE_BASELINES, POLICIES
from ipw.errors import UsageError
from ipw.events import Verdict
from ipw.ledger import LedgerWriter
from ipw.registry import REGISTRY
from ipw.replay import load_run

from tests.conftest import assert_one_clean_line

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "v1" / "run"
SECOND_JUDGE = "test:second-opinion/v1"


@pytest.fixture(scope="module")
def two_judges(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden v1 run with a second judge's verdicts appended, so judge choices are real choices."""
    run = tmp_path_factory.mktemp("audit-options") / "run"
    shutil.copytree(GOLDEN, run)
    verdicts = load_run(run).verdicts
    assert verdicts, "the golden run has verdicts to disagree with"
    with LedgerWriter.open_append(run, flush_interval_s=0) as writer:
        for v in verdicts:
            flipped = None if v.is_correct is None else not v.is_correct
            writer.append(Verdict(query_id=v.query_id, t_ns=v.t_ns + 1, judge=SECOND_JUDGE, is_correct=flipped))
    return run


def _recorded_options() -> dict[str, list[str]]:
    """Each registered analysis and the options its result records (every option it accepts)."""
    view = load_run(GOLDEN)
    return {
        analysis_id: sorted(REGISTRY.load("analyses", analysis_id)().compute(view, {}).get("options", {}))
        for analysis_id in REGISTRY.ids("analyses")
    }


def _values() -> dict[str, list[tuple[str, Any]]]:
    """For each option: (what ``--option`` is given, what the file must record), for the two-judge golden run."""
    view = load_run(GOLDEN)
    judges = sorted({v.judge for v in view.verdicts} | {SECOND_JUDGE})
    devices = sorted(view.power)
    types = sorted({view.devices[d].device_type for d in devices if d in view.devices})
    return {
        "policy": [(p, p) for p in POLICIES],
        "idle_baseline": [(b, b) for b in IDLE_BASELINES],
        "devices": [(d, [d]) for d in devices + types] + [(",".join(devices + types), devices + types)],
        "carbon_intensity_g_per_kwh": [("400", 400.0), ("0.25", 0.25)],
        "judge": [(j, j) for j in judges],
        "model": [(str(view.config["model"]), str(view.config["model"]))],
        "judges": [(j, [j]) for j in judges] + [(",".join(reversed(judges)), judges)],
        "slo": [("ttft_ms=200,tpot_ms=50", {"tpot_ms": 50.0, "ttft_ms": 200.0}), ("e2e_ms=0.5", {"e2e_ms": 0.5})],
        "min_steady_s": [("30", 30.0), ("0.5", 0.5)],
    }


OPTIONS = _recorded_options()
VALUES = _values()
CASES = [
    pytest.param(analysis_id, name, given, recorded, id=f"{analysis_id}-{name}={given}")
    for analysis_id, names in OPTIONS.items()
    for name in names
    for given, recorded in VALUES.get(name, [])
]


def test_every_analysis_records_its_options() -> None:
    view = load_run(GOLDEN)
    for analysis_id in REGISTRY.ids("analyses"):
        result = REGISTRY.load("analyses", analysis_id)().compute(view, {})
        assert isinstance(result.get("options"), dict), f"{analysis_id} records no options"
    assert OPTIONS["energy"] == sorted(["policy", "idle_baseline", "devices", "carbon_intensity_g_per_kwh"])
    assert OPTIONS["latency"] == ["slo"]


def _accepted(analysis_id: str) -> list[str]:
    """The options an analysis accepts, as its refusal of an unknown one lists them ("it accepts: a, b")."""
    view = load_run(GOLDEN)
    with pytest.raises(UsageError) as refused:
        REGISTRY.load("analyses", analysis_id)().compute(view, {"no_such_option": "1"})
    listed = (refused.value.hint or "").partition("it accepts:")[2].partition("(")[0]
    return sorted(set(re.findall(r"[a-z_]+", listed)) - {"no", "options"})


@pytest.mark.parametrize("analysis_id", sorted(OPTIONS))
def test_every_option_an_analysis_accepts_is_recorded(analysis_id: str) -> None:
    # an accepted option left out of "options" could not be given back by the audit
    assert OPTIONS[analysis_id] == _accepted(analysis_id)


def test_every_option_has_values_to_try() -> None:
    untried = sorted({name for names in OPTIONS.values() for name in names} - set(VALUES))
    assert not untried, f"add values for these options to _values(): {untried}"


@pytest.mark.parametrize(("analysis_id", "name", "given", "recorded"), CASES)
def test_a_replay_with_any_option_verifies(two_judges: Path, tmp_path: Path, cli, analysis_id: str, name: str,
                                           given: str, recorded: Any) -> None:
    run = tmp_path / "run"
    shutil.copytree(two_judges, run)
    result = cli("replay", str(run), "--analysis", analysis_id, "--option", f"{name}={given}")
    assert result.exit_code == 0, result.stderr
    written = json.loads((run / "analysis" / f"{analysis_id}.json").read_text())
    assert written["options"][name] == recorded, written["options"]
    assert sorted(written["options"]) == OPTIONS[analysis_id]  # the defaults of the others are written out too
    verified = cli("ledger", "verify", str(run))
    assert verified.exit_code == 0, verified.stderr


def test_the_issue_repro_a_carbon_intensity_verifies(tmp_path: Path, cli) -> None:
    run = tmp_path / "run"
    shutil.copytree(GOLDEN, run)
    assert cli("replay", str(run), "--analysis", "energy", "--option", "carbon_intensity_g_per_kwh=400").exit_code == 0
    result = cli("ledger", "verify", str(run))
    assert result.exit_code == 0, result.stderr


def _edit(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda d: d.update(carbon_intensity_g_per_kwh=500.0), id="a number"),
        pytest.param(lambda d: d["options"].update(carbon_intensity_g_per_kwh=500.0), id="the option it records"),
        pytest.param(lambda d: d["options"].update(policy="tokens"), id="another recorded option"),
        pytest.param(lambda d: d.update(options=["policy"]), id="options not an object"),
        pytest.param(lambda d: d["options"].update(frobnicate=1), id="an option it does not accept"),
    ],
)
def test_an_edit_to_a_file_with_options_is_still_caught(tmp_path: Path, cli, edit) -> None:
    run = tmp_path / "run"
    shutil.copytree(GOLDEN, run)
    replay = cli("replay", str(run), "--analysis", "energy", "--option", "carbon_intensity_g_per_kwh=400",
                 "--option", "policy=window")
    assert replay.exit_code == 0, replay.stderr
    _edit(run / "analysis" / "energy.json", edit)
    result = cli("ledger", "verify", str(run))
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert_one_clean_line(result.stderr)
    assert "analysis/energy.json" in result.stderr
