"""A pack cannot carry results its own ledger does not give: verify and unpack re-derive analysis/*.json."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.conftest import assert_one_clean_line

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "v1" / "run"


@pytest.fixture
def packed(tmp_path: Path, cli) -> Path:
    run = tmp_path / "run"
    shutil.copytree(GOLDEN, run)
    for analysis in ("accuracy", "latency"):
        assert cli("replay", str(run), "--analysis", analysis).exit_code == 0
    result = cli("replay", str(run), "--analysis", "energy", "--option", "policy=tokens")
    assert result.exit_code == 0, result.stderr
    pack = tmp_path / "run.ipwpack"
    assert cli("ledger", "pack", str(run), "-o", str(pack), "--include-derived").exit_code == 0
    return pack


def _rewrite_member(pack: Path, name: str, edit) -> None:
    """Rebuild the pack with one member changed, as a forger with a tar tool would."""
    with tarfile.open(pack, "r:") as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar]  # type: ignore[union-attr]
    with tarfile.open(pack, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if info.name == name:
                value = json.loads(data)
                edit(value)
                data = (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_an_honest_pack_verifies_and_unpacks(packed: Path, tmp_path: Path, cli) -> None:
    assert cli("ledger", "verify", str(packed)).exit_code == 0
    result = cli("ledger", "unpack", str(packed), "-o", str(tmp_path / "theirs"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "theirs" / "analysis" / "energy.json").is_file()


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("analysis/energy.json", lambda d: d.update(total_energy_j=(d["total_energy_j"] or 0) * 0.5)),
        ("analysis/accuracy.json", lambda d: d.update(accuracy=0.99)),
    ],
)
def test_a_forged_result_in_a_pack_is_refused(packed: Path, tmp_path: Path, cli, name: str, edit) -> None:
    _rewrite_member(packed, name, edit)
    result = cli("ledger", "verify", str(packed))
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert_one_clean_line(result.stderr)
    assert name in result.stderr
    target = tmp_path / "theirs"
    result = cli("ledger", "unpack", str(packed), "-o", str(target))
    assert result.exit_code == 3
    assert_one_clean_line(result.stderr)
    assert name in result.stderr
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".theirs")]
