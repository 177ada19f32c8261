"""Bad values, failed writes, header-less segments and altered manifests never cost a ledger.

Each test here reproduces a reported failure: an event the reader would refuse,
a disk that fails mid-write, a crash between creating a segment and writing its
header, a manifest edited by hand, an output path that cannot exist.
"""

from __future__ import annotations

import errno
import json
import os
import tarfile
from pathlib import Path

import pytest

from ipw import events as ev
from ipw.errors import LedgerError
from ipw.ledger import LedgerReader, LedgerWriter, decode_batch, encode_batch, read_events, repair, verify

from tests.conftest import assert_one_clean_line


def _start(run_id: str = "rob") -> ev.RunStarted:
    return ev.RunStarted(run_id=run_id, t_ns=1, wall_time_ns=2, config={"model": "m"})


def _tokens(query_id: int, t0: int, n: int) -> list[ev.Token]:
    return [ev.Token(query_id=query_id, t_ns=t0 + i, text=f" t{i}") for i in range(n)]


# -- events the reader would refuse --------------------------------------------


def test_a_bool_count_is_stored_as_unknown_and_later_frames_stay_readable(run_dir: Path) -> None:
    # msgspec does not check types on construction: this encoded fine and then
    # made the frame, and so every frame after it, unreadable
    bad = ev.QueryFinished(query_id=0, t_ns=50, prompt_tokens=True, completion_tokens=3)
    later = [ev.QueryStarted(query_id=1, t_ns=60), *_tokens(1, 61, 3)]
    with LedgerWriter.create(run_dir, run_id="rob", flush_interval_s=0) as w:
        w.extend([_start(), ev.QueryStarted(query_id=0, t_ns=10), *_tokens(0, 11, 3), bad])
        w.flush()
        w.extend(later)
    assert verify(run_dir).ok
    got = read_events(run_dir)
    assert len(got) == 6 + len(later)
    assert got[5] == ev.QueryFinished(query_id=0, t_ns=50, prompt_tokens=None, completion_tokens=3)
    assert got[6:] == later


@pytest.mark.parametrize(
    "bad, kept",
    [
        (ev.Token(query_id=0, t_ns=20, text="a\ud800"), ev.Token(query_id=0, t_ns=20, text="a\ufffd\ufffd\ufffd")),
        (ev.QueryStarted(query_id=0, t_ns=20, problem="x\udfff"), ev.QueryStarted(query_id=0, t_ns=20, problem="x\ufffd\ufffd\ufffd")),
        (ev.QueryFinished(query_id=0, t_ns=20, completion_tokens=2**70), ev.QueryFinished(query_id=0, t_ns=20)),
        (ev.QueryFinished(query_id=0, t_ns=20, ttft_ns=-(2**63) - 1), ev.QueryFinished(query_id=0, t_ns=20)),
        (ev.PowerSample(device="gpu0", t_ns=20, power_w=True, energy_j=1.5), ev.PowerSample(device="gpu0", t_ns=20, energy_j=1.5)),
    ],
    ids=["token-surrogate", "problem-surrogate", "huge-count", "below-int64-ttft", "bool-power"],
)
def test_an_unencodable_event_is_cleaned_and_the_batch_is_kept(run_dir: Path, bad: ev.Event, kept: ev.Event) -> None:
    before = [_start(), ev.QueryStarted(query_id=0, t_ns=10), *_tokens(0, 11, 3)]
    after = _tokens(0, 30, 2)
    with LedgerWriter.create(run_dir, run_id="rob", flush_interval_s=0) as w:
        w.extend([*before, bad, *after])
        assert w.flush() == len(before) + 1 + len(after)
        w.append(ev.RunFinished(t_ns=99, status="completed"))
    assert verify(run_dir).ok
    assert read_events(run_dir) == [*before, kept, *after, ev.RunFinished(t_ns=99, status="completed")]


