"""The public surface: each package's ``__all__`` names exist, and nothing private leaks into it."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "ipw",
    "ipw.errors",
    "ipw.events",
    "ipw.ledger",
    "ipw.replay",
    "ipw.registry",
    "ipw.judging",
    "ipw.analyses",
    "ipw.reports",
    "ipw.capture.clients",
    "ipw.capture.datasets",
    "ipw.capture.runner",
    "ipw.cli",
    "ipw.plugins",
    "ipw.api",
    "ipw.studies",
]
# kept in alphabetical order, so a reader finds a name at a glance
SORTED = {"ipw.replay", "ipw.reports"}


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_curated(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    for attr in exported:
        assert not attr.startswith("_") or attr == "__version__", f"{name}.__all__ exports private {attr}"
        assert getattr(module, attr, None) is not None, f"{name}.__all__ names {attr}, which does not exist"
    if name in SORTED:
        assert list(exported) == sorted(exported), f"{name}.__all__ is not in alphabetical order"


def test_error_tree_is_drawn_in_its_docstring() -> None:
    import ipw.errors as errors

    for cls_name in errors.__all__:
        assert cls_name in errors.__doc__, f"{cls_name} is missing from the tree in ipw/errors.py"
        cls = getattr(errors, cls_name)
        assert issubclass(cls, errors.IpwError)
        assert isinstance(cls.exit_code, int)


def test_optional_backends_are_not_imported_by_import_ipw() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ipw, ipw.cli, ipw.ledger, ipw.replay, ipw.registry\n"
        "heavy = [m for m in ('llama_cpp', 'vllm', 'pynvml', 'amdsmi', 'ollama', 'matplotlib', 'statsmodels', 'duckdb')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import ipw pulled in optional backends: {out}"
