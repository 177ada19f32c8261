"""The lower bounds CI tests are the lower bounds pyproject.toml declares."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# declared but not pinned by the lower-bound pass, each for a stated reason
NOT_PINNED = {
    "llama-cpp-python": "compiles from source for minutes; CI builds it once and both passes reuse that wheel",
    "nvidia-ml-py": "needs an NVIDIA driver; the tests use a fake NVML, so no version of it is exercised here",
}


def _declared() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"]) + [s for extra in project["optional-dependencies"].values() for s in extra]
    bounds: dict[str, str] = {}
    for spec in specs:
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?>=([^,;\s]+)$", spec)
        if match:
            name = match[1].lower()
            assert bounds.get(name, match[2]) == match[2], f"{name} has two different lower bounds"
            bounds[name] = match[2]
    return bounds


def _pinned() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints" / "lower-bounds.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)$", line.strip())
        if match:
            pins[match[1].lower()] = match[2]
    return pins


def test_every_lower_bound_is_pinned_for_the_lower_bound_pass() -> None:
    declared, pinned = _declared(), _pinned()
    assert declared and pinned
    for name, version in declared.items():
        if name in NOT_PINNED:
            assert name not in pinned, f"{name} is pinned but listed as not pinned"
            continue
        assert pinned.get(name) == version, f"pyproject.toml says {name}>={version}, constraints/lower-bounds.txt {pinned.get(name)}"
    assert set(pinned) <= set(declared), f"pinned but not declared: {sorted(set(pinned) - set(declared))}"


def test_ci_runs_the_lower_bound_pass() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install --quiet -c constraints/lower-bounds.txt -e '.[dev]'" in ci
    assert ".venv-lower" in ci
