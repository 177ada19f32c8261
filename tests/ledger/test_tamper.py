"""Edits that keep the hash chain intact are caught by the manifest: sizes, sha256, counts, its absence.

A forger who cuts a ledger at a frame boundary, or edits what the manifest
says about a segment, leaves a chain that verifies on its own; these tests
check that ``verify`` (exit 3, one line) and the reader (one warning) say so,
while the states a live or killed writer leaves behind still verify.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ipw import events as ev
from ipw.ledger import LedgerReader, LedgerWriter, scan, verify

from tests.conftest import assert_one_clean_line

FRAMES = [
    [ev.RunStarted(run_id="tamper", t_ns=1, wall_time_ns=2, config={"model": "m"})],
    [ev.QueryStarted(query_id=0, t_ns=10, problem="2+2?", reference="4")]
    + [ev.Token(query_id=0, t_ns=20 + i, text=f" t{i}") for i in range(40)],
    [ev.QueryFinished(query_id=0, t_ns=90, completion_tokens=40)],
    [ev.Annotation(t_ns=95, key="note", value="x" * 300)],
]


def _write(run: Path, frames: list[list[ev.Event]], **kwargs) -> None:
    with LedgerWriter.create(run, run_id="tamper", flush_interval_s=0, **kwargs) as w:
        for frame in frames:
            w.extend(frame)
            w.flush()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("tamper") / "one-segment"
    _write(run, FRAMES)
    return run


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run over several segments (tiny segments force a rollover per frame)."""
    run = tmp_path_factory.mktemp("tamper") / "multi"
    _write(run, FRAMES, segment_max_bytes=64)
    assert len(list((run / "events").glob("*.ipwl"))) == len(FRAMES)
    return run


def _copy(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / run.name
    shutil.copytree(run, target)
    return target


def _edit_manifest(run: Path, edit) -> None:
    path = run / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def _damaged(cli, run: Path, *needles: str) -> str:
    result = cli("ledger", "verify", str(run))
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert_one_clean_line(result.stderr)
    for needle in needles:
        assert needle in result.stderr, result.stderr
    return result.stderr


@pytest.mark.parametrize("which", [0, -1])
def test_a_wrong_sha256_in_the_manifest_is_reported(multi: Path, tmp_path: Path, cli, which: int) -> None:
    run = _copy(multi, tmp_path)
    name = json.loads((run / "manifest.json").read_text())["segments"][which]["name"]

    def edit(m: dict) -> None:
        m["segments"][which]["sha256"] = "0" * 64

    _edit_manifest(run, edit)
    _damaged(cli, run, name, "sha256")
    assert verify(run).problem is not None


def test_a_wrong_size_in_the_manifest_is_reported(multi: Path, tmp_path: Path, cli) -> None:
    run = _copy(multi, tmp_path)

    def edit(m: dict) -> None:
        m["segments"][1]["size_bytes"] += 1

    _edit_manifest(run, edit)
    _damaged(cli, run, "events/000002.ipwl", "bytes")


def test_a_wrong_event_count_in_the_manifest_is_reported(pristine: Path, tmp_path: Path, cli) -> None:
    run = _copy(pristine, tmp_path)

    def edit(m: dict) -> None:
        m["events"] -= 1

    _edit_manifest(run, edit)
    _damaged(cli, run, "manifest.json", "events")
    # the reader says so too, in one warning
    result = cli("ledger", "info", str(run))
    assert result.exit_code == 0
    assert_one_warning(result.stderr, "events")


def assert_one_warning(stderr: str, needle: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and needle in lines[0], stderr
    assert "Traceback" not in stderr


def _cut_at_frame(run: Path, keep_frames: int) -> None:
    offsets: list[int] = []
    scan(run, on_frame=lambda f: offsets.append(f.position.offset))
    seg = run / "events" / "000001.ipwl"
    seg.write_bytes(seg.read_bytes()[: offsets[keep_frames]])


def test_no_manifest_and_a_cut_at_a_frame_boundary_is_reported(pristine: Path, tmp_path: Path, cli) -> None:
    run = _copy(pristine, tmp_path)
    (run / "manifest.json").unlink()
    _cut_at_frame(run, 2)
    _damaged(cli, run, "manifest.json")
    assert not verify(run).ok
    for args in (("ledger", "info", str(run)), ("replay", str(run), "--analysis", "latency")):
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        assert_one_warning(result.stderr, "manifest.json")
    reader = LedgerReader(run)
    assert len(list(reader.events())) == len(FRAMES[0]) + len(FRAMES[1])
    assert reader.problem is not None and reader.problem.segment == "manifest.json"
    # repair writes a manifest for what is there; from then on it verifies
    assert cli("ledger", "repair", str(run)).exit_code == 0
    assert cli("ledger", "verify", str(run)).exit_code == 0


def test_a_header_only_run_without_manifest_is_a_crash_not_tampering(tmp_path: Path, cli) -> None:
    """Killed between creating its first segment and its first flush: nothing to alter."""
    run = tmp_path / "fresh"
    w = LedgerWriter.create(run, run_id="fresh", flush_interval_s=0)
    assert not (run / "manifest.json").exists()
    result = cli("ledger", "verify", str(run))
    w.close()
    assert result.exit_code == 0, result.stderr
    assert "no manifest.json" in result.stdout


def _behind(run: Path) -> Path:
    """What a writer killed after writing a frame but before rewriting the manifest leaves: three frames
    in the segment, a manifest listing the first two."""
    _write(run, FRAMES[:2])
    stale = (run / "manifest.json").read_bytes()
    with LedgerWriter.open_append(run, flush_interval_s=0) as w:
        w.extend(FRAMES[2])
    (run / "manifest.json").write_bytes(stale)
    return run


def test_a_longer_last_segment_whose_listed_prefix_hashes_right_verifies(tmp_path: Path, cli) -> None:
    run = _behind(tmp_path / "crashed")
    result = cli("ledger", "verify", str(run))
    assert result.exit_code == 0, result.stderr
    assert "note: manifest.json lists 2 of 3 frames" in result.stdout
    assert verify(run).ok
    # the same state with the stale manifest's sha256 altered is tampering
    _edit_manifest(run, lambda m: m["segments"][0].update(sha256="f" * 64))
    _damaged(cli, run, "events/000001.ipwl", "sha256")


def test_a_behind_manifest_with_a_wrong_event_count_is_reported(tmp_path: Path, cli) -> None:
    run = _behind(tmp_path / "crashed")
    _edit_manifest(run, lambda m: m.update(events=m["events"] + 1))
    _damaged(cli, run, "events")


def test_a_listed_segment_that_is_gone_is_reported(multi: Path, tmp_path: Path, cli) -> None:
    run = _copy(multi, tmp_path)
    (run / "events" / "000004.ipwl").unlink()
    _damaged(cli, run)


def test_an_intact_multi_segment_run_verifies(multi: Path, cli) -> None:
    result = cli("ledger", "verify", str(multi))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"ok: {len(FRAMES)} frames")