@pytest.mark.parametrize(
    "bad, reason",
    [
        (ev.Token(query_id=True, t_ns=20, text="x"), "token: query_id=True"),
        (ev.Token(query_id=0, t_ns=2**64 + 5, text="x"), "token: t_ns="),
        (ev.Token(query_id=0, t_ns=20, text=b"bytes"), "token: text=b'bytes'"),
        (ev.Token(query_id=0, t_ns=20, text="x", n_tokens=2**63), "token: n_tokens="),
        (ev.QueryFinished(query_id=True, t_ns=20), "query_finished: "),
        (ev.QueryFailed(query_id=0, t_ns=20, error_type=None, message="m"), "query_failed: "),  # type: ignore[arg-type]
    ],
    ids=["bool-query-id", "huge-t", "bytes-text", "huge-n-tokens", "bool-query-id-finished", "none-required-str"],
)
def test_an_event_that_cannot_be_cleaned_becomes_an_annotation(run_dir: Path, bad: ev.Event, reason: str) -> None:
    good = [_start(), *_tokens(0, 11, 3)]
    with LedgerWriter.create(run_dir, run_id="rob", flush_interval_s=0) as w:
        w.extend([*good, bad, *_tokens(0, 30, 2)])
        w.flush()
        w.extend(_tokens(0, 40, 2))
    assert verify(run_dir).ok
    got = read_events(run_dir)
    assert got[: len(good)] == good
    stand_in = got[len(good)]
    assert isinstance(stand_in, ev.Annotation) and stand_in.key == "event_dropped"
    assert stand_in.value.startswith(reason), stand_in.value
    expected_t = bad.t_ns if type(bad.t_ns) is int and bad.t_ns < 2**63 else 0
    assert stand_in.t_ns == expected_t
    assert got[len(good) + 1 :] == [*_tokens(0, 30, 2), *_tokens(0, 40, 2)]


def test_something_that_is_not_an_event_is_annotated_not_fatal() -> None:
    batch = [_start(), {"kind": "token"}, *_tokens(0, 5, 2)]
    got = decode_batch(encode_batch(batch))  # type: ignore[arg-type]
    assert got[0] == _start() and got[2:] == _tokens(0, 5, 2)
    assert isinstance(got[1], ev.Annotation) and got[1].value.startswith("dict: ")


def test_valid_batches_encode_to_the_same_bytes_as_the_reader_expects() -> None:
    batch = [_start(), *_tokens(3, 100, 50), ev.Token(query_id=3, t_ns=200, text="x", n_tokens=4),
             ev.QueryFinished(query_id=3, t_ns=300, prompt_tokens=7, completion_tokens=54)]
    assert decode_batch(encode_batch(batch)) == batch
    assert decode_batch(encode_batch(_tokens(1, 5, 10))) == _tokens(1, 5, 10)


# -- the disk failing --------------------------------------------------------------


def test_a_full_disk_is_a_ledger_error_and_the_batch_waits_for_the_next_flush(run_dir: Path, monkeypatch) -> None:
    from ipw.ledger import writer as writer_mod

    real_write_all = writer_mod._write_all
    failing = {"on": False}

    def write_all(fd: int, data: bytes) -> None:
        # stands in for a disk that fills up mid-frame: half the bytes land, then ENOSPC
        if failing["on"]:
            failing["on"] = False
            os.write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write_all(fd, data)

    monkeypatch.setattr(writer_mod, "_write_all", write_all)
    first = [_start(), *_tokens(0, 10, 5)]
    second = _tokens(0, 20, 5)
    w = LedgerWriter.create(run_dir, run_id="rob", flush_interval_s=0)
    w.extend(first)
    w.flush()
    w.extend(second)
    failing["on"] = True
    with pytest.raises(LedgerError) as info:
        w.flush()
    assert "No space left on device" in info.value.one_line() and "disk is full" in info.value.one_line()
    assert w.events_acknowledged == len(first)
    w.close()  # the disk has space again: the held batch is written
    assert verify(run_dir).ok
    assert read_events(run_dir) == [*first, *second]


