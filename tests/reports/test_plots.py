"""The visualizations write real, non-blank PNGs; their building blocks compute the right things."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ipw.errors import UsageError
from ipw.registry import REGISTRY
from ipw.replay.engine import load_run
from ipw.reports import plots
from ipw.reports._timeline import monitoring_gaps, power_series, query_lanes, telemetry_lost

from .ledgers import Q, T0_NS, sequential, write_run

matplotlib_image = pytest.importorskip("matplotlib.image")


def assert_real_png(path: Path, *, width: int, height: int) -> np.ndarray:
    assert path.suffix == ".png" and path.is_file()
    assert path.stat().st_size > 8_000, f"{path} is suspiciously small"
    image = matplotlib_image.imread(path)
    assert image.shape[:2] == (height, width)
    rgb = image[..., :3].reshape(-1, 3)
    assert rgb.std() > 0.05, "the image is blank"
    colours = np.unique((rgb * 255).astype(np.uint8), axis=0)
    assert len(colours) > 30, "the image has almost no detail"
    return image


@pytest.fixture(scope="module")
def busy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty queries, two devices (one counter-only), a monitoring gap, overlapping queries."""
    root = tmp_path_factory.mktemp("plots")
    specs = [(f"q{i}", 0.2 + 0.03 * i, 4 + 3 * i + (i * 7) % 5, i % 3 != 0) for i in range(20)]
    queries = sequential(specs)
    queries.append(Q("overlap", queries[2].start_s + 0.05, queries[4].end_s, 30, 25, True))
    queries.append(Q("warm", 0.05, 0.4, 3, 10, None, warmup=True))
    queries.append(Q("bad", queries[6].start_s, queries[6].start_s + 0.2, 0, 10, None, failed=True))
    return write_run(root / "busy", queries, devices={"nvidia:0": 150.0, "rapl:package-0": 40.0},
                     skip_s=(4.0, 5.0), telemetry=[(4.0, "lost"), (5.0, "connected")])


@pytest.fixture(scope="module")
def other_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plots-other")
    specs = [(f"q{i}", 0.3 + 0.02 * i, 6 + 2 * i, i % 2 == 0) for i in range(15)]
    return write_run(root / "other", sequential(specs), devices={"nvidia:0": 90.0}, counter_only=True, model="gemma-q8")


def test_registry_targets_resolve_to_these_functions() -> None:
    for vid, fn in (("regression", plots.regression), ("output-kde", plots.output_kde),
                    ("power-timeline", plots.power_timeline), ("accuracy-energy", plots.accuracy_energy)):
        assert REGISTRY.load("visualizations", vid) is fn


def test_regression(busy_run: Path, other_run: Path, tmp_path: Path) -> None:
    paths = plots.regression([load_run(busy_run), load_run(other_run)], tmp_path, {})
    assert paths == [tmp_path / "regression.png"]
    assert_real_png(paths[0], width=1800, height=1350)


def test_output_kde(busy_run: Path, tmp_path: Path) -> None:
    (path,) = plots.output_kde([load_run(busy_run)], tmp_path, {"bandwidth": 5})
    assert_real_png(path, width=1350, height=750)
    with pytest.raises(UsageError, match="bandwidth"):
        plots.output_kde([load_run(busy_run)], tmp_path, {"bandwidth": -1})


def test_power_timeline_one_file_per_run(busy_run: Path, other_run: Path, tmp_path: Path) -> None:
    (single,) = plots.power_timeline([load_run(busy_run)], tmp_path, {})
    assert single.name == "power-timeline.png"
    # two devices + the query lanes: 2.4 in per device + 2.2 in, at 150 dpi
    assert_real_png(single, width=1800, height=int((2.4 * 2 + 2.2) * 150))
    several = plots.power_timeline([load_run(busy_run), load_run(other_run)], tmp_path, {})
    assert [p.name for p in several] == ["power-timeline-busy_gemma-3-270m.png", "power-timeline-other_gemma-q8.png"]
    for p in several:
        assert p.stat().st_size > 8_000


