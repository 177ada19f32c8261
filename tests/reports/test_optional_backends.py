"""The reports package: optional backends imported only when used (its ``__all__`` is checked in tests/test_package.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ipw.errors import BackendMissingError
from ipw.replay.engine import load_run
from ipw.reports import duckdb_views, plots

from .ledgers import write_run


def test_importing_reports_loads_no_optional_backend() -> None:
    code = (
        "import sys, ipw.reports, ipw.reports.plots, ipw.reports.duckdb_views, ipw.cli.plot_cmd, ipw.cli.query_cmd;"
        "heavy = [m for m in ('matplotlib', 'duckdb', 'pyarrow', 'statsmodels') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_missing_duckdb_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = write_run(tmp_path / "r", [])
    monkeypatch.setitem(sys.modules, "duckdb", None)  # what an environment without duckdb looks like to import
    with pytest.raises(BackendMissingError) as info:
        duckdb_views.query_runs([run], "SELECT 1")
    assert info.value.extra == "analysis" and "ipw[analysis]" in info.value.one_line()


def test_missing_matplotlib_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    view = load_run(write_run(tmp_path / "r", []))
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(BackendMissingError, match="matplotlib"):
        plots.output_kde([view], tmp_path, {})