def test_a_partial_frame_that_cannot_be_cut_stops_the_writer(run_dir: Path, monkeypatch) -> None:
    from ipw.ledger import writer as writer_mod

    real_write_all = writer_mod._write_all
    state = {"fail": False}

    def write_all(fd: int, data: bytes) -> None:
        # stands in for a device that fails mid-write (EIO) and then refuses the truncate too
        if state["fail"]:
            os.write(fd, data[: len(data) // 2])
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_write_all(fd, data)

    def ftruncate(fd: int, length: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(writer_mod, "_write_all", write_all)
    first = [_start(), *_tokens(0, 10, 5)]
    w = LedgerWriter.create(run_dir, run_id="rob", flush_interval_s=0)
    w.extend(first)
    w.flush()
    state["fail"] = True
    monkeypatch.setattr(writer_mod.os, "ftruncate", ftruncate)
    w.extend(_tokens(0, 20, 5))
    with pytest.raises(LedgerError, match="Input/output error"):
        w.flush()
    state["fail"] = False
    monkeypatch.undo()
    with pytest.raises(LedgerError) as info:
        w.flush()  # nothing is written after the partial frame
    assert "ipw ledger repair" in info.value.one_line()
    with pytest.raises(LedgerError):
        w.close()
    repair(run_dir)
    assert read_events(run_dir) == first


def test_create_under_a_file_is_a_ledger_error(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(LedgerError) as info:
        LedgerWriter.create(blocker / "run", run_id="rob", flush_interval_s=0)
    assert "Not a directory" in info.value.one_line()


# -- header-less segments ----------------------------------------------------------


def _two_segment_run(run_dir: Path) -> list[ev.Event]:
    written: list[ev.Event] = [_start()]
    with LedgerWriter.create(run_dir, run_id="rob", flush_interval_s=0, segment_max_bytes=300) as w:
        w.append(written[0])
        w.flush()
        for q in range(4):
            batch = _tokens(q, 100 * q, 20)
            w.extend(batch)
            w.flush()
            written.extend(batch)
    assert len(sorted((run_dir / "events").glob("*.ipwl"))) >= 2
    return written


def test_a_zero_byte_last_segment_is_repaired_and_appending_continues(run_dir: Path, cli) -> None:
    _two_segment_run(run_dir)
    last = sorted((run_dir / "events").glob("*.ipwl"))[-1]
    os.truncate(last, 0)
    damaged = cli("ledger", "verify", str(run_dir))
    assert damaged.exit_code == 3
    assert_one_clean_line(damaged.stderr)
    assert last.name in damaged.stderr
    fixed = cli("ledger", "repair", str(run_dir))
    assert fixed.exit_code == 0, fixed.stderr
    assert not last.exists()
    assert (run_dir / "events" / "quarantine" / f"{last.name}.from-0").exists()
    ok = cli("ledger", "verify", str(run_dir))
    assert ok.exit_code == 0, ok.stderr
    kept = read_events(run_dir)
    with LedgerWriter.open_append(run_dir, flush_interval_s=0, segment_max_bytes=300) as w:
        w.extend(_tokens(9, 1000, 20))
        w.flush()
        w.extend(_tokens(9, 2000, 20))
    assert verify(run_dir).ok
    assert read_events(run_dir) == [*kept, *_tokens(9, 1000, 20), *_tokens(9, 2000, 20)]


def test_a_crash_before_the_first_header_is_written_can_be_resumed(run_dir: Path) -> None:
    (run_dir / "events").mkdir(parents=True)
    (run_dir / "events" / "000001.ipwl").write_bytes(b"")  # created, then the process died
    assert not verify(run_dir).ok
    with LedgerWriter.open_append(run_dir, run_id="rob", flush_interval_s=0) as w:
        w.append(_start())
    assert verify(run_dir).ok
    assert read_events(run_dir) == [_start()]


# -- manifests edited by hand --------------------------------------------------------

BAD_FRAMES = ["abc", None, [1], -1, True, 1.5]


def _small_run(run_dir: Path) -> None:
    with LedgerWriter.create(run_dir, run_id="rob", flush_interval_s=0) as w:
        w.extend([_start(), *_tokens(0, 10, 3)])


def _set_frames(run_dir: Path, value: object) -> None:
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["frames"] = value
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("value", BAD_FRAMES, ids=repr)
def test_verify_names_a_malformed_frame_count(run_dir: Path, cli, value: object) -> None:
    _small_run(run_dir)
    _set_frames(run_dir, value)
    result = cli("ledger", "verify", str(run_dir))
    assert result.exit_code == 3, result.stderr
    assert_one_clean_line(result.stderr)
    assert "manifest.json" in result.stderr and "\"frames\" is" in result.stderr
    assert len(list(LedgerReader(run_dir).events())) == 4  # the events themselves still read
    assert cli("ledger", "repair", str(run_dir)).exit_code == 0
    assert cli("ledger", "verify", str(run_dir)).exit_code == 0


@pytest.mark.parametrize("value", BAD_FRAMES, ids=repr)
def test_unpack_and_pack_refuse_a_malformed_frame_count(run_dir: Path, tmp_path: Path, cli, value: object) -> None:
    _small_run(run_dir)
    _set_frames(run_dir, value)
    pack_file = tmp_path / "bad.ipwpack"
    with tarfile.open(pack_file, "w") as tar:
        for name in ["manifest.json", "events/000001.ipwl"]:
            tar.add(run_dir / name, arcname=name)
    result = cli("ledger", "unpack", str(pack_file), "-o", str(tmp_path / "out"))
    assert result.exit_code == 3, result.stderr
    assert_one_clean_line(result.stderr)
    assert "\"frames\" is" in result.stderr
    assert not (tmp_path / "out").exists()
    packed = cli("ledger", "pack", str(run_dir), "-o", str(tmp_path / "again.ipwpack"))
    assert packed.exit_code == 3, packed.stderr
    assert_one_clean_line(packed.stderr)


@pytest.mark.parametrize("value", ["abc", None, -1], ids=repr)
def test_replay_names_a_malformed_frame_count(run_dir: Path, cli, value: object) -> None:
    _small_run(run_dir)
    _set_frames(run_dir, value)
    result = cli("replay", str(run_dir), "--analysis", "latency", "--no-eval")
    # replay reads the valid prefix and warns about the manifest in one line
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("warning: manifest.json"), result.stderr
    assert "\"frames\" is" in warnings[0]


# -- paths the operating system refuses ----------------------------------------------


def test_pack_and_unpack_to_an_impossible_path_is_one_line(run_dir: Path, tmp_path: Path, cli) -> None:
    _small_run(run_dir)
    refused = cli("ledger", "pack", str(run_dir), "-o", "/proc/ipw-no/zz.ipwpack")
    assert refused.exit_code == 1, refused.stderr
    assert_one_clean_line(refused.stderr)
    assert "/proc/ipw-no" in refused.stderr
    pack_file = tmp_path / "ok.ipwpack"
    assert cli("ledger", "pack", str(run_dir), "-o", str(pack_file)).exit_code == 0
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    result = cli("ledger", "unpack", str(pack_file), "-o", str(blocker / "run"))
    assert result.exit_code == 1, result.stderr
    assert_one_clean_line(result.stderr)
    assert str(blocker) in result.stderr


def test_an_os_error_at_the_boundary_is_one_line_with_code_1(monkeypatch, capsys) -> None:
    import ipw.cli as cli_mod

    def boom(**kwargs):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), "runs/afile/events")

    monkeypatch.setattr(cli_mod.cli, "main", boom)
    with pytest.raises(SystemExit) as info:
        cli_mod.main(["list"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert_one_clean_line(err)
    assert "(Not a directory: runs/afile/events);" in err