def test_accuracy_energy(busy_run: Path, other_run: Path, tmp_path: Path) -> None:
    (path,) = plots.accuracy_energy([load_run(busy_run), load_run(other_run)], tmp_path, {})
    assert_real_png(path, width=1350, height=900)
    with pytest.raises(UsageError, match="judge 'llm'"):
        plots.accuracy_energy([load_run(busy_run)], tmp_path, {"judge": "llm"})


def test_degenerate_runs_draw_no_data_instead_of_failing(tmp_path: Path) -> None:
    empty = load_run(write_run(tmp_path / "empty", []))
    single = load_run(write_run(tmp_path / "single", sequential([("x", 1.0, 10, None)]), devices={"cpu:estimate": 5.0}))
    zero_tokens = load_run(write_run(tmp_path / "zero", sequential([("x", 1.0, 0, True), ("y", 1.0, 0, True)],
                                                                   prompt_tokens=None)))
    idle = load_run(write_run(tmp_path / "idle", [], devices={"nvidia:0": 30.0}))
    for view in (empty, single, zero_tokens, idle):
        out = tmp_path / "out" / view.run_id
        for fn in (plots.regression, plots.output_kde, plots.power_timeline, plots.accuracy_energy):
            (path,) = fn([view], out, {})
            image = matplotlib_image.imread(path)
            assert image[..., :3].std() > 0.02  # titles, frames and the "no data" box are drawn
    for fn in (plots.regression, plots.output_kde, plots.power_timeline, plots.accuracy_energy):
        with pytest.raises(UsageError, match="at least one run"):
            fn([], tmp_path, {})


def test_accuracy_energy_leaves_out_runs_without_energy(busy_run: Path, tmp_path: Path) -> None:
    no_energy = load_run(write_run(tmp_path / "dark", sequential([("x", 1.0, 5, True), ("y", 1.0, 5, False)])))
    (path,) = plots.accuracy_energy([load_run(busy_run), no_energy], tmp_path, {})
    assert_real_png(path, width=1350, height=900)


def test_kde_is_a_density() -> None:
    values = np.array([10, 12, 12, 15, 40, 41, 44, 90], dtype=float)
    grid = np.linspace(-100, 250, 4001)
    density = plots.gaussian_kde_curve(values, grid)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 (the declared lower bound) has only trapz
    assert trapezoid(density, grid) == pytest.approx(1.0, abs=1e-3)
    assert grid[np.argmax(density)] < 30  # the mode sits in the dense cluster
    same = plots.gaussian_kde_curve(np.array([7.0, 7.0]), grid)
    assert plots.kde_bandwidth(np.array([7.0, 7.0])) == 1.0
    assert grid[np.argmax(same)] == pytest.approx(7.0, abs=0.1)


def test_power_series_from_counter_and_gaps(busy_run: Path, other_run: Path) -> None:
    counter = load_run(other_run).power["nvidia:0"]
    assert not np.isfinite(counter.power_w).any()
    t, p, how = power_series(counter)
    assert "derivative" in how
    assert p == pytest.approx(np.full(len(p), 90.0))
    view = load_run(busy_run)
    gaps = monitoring_gaps(view.power["nvidia:0"].t_ns)
    assert len(gaps) == 1
    start, end = gaps[0]
    assert start <= T0_NS + 4.0e9 and end >= T0_NS + 5.0e9
    assert telemetry_lost(view) == [(T0_NS + 4_000_000_000, T0_NS + 5_000_000_000)]


def test_query_lanes_never_overlap() -> None:
    spans = [(0, 10), (5, 15), (10, 20), (12, 13), (30, 40)]
    lanes = query_lanes(spans)
    assert lanes == [0, 1, 0, 2, 0]
    for i, (s1, e1) in enumerate(spans):
        for j, (s2, e2) in enumerate(spans):
            if i < j and lanes[i] == lanes[j]:
                assert e1 <= s2 or e2 <= s1
