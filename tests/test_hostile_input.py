"""Hostile input never crashes (SPEC §8): every reader of untrusted input, through the real CLI.

Deep nesting, huge sizes, bad encodings and special files (a FIFO, /dev/zero,
a directory, a symlink loop) go to each reader: dataset files of every format,
``manifest.json``, packs, power trace CSVs, ``ledger import`` JSON lines, and
server error bodies and SSE chunks. A refusal must exit with its documented
code (never 70), say so in exactly one ``ipw: error:`` line, and leave nothing
behind. Sizes are kept small by lowering the caps where a cap is the point.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipw.events import QueryFailed
from ipw.ledger import read_events
from tests._hostile_server import record_against
from tests.conftest import CliResult, run_cli
from tests.ledger.test_pack_bombs import gnu_sparse_header
from tests.reports.ledgers import Q, write_run

HYPOTHESIS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NOWHERE = "http://127.0.0.1:9/v1"  # datasets are read before the server is asked


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def assert_refused(result: CliResult, code: int) -> None:
    assert result.exit_code == code, result
    assert result.exit_code != 70
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipw: error: "), result.stderr
    assert "Traceback" not in result.stderr


def make_special(path: Path, kind: str) -> Path:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink-loop":
        path.symlink_to(path)
    return path


SPECIALS = ["fifo", "dev-zero", "directory", "symlink-loop"]


# -- datasets -------------------------------------------------------------------------------------------


def record_dataset(tmp_path: Path, path: Path, *params: str, dataset: str = "file") -> CliResult:
    return run_cli("record", "--client", "openai", "--client-base-url", NOWHERE, "--model", "m",
                   "--dataset", dataset, "--dataset-param", f"path={path}", *params,
                   "--output-dir", str(tmp_path / "runs"), "--run-name", "r", "--energy", "none")


def assert_dataset_refused(tmp_path: Path, result: CliResult) -> None:
    assert_refused(result, 4)
    assert not (tmp_path / "runs").exists()


def _parquet_deep(path: Path) -> None:
    value: object = "x"
    for _ in range(80):
        value = [value]
    pq.write_table(pa.table({"problem": ["p"], "answer": ["a"], "dataset_metadata": [{"x": value}]}), path)


def _arrow_dir_deep_state(path: Path) -> None:
    path.mkdir()
    (path / "state.json").write_text('{"_data_files": ' + deep(100_000) + "}")


DATASET_FILES: dict[str, tuple[str, Callable[[Path], None], str]] = {
    # id -> (file name, writer, dataset id)
    "jsonl-deep": ("d.jsonl", lambda p: p.write_text(deep(100_000) + "\n"), "file"),
    "jsonl-deep-metadata": ("d.jsonl", lambda p: p.write_text(
        json.dumps({"problem": "p", "answer": "a", "dataset_metadata": '{"m": ' + deep(100_000) + "}"}) + "\n"), "file"),
    "json-deep": ("d.json", lambda p: p.write_text(deep(100_000)), "file"),
    "csv-latin-1": ("d.csv", lambda p: p.write_bytes("problem,answer\nEspa\u00f1a?,Madrid\n".encode("latin-1")), "file"),
    "csv-utf-16": ("d.csv", lambda p: p.write_bytes("problem,answer\nq?,a\n".encode("utf-16")), "file"),
    "csv-deep-metadata": ("d.csv", lambda p: p.write_text(
        'problem,answer,dataset_metadata\nq?,a,"{""m"": ' + deep(5000) + '}"\n'), "file"),
    "parquet-deep": ("d.parquet", _parquet_deep, "file"),
    "parquet-garbage": ("d.parquet", lambda p: p.write_bytes(b"PAR1" + b"\xff" * 100 + b"PAR1"), "file"),
    "upstream-deep": ("d.jsonl", lambda p: p.write_text(
        json.dumps({"problem": "p", "answer": "a", "subject": "s", "dataset_metadata": {"x": json.loads(deep(100))}})
        + "\n"), "ipw"),
    "arrow-dir-deep-state": ("saved", _arrow_dir_deep_state, "ipw"),
    "arrow-file-garbage": ("d.arrow", lambda p: p.write_bytes(b"ARROW1" + b"\0" * 100), "file"),
}


@pytest.mark.parametrize("case", sorted(DATASET_FILES))
def test_hostile_dataset_file(tmp_path: Path, case: str) -> None:
    name, write, dataset = DATASET_FILES[case]
    path = tmp_path / name
    write(path)
    assert_dataset_refused(tmp_path, record_dataset(tmp_path, path, dataset=dataset))


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet", "arrow"])
@pytest.mark.parametrize("kind", SPECIALS)
def test_dataset_special_files(tmp_path: Path, kind: str, fmt: str) -> None:
    path = make_special(tmp_path / f"data.{fmt}", kind)
    result = record_dataset(tmp_path, path, "--dataset-param", f"format={fmt}")
    assert_dataset_refused(tmp_path, result)


def test_dataset_huge_line_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ipw.capture.datasets import _readers

    monkeypatch.setattr(_readers, "MAX_ROW_BYTES", 4096)
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"problem": "p" * 10_000, "answer": "a"}) + "\n")
    assert_dataset_refused(tmp_path, record_dataset(tmp_path, path))
    monkeypatch.setattr(_readers, "MAX_FILE_BYTES", 64)
    path.write_text(json.dumps({"problem": "p" * 100, "answer": "a"}) + "\n")
    assert_dataset_refused(tmp_path, record_dataset(tmp_path, path))


@HYPOTHESIS
@given(data=st.binary(min_size=1, max_size=2000), fmt=st.sampled_from(["jsonl", "json", "csv", "tsv"]))
def test_dataset_arbitrary_bytes(tmp_path: Path, data: bytes, fmt: str) -> None:
    path = tmp_path / f"fuzz.{fmt}"
    path.write_bytes(data)
    result = record_dataset(tmp_path, path)
    # bytes that happen to parse reach the (absent) server: exit 5; otherwise the dataset is refused: exit 4
    assert result.exit_code in (4, 5), result
    assert_refused(result, result.exit_code)
    assert not (tmp_path / "runs").exists()


@HYPOTHESIS
@given(depth=st.integers(min_value=65, max_value=20_000), wrap=st.sampled_from(["[", '{"k": ']))
def test_dataset_any_nesting_past_the_cap(tmp_path: Path, depth: int, wrap: str) -> None:
    close = "]" if wrap == "[" else "}"
    path = tmp_path / "nested.jsonl"
    path.write_text(json.dumps({"problem": "p", "answer": "a"})[:-1] + ', "m": ' + wrap * depth + "1" + close * depth
                    + "}\n")
    assert_dataset_refused(tmp_path, record_dataset(tmp_path, path))


# -- manifest.json --------------------------------------------------------------------------------------


def small_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run", [Q("r1", 0.0, 0.5, 3, correct=True)])


MANIFESTS: dict[str, Callable[[Path], None]] = {
    "deep": lambda p: p.write_text('{"format": "ipw-ledger", "x": ' + deep(100_000) + "}"),
    "not-utf8": lambda p: p.write_bytes(b'{"format": "ipw-ledger", "run_id": "\xff"}'),
    "not-an-object": lambda p: p.write_text(deep(10)),
    **{kind: (lambda kind: lambda p: (p.unlink(), make_special(p, kind)))(kind) for kind in SPECIALS},
}


@pytest.mark.parametrize("command", ["verify", "info", "pack"])
@pytest.mark.parametrize("case", sorted(MANIFESTS))
def test_hostile_manifest(tmp_path: Path, case: str, command: str) -> None:
    run = small_run(tmp_path)
    MANIFESTS[case](run / "manifest.json")
    args = {"verify": ["ledger", "verify", str(run)], "info": ["ledger", "info", str(run)],
            "pack": ["ledger", "pack", str(run), "-o", str(tmp_path / "p.ipwpack")]}[command]
    assert_refused(run_cli(*args), 3)
    assert not (tmp_path / "p.ipwpack").exists() and not (tmp_path / ".p.ipwpack.tmp").exists()


@HYPOTHESIS
@given(data=st.binary(max_size=3000))
def test_manifest_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    run = tmp_path / "run"
    if not run.exists():
        small_run(tmp_path)
    (run / "manifest.json").write_bytes(data)
    assert_refused(run_cli("ledger", "verify", str(run)), 3)


# -- packs ----------------------------------------------------------------------------------------------


def good_pack(tmp_path: Path) -> Path:
    pack_file = tmp_path / "good.ipwpack"
    if not pack_file.exists():
        assert run_cli("ledger", "pack", str(small_run(tmp_path)), "-o", str(pack_file)).exit_code == 0
    return pack_file


def assert_pack_refused(tmp_path: Path, pack_file: Path, code: int = 3) -> None:
    dest = tmp_path / "dest"
    dest.mkdir(exist_ok=True)
    assert_refused(run_cli("ledger", "unpack", str(pack_file), "-o", str(dest / "new" / "run")), code)
    assert list(dest.iterdir()) == []


def _with_member(good: Path, out: Path, name: str, data: bytes) -> Path:
    with tarfile.open(good) as src, tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
        for info in src.getmembers():
            blob = data if info.name == name else src.extractfile(info).read()  # type: ignore[union-attr]
            info.size = len(blob)
            dst.addfile(info, io.BytesIO(blob))
    return out


def test_pack_with_a_deep_manifest(tmp_path: Path) -> None:
    bad = _with_member(good_pack(tmp_path), tmp_path / "deep.ipwpack", "manifest.json",
                       b'{"format": "ipw-ledger", "segments": ' + deep(100_000).encode() + b"}")
    assert_pack_refused(tmp_path, bad)
    assert_refused(run_cli("ledger", "verify", str(bad)), 3)


def test_pack_with_a_sparse_bomb(tmp_path: Path) -> None:
    good = good_pack(tmp_path)
    body = good.read_bytes().rstrip(b"\0")
    body += b"\0" * (-len(body) % 512)
    bomb = tmp_path / "bomb.ipwpack"
    bomb.write_bytes(body + gnu_sparse_header("analysis/x.json", 1024**3, b"{}") + b"\0" * 1024)
    assert_pack_refused(tmp_path, bomb)


@pytest.mark.parametrize("kind", SPECIALS)
def test_pack_special_files(tmp_path: Path, kind: str) -> None:
    path = make_special(tmp_path / "p.ipwpack", kind)
    # a directory is refused by the option itself (bad usage); the others are no pack file (exit 2)
    assert_pack_refused(tmp_path, path, code=2)


@HYPOTHESIS
@given(data=st.binary(max_size=4000), cut=st.integers(min_value=0, max_value=20_000))
def test_pack_arbitrary_bytes_and_cuts(tmp_path: Path, data: bytes, cut: int) -> None:
    good = good_pack(tmp_path).read_bytes()
    for blob in (data, good[:cut] + data):
        bad = tmp_path / "fuzz.ipwpack"
        bad.write_bytes(blob)
        result = run_cli("ledger", "unpack", str(bad), "-o", str(tmp_path / "dest" / "run"))
        if result.exit_code == 0:  # the cut kept the whole pack and the bytes after it are padding
            import shutil

            shutil.rmtree(tmp_path / "dest")
            continue
        assert_refused(result, 3)
        assert not (tmp_path / "dest").exists()


# -- power traces ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["latin-1", "utf-16", "binary", "nan", *SPECIALS])
def test_hostile_power_trace(tmp_path: Path, case: str) -> None:
    run = small_run(tmp_path)
    before = sorted((p.name, p.stat().st_size) for p in (run / "events").iterdir())
    trace = tmp_path / "trace.csv"
    contents = {"latin-1": "timestamp,power_w\n1,2\n#\u00e9\n".encode("latin-1"),
                "utf-16": "timestamp,power_w\n1,2\n".encode("utf-16"), "binary": b"\xff\xfe\x00,\x80\n",
                "nan": b"timestamp,power_w\n1767225600,nan\n"}
    if case in contents:
        trace.write_bytes(contents[case])
    else:
        make_special(trace, case)
    assert_refused(run_cli("ledger", "import-power", str(run), str(trace)), 2)
    assert sorted((p.name, p.stat().st_size) for p in (run / "events").iterdir()) == before


@HYPOTHESIS
@given(data=st.binary(max_size=2000))
def test_power_trace_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    run = tmp_path / "run"
    if not run.exists():
        small_run(tmp_path)
    trace = tmp_path / "trace.csv"
    trace.write_bytes(b"timestamp,power_w\n" + data)
    result = run_cli("ledger", "import-power", str(run), str(trace))
    assert result.exit_code in (0, 2), result
    if result.exit_code == 2:
        assert_refused(result, 2)


# -- ledger import --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["deep", "not-utf8", *SPECIALS])
def test_hostile_ledger_import(tmp_path: Path, case: str) -> None:
    source = tmp_path / "events.jsonl"
    if case == "deep":
        source.write_text('{"kind": "run_started", "run_id": "r", "t_ns": 1, "wall_time_ns": 1, "config": {"x": '
                          + deep(100_000) + "}}\n")
    elif case == "not-utf8":
        source.write_bytes(b'{"kind": "run_started", "run_id": "\xff\xfe", "t_ns": 1, "wall_time_ns": 1}\n')
    else:
        make_special(source, case)
    assert_refused(run_cli("ledger", "import", str(source), "-o", str(tmp_path / "imported")), 2)
    assert not (tmp_path / "imported").exists()


@HYPOTHESIS
@given(data=st.binary(min_size=1, max_size=2000))
def test_ledger_import_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(data)
    target = tmp_path / "imported"
    result = run_cli("ledger", "import", str(source), "-o", str(target))
    if result.exit_code == 0:  # only blank lines: an empty ledger
        import shutil

        shutil.rmtree(target)
        return
    assert_refused(result, 2)
    assert not target.exists()


# -- server error bodies and SSE chunks -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["deep-error", "huge-error", "deep-sse", "binary-sse"])
def test_hostile_server_bodies_become_recorded_failures(tmp_path: Path, mode: str) -> None:
    result = record_against(mode, tmp_path, queries=1)
    assert result.exit_code == 5, result  # the one query failed: recorded, and said by the exit status
    assert "ipw: error: every query failed (1 of 1)" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    failures = [e for e in read_events(tmp_path / "r") if isinstance(e, QueryFailed)]
    assert [f.error_type for f in failures] == ["ServerResponseError"]
    assert len(failures[0].message) < 600
