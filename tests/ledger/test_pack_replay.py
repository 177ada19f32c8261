"""A shared run reproduces every analysis byte for byte: pack, unpack elsewhere, replay.

The run comes from the real capture path (``shared_run``); the unpacked copy
carries only the segments and the manifest, so every analysis file it ends
up with was rebuilt from the ledger alone.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from ipw.ledger import verify

from tests._shared_run import QUERIES, SECOND_JUDGE

pytestmark = pytest.mark.e2e

# (analysis, extra replay arguments): the profile's defaults and a few options that change the numbers
CASES = [
    ("accuracy", ()),
    ("accuracy", ("--judge", SECOND_JUDGE)),
    ("energy", ()),
    ("energy", ("--option", "policy=tokens", "--option", "idle_baseline=subtract")),
    ("latency", ()),
    ("summary", ()),
    ("regression", ()),
    ("judges", ()),
]


@pytest.fixture(scope="module")
def unpacked(shared_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(pack file, run unpacked from it on another path), made through the CLI."""
    from tests.conftest import run_cli

    where = tmp_path_factory.mktemp("pack")
    pack_file = where / "shared.ipwpack"
    packed = run_cli("ledger", "pack", str(shared_run), "-o", str(pack_file))
    assert packed.exit_code == 0, packed.stderr
    target = tmp_path_factory.mktemp("elsewhere") / "nested" / "their-run"
    result = run_cli("ledger", "unpack", str(pack_file), "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert "unpacked and verified" in result.stdout
    assert not (target / "analysis").exists()  # nothing derived travels unless asked for
    return pack_file, target


def test_pack_holds_the_manifest_first_then_the_segments(shared_run: Path, unpacked: tuple[Path, Path]) -> None:
    pack_file, _ = unpacked
    manifest = json.loads((shared_run / "manifest.json").read_text())
    with tarfile.open(pack_file) as tar:
        names = tar.getnames()
    assert names == ["manifest.json"] + [s["name"] for s in manifest["segments"]]
    assert not list(pack_file.parent.glob(".*tmp*"))  # the temporary pack was renamed into place


def test_unpacked_ledger_is_the_same_bytes_and_verifies(shared_run: Path, unpacked: tuple[Path, Path]) -> None:
    _, target = unpacked
    original = sorted(p.relative_to(shared_run) for p in (shared_run / "events").rglob("*") if p.is_file())
    copied = sorted(p.relative_to(target) for p in (target / "events").rglob("*") if p.is_file())
    assert copied == original
    for rel in [*original, Path("manifest.json")]:
        assert (target / rel).read_bytes() == (shared_run / rel).read_bytes(), rel
    report = verify(target)
    assert report.ok and report.events == verify(shared_run).events


def test_packing_twice_gives_the_same_bytes(shared_run: Path, unpacked: tuple[Path, Path], tmp_path: Path, cli) -> None:
    pack_file, _ = unpacked
    again = tmp_path / "again.ipwpack"
    assert cli("ledger", "pack", str(shared_run), "-o", str(again)).exit_code == 0
    assert again.read_bytes() == pack_file.read_bytes()


@pytest.mark.parametrize(("analysis", "extra"), CASES, ids=[f"{a}{'-' + '-'.join(e) if e else ''}" for a, e in CASES])
def test_replay_of_the_unpacked_run_is_byte_identical(
    shared_run: Path, unpacked: tuple[Path, Path], cli, analysis: str, extra: tuple[str, ...]
) -> None:
    _, target = unpacked
    outputs = {}
    for run in (shared_run, target):
        result = cli("replay", str(run), "--analysis", analysis, *extra, "--json")
        assert result.exit_code == 0, result.stderr
        assert "judged" not in result.stderr  # a replay of a judged run asks no judge
        written = (run / "analysis" / f"{analysis}.json").read_bytes()
        assert result.stdout.encode() == written
        outputs[run] = written
    assert outputs[shared_run] == outputs[target]
    body = json.loads(outputs[target])
    if analysis == "judges":
        assert body["judges"] == sorted(["scorer:auto/v1", SECOND_JUDGE])
        assert body["pairs"][0]["n"] == QUERIES
    if analysis == "accuracy":
        assert body["correct"] + body["incorrect"] + body["unevaluated"] == QUERIES
        assert body["judge"] == (SECOND_JUDGE if extra else "scorer:auto/v1")


def test_include_derived_carries_the_analysis_files(shared_run: Path, tmp_path: Path, cli) -> None:
    for analysis, _ in CASES:
        assert cli("replay", str(shared_run), "--analysis", analysis).exit_code == 0
    pack_file = tmp_path / "with-derived.ipwpack"
    assert cli("ledger", "pack", str(shared_run), "-o", str(pack_file), "--include-derived").exit_code == 0
    target = tmp_path / "their-run"
    result = cli("ledger", "unpack", str(pack_file), "-o", str(target))
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in (shared_run / "analysis").glob("*.json"))
    assert names and sorted(p.name for p in (target / "analysis").glob("*.json")) == names
    for name in names:
        assert (target / "analysis" / name).read_bytes() == (shared_run / "analysis" / name).read_bytes(), name
