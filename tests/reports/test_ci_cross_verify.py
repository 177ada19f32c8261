""".ci/run's cross-check: each CI pass verifies the analysis files the other pass wrote.

The fragment is cut out of ``.ci/run`` between its markers and run by bash
with this interpreter's venv standing in for both of CI's venvs (the whole of
``.ci/run`` installs two venvs and takes many minutes). It must write every
listed analysis, verify them all, and fail on a number edited past the audit's
tolerance.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START = "# --- cross-check:"
END = "# --- end cross-check ---"


def _fragment() -> str:
    text = (ROOT / ".ci" / "run").read_text()
    assert START in text and END in text, ".ci/run lost its cross-check markers"
    return text[text.index(START): text.index(END)]


SCRIPT = """set -euo pipefail
{fragment}
analyse_all "$CROSS/newest"
ls "$CROSS/newest/analysis"
verify_other "$CROSS/newest"
echo "verified"
python - "$CROSS/newest/analysis/{edited}.json" <<'EOF'
import json, sys
path = sys.argv[1]
data = json.load(open(path))
data["{key}"] = data["{key}"] * (1 + 1e-6)
open(path, "w").write(json.dumps(data, indent=2, sort_keys=True) + "\\n")
EOF
if verify_other "$CROSS/newest"; then exit 9; fi
echo "edit caught"
"""


@pytest.mark.parametrize(("edited", "key"), [("latency", "wall_span_s")])
def test_the_cross_check_writes_every_analysis_verifies_them_and_catches_an_edit(tmp_path: Path, edited: str,
                                                                                  key: str) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    script = SCRIPT.format(fragment=_fragment(), edited=edited, key=key)
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout, done.stderr)
    from ipw.registry import REGISTRY

    written = {line.removesuffix(".json") for line in done.stdout.split() if line.endswith(".json")}
    assert written == set(REGISTRY.ids("analyses"))
    assert "verified" in done.stdout and "edit caught" in done.stdout
    assert f"analysis/{edited}.json" in done.stderr and "does not verify here" in done.stderr
    assert not list(tmp_path.glob("ipw-ci-cross.*")), "the fragment leaves its folder behind"
