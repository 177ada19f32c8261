"""A cut or corrupted ledger gives its valid prefix or one clear line, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ipw import events as ev
from ipw.ledger import LedgerReader, LedgerWriter, read_events, repair, scan

from tests.conftest import assert_one_clean_line

FRAMES = [
    [ev.RunStarted(run_id="dmg", t_ns=1, wall_time_ns=2, config={"model": "m"})],
    [ev.QueryStarted(query_id=0, t_ns=10, problem="2+2?", reference="4")]
    + [ev.Token(query_id=0, t_ns=20 + i, text=f" t{i}") for i in range(5)],
    [ev.Token(query_id=0, t_ns=40, text="ünï"), ev.QueryFinished(query_id=0, t_ns=50, completion_tokens=6)],
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    run = tmp_path_factory.mktemp("pristine") / "run"
    with LedgerWriter.create(run, run_id="dmg", flush_interval_s=0) as w:
        for frame in FRAMES:
            w.extend(frame)
            w.flush()
    seg = run / "events" / "000001.ipwl"
    offsets: list[int] = []
    scan(run, on_frame=lambda f: offsets.append(f.position.offset))
    return run, offsets[-1], seg.stat().st_size


def _copy(pristine_run: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(pristine_run, target)
    return target


PREFIX = [e for frame in FRAMES[:-1] for e in frame]


def _check_damaged(run: Path, cli) -> None:
    result = cli("ledger", "verify", str(run))
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert_one_clean_line(result.stderr)
    assert "events/000001.ipwl at byte" in result.stderr
    reader = LedgerReader(run)
    assert list(reader.events()) == PREFIX
    assert reader.problem is not None
    fixed = cli("ledger", "repair", str(run))
    assert fixed.exit_code == 0, fixed.stderr
    again = cli("ledger", "verify", str(run))
    assert again.exit_code == 0, again.stderr
    assert read_events(run) == PREFIX


def test_cut_at_every_byte_of_the_last_frame(pristine, tmp_path: Path, cli) -> None:
    run0, last, size = pristine
    for cut in range(last, size):
        run = _copy(run0, tmp_path, f"cut{cut}")
        seg = run / "events" / "000001.ipwl"
        seg.write_bytes(seg.read_bytes()[:cut])
        _check_damaged(run, cli)


def test_flip_every_byte_of_the_last_frame(pristine, tmp_path: Path, cli) -> None:
    run0, last, size = pristine
    for pos in range(last, size):
        run = _copy(run0, tmp_path, f"flip{pos}")
        seg = run / "events" / "000001.ipwl"
        data = bytearray(seg.read_bytes())
        data[pos] ^= 0x5A
        seg.write_bytes(bytes(data))
        result = cli("ledger", "verify", str(run))
        assert result.exit_code == 3
        assert f"events/000001.ipwl at byte {last}:" in result.stderr
        _check_damaged(run, cli)


def test_intact_ledger_verifies(pristine, cli) -> None:
    run, _last, _size = pristine
    result = cli("ledger", "verify", str(run))
    assert result.exit_code == 0
    assert result.stdout.startswith("ok: 3 frames, 9 events")


def test_repair_keeps_the_cut_bytes(pristine, tmp_path: Path) -> None:
    run0, last, size = pristine
    run = _copy(run0, tmp_path, "keep")
    seg = run / "events" / "000001.ipwl"
    seg.write_bytes(seg.read_bytes()[: size - 3])
    report = repair(run)
    assert report.cut_bytes == size - 3 - last
    kept = run / report.quarantined[0]
    assert kept.read_bytes() == (run0 / "events" / "000001.ipwl").read_bytes()[last : size - 3]


def test_manifest_tampering_is_detected(pristine, tmp_path: Path, cli) -> None:
    import json

    run0, _last, _size = pristine
    run = _copy(run0, tmp_path, "manifest")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["head_hash"] = "00" * 32
    (run / "manifest.json").write_text(json.dumps(manifest))
    result = cli("ledger", "verify", str(run))
    assert result.exit_code == 3
    assert_one_clean_line(result.stderr)
    assert "head hash" in result.stderr


def test_garbage_and_missing_runs_give_one_line(tmp_path: Path, cli) -> None:
    (tmp_path / "junk" / "events").mkdir(parents=True)
    (tmp_path / "junk" / "events" / "000001.ipwl").write_bytes(b"not a ledger at all")
    for args in (
        ("ledger", "verify", str(tmp_path / "junk")),
        ("ledger", "verify", str(tmp_path / "nope")),
        ("ledger", "info", str(tmp_path / "nope")),
        ("ledger", "export", str(tmp_path)),
    ):
        result = cli(*args)
        assert result.exit_code != 0
        assert_one_clean_line(result.stderr)
