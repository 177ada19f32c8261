"""External meter traces: ``--power-trace FILE`` at capture and ``ipw ledger import-power`` afterwards.

A wall-plug meter logs wall-clock times; the run's events use the monotonic
clock. Every imported sample must land at ``run_started.t_ns + (unix time −
run_started.wall_time_ns)``, be marked ``imported``, belong to a ``system``
device, and be what the energy analysis integrates.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ipw.events import Annotation, DeviceSeen, PowerSample, QueryStarted, RunFinished, RunStarted
from ipw.ledger import read_events, verify

from tests.conftest import assert_one_clean_line

from tests._shared_run import profile

pytestmark = pytest.mark.e2e

CAPTURE_POWER_W = 40.0
IMPORT_POWER_W = 60.0


def run_clock(events: list) -> tuple[RunStarted, RunFinished]:
    started = next(e for e in events if isinstance(e, RunStarted))
    finished = [e for e in events if isinstance(e, RunFinished)][-1]
    return started, finished


def wall_span_ns(started: RunStarted, finished: RunFinished) -> tuple[int, int]:
    return started.wall_time_ns, started.wall_time_ns + (finished.t_ns - started.t_ns)


def expected_t_ns(started: RunStarted, unix_s: float) -> int:
    return started.t_ns + (int(unix_s * 1e9) - started.wall_time_ns)


def check_alignment(events: list, device: str, rows: list[float]) -> list[PowerSample]:
    """Every CSV row became one imported sample at the mapped time; those within the run lie within it."""
    started, finished = run_clock(events)
    samples = [e for e in events if isinstance(e, PowerSample) and e.device == device]
    assert len(samples) == len(rows)
    assert {s.source for s in samples} == {"imported"}
    assert [s.t_ns for s in samples] == [expected_t_ns(started, unix_s) for unix_s in rows]
    wall_start, wall_end = wall_span_ns(started, finished)
    inside = [s for s, unix_s in zip(samples, rows) if wall_start <= int(unix_s * 1e9) <= wall_end]
    assert len(inside) >= 5  # the trace really overlaps the run
    assert all(started.t_ns <= s.t_ns <= finished.t_ns for s in inside)
    seen = [e for e in events if isinstance(e, DeviceSeen) and e.device == device]
    assert len(seen) == 1 and seen[0].device_type == "system" and seen[0].collector == "import"
    assert any(isinstance(e, Annotation) and e.key == "power_trace_imported" and device in e.value for e in events)
    return samples


def test_power_trace_at_capture(tmp_path: Path, llama_server_url: str) -> None:
    # the meter's log covers the whole capture: from just before it starts to well after it ends
    t0 = round(time.time(), 3) - 1.0
    rows = [round(t0 + i * 0.05, 3) for i in range(int(40 / 0.05))]
    trace = tmp_path / "wallplug.csv"
    trace.write_text("timestamp,power_w\n" + "".join(f"{t:.3f},{CAPTURE_POWER_W}\n" for t in rows))

    result = profile(llama_server_url, tmp_path, "traced", "--energy", "none", "--power-trace", str(trace),
                     max_queries=2, max_tokens=4)
    assert result.exit_code == 0, result.stderr
    run = tmp_path / "traced"
    assert verify(run).ok
    events = read_events(run)
    check_alignment(events, "meter:0", rows)
    assert not any(isinstance(e, PowerSample) and e.device != "meter:0" for e in events)  # --energy none

    energy = json.loads((run / "analysis" / "energy.json").read_text())
    assert energy["measured"] is True and energy["provenance"] == "imported"
    meter = energy["devices"]["meter:0"]
    assert meter["device_type"] == "system" and meter["source"] == "imported" and meter["in_total"] is True
    # constant power: the energy over the activity window is that power times the window
    assert energy["total_energy_j"] == pytest.approx(CAPTURE_POWER_W * energy["window"]["span_s"], rel=1e-6)
    assert energy["mean_power_w"] == pytest.approx(CAPTURE_POWER_W)
    per_query = sum(q["energy_j"] for q in energy["per_query"])
    assert per_query + energy["idle_energy_j"] == pytest.approx(energy["total_energy_j"], rel=1e-6)
    summary = json.loads((run / "analysis" / "summary.json").read_text())
    assert summary["energy_devices"]["meter:0"] == {"device_type": "system", "source": "imported"}
    assert summary["metrics"]["mean_power_w"]["value"] == pytest.approx(CAPTURE_POWER_W)


def _iso(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, timezone.utc).isoformat().replace("+00:00", "Z")


def test_import_power_after_the_run(run_copy: Path, tmp_path: Path, cli) -> None:
    started, finished = run_clock(read_events(run_copy))
    wall_start, wall_end = (ns / 1e9 for ns in wall_span_ns(started, finished))
    # a cumulative joule counter with ISO 8601 times, as some meters export it
    t0 = wall_start - 0.5
    rows = [t0 + i * 0.1 for i in range(int((wall_end - t0 + 0.5) / 0.1) + 1)]
    trace = tmp_path / "meter.csv"
    trace.write_text("timestamp,energy_j\n" + "".join(
        f"{_iso(t)},{1000.0 + IMPORT_POWER_W * (t - t0):.6f}\n" for t in rows))
    parsed = [datetime.fromisoformat(_iso(t).replace("Z", "+00:00")).timestamp() for t in rows]

    result = cli("ledger", "import-power", str(run_copy), str(trace), "--device", "meter:wall")
    assert result.exit_code == 0, result.stderr
    assert f"imported {len(rows)} samples" in result.stdout
    assert cli("ledger", "verify", str(run_copy)).exit_code == 0
    events = read_events(run_copy)
    samples = check_alignment(events, "meter:wall", parsed)
    assert all(s.energy_j is not None and s.power_w is None for s in samples)

    # with the estimated CPU collector in the run, the wall meter is reported apart ...
    default = cli("replay", str(run_copy), "--analysis", "energy", "--json")
    assert default.exit_code == 0, default.stderr
    meter = json.loads(default.stdout)["devices"]["meter:wall"]
    assert meter["device_type"] == "system" and meter["source"] == "imported"
    assert meter["mean_power_w"] == pytest.approx(IMPORT_POWER_W, rel=1e-4)
    # ... and selecting it makes it the total
    chosen = cli("replay", str(run_copy), "--analysis", "energy", "--option", "devices=system", "--json")
    assert chosen.exit_code == 0, chosen.stderr
    energy = json.loads(chosen.stdout)
    assert list(energy["devices"]) == ["meter:wall"] and energy["provenance"] == "imported"
    assert energy["total_energy_j"] == pytest.approx(IMPORT_POWER_W * energy["window"]["span_s"], rel=1e-4)
    assert len(energy["per_query"]) == sum(isinstance(e, QueryStarted) for e in events)


@pytest.mark.parametrize(("content", "words"), [
    ("when,reading\n1795766400,42\n", "lacks a time column"),
    ("timestamp,power_w\n1795766400,forty\n", "is not a number"),
    ("timestamp,power_w\nyesterday,42\n", "neither Unix seconds nor an ISO 8601 time"),
    ("timestamp,power_w\n", "has no samples"),
])
def test_a_bad_meter_csv_is_refused_and_appends_nothing(run_copy: Path, tmp_path: Path, cli, content: str,
                                                         words: str) -> None:
    before = {p.name: p.read_bytes() for p in (run_copy / "events").iterdir()}
    trace = tmp_path / "bad.csv"
    trace.write_text(content)
    result = cli("ledger", "import-power", str(run_copy), str(trace))
    assert result.exit_code == 2
    assert_one_clean_line(result.stderr)
    assert words in result.stderr
    assert {p.name: p.read_bytes() for p in (run_copy / "events").iterdir()} == before
