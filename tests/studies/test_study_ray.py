"""The Ray executor on a real local Ray cluster, bound to 127.0.0.1 in a network namespace of its own.

The driver (``ipw study run --executor ray``) and the llama.cpp server its
cells talk to run in ``unshare -n`` (see ``_ray_driver.py``); this test reads
what they left on the shared file system.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ipw.events import RunStarted
from ipw.ledger import read_events, verify
from tests.studies._study_files import GRID_CELLS

pytest.importorskip("ray", reason="the Ray executor needs the 'ray' extra (pip install 'ipw[ray]')")
pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _in_own_network(mode: str, work: Path) -> dict:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.fail("this test needs root, unshare and ip to give Ray a network namespace of its own")
    command = f"ip link set lo up && exec {sys.executable} -m tests.studies._ray_driver {mode} {work}"
    proc = subprocess.run(["unshare", "-n", "sh", "-c", command], cwd=ROOT, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((work / "result.json").read_text())


def test_ray_executor_runs_the_grid_once_and_transfers_verified_packs(tmp_path: Path) -> None:
    result = _in_own_network("grid", tmp_path)
    assert result["node"] == "node:127.0.0.1"
    first, second = result["first"], result["second"]
    assert first["rc"] == 0, first["stderr"]
    cells = json.loads(first["stdout"])["cells"]
    study = tmp_path / "studies" / "grid"
    assert [c["name"] for c in cells] == GRID_CELLS
    for cell in cells:
        run = study / cell["run_dir"]
        assert cell["status"] == "completed" and verify(run).ok and cell["head_hash"] == verify(run).head_hash
        started = next(e for e in read_events(run) if isinstance(e, RunStarted))
        assert started.config["max_concurrency"] == cell["params"]["max_concurrency"]
        # the run was recorded in the task's staging folder, then packed and unpacked here
        assert str(tmp_path / "staging") in started.config["output_dir"]
        assert (run / "analysis" / "summary.json").is_file()
    assert first["queries_started"] == {name: 3 for name in GRID_CELLS}
    assert second["rc"] == 0 and json.loads(second["stdout"])["ran"] == 0
    assert second["queries_started"] == first["queries_started"]
    report = subprocess.run([sys.executable, "-m", "ipw.cli", "study", "report", str(study), "--json"],
                            capture_output=True, text=True, cwd=ROOT)
    assert report.returncode == 0, report.stderr
    assert [r["cell"] for r in json.loads(report.stdout)["rows"]] == GRID_CELLS


def test_a_killed_worker_fails_its_cell_and_the_next_run_completes_it(tmp_path: Path) -> None:
    result = _in_own_network("kill", tmp_path)
    killed, resumed = result["killed"], result["resumed"]
    assert killed["rc"] == 9, killed["stderr"]
    cell = json.loads(killed["stdout"])["cells"][0]
    assert cell["status"] == "failed" and "died" in cell["message"] and cell["resumable"] is True
    assert killed["partial_query_finished"] >= 1
    assert resumed["rc"] == 0, resumed["stderr"]
    done = json.loads(resumed["stdout"])["cells"][0]
    run = tmp_path / "studies" / "grid" / done["run_dir"]
    assert done["status"] == "completed" and verify(run).ok
    starts = [e for e in read_events(run) if isinstance(e, RunStarted)]
    assert [s.resumed for s in starts] == [False, True]  # the partial run was resumed on its node, not redone
    assert len({e.record_id for e in read_events(run, kinds=("query_started",))}) == 6
