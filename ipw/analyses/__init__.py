"""Analyses: pure projections of a replayed run (``RunView``) into result dictionaries.

Each analysis module defines one projection class with an ``analysis_id`` and
``compute(view, options)``; ``ipw.registry`` finds them by dotted path. The
names below are imported on first use, so importing this package costs nothing
and one analysis's optional dependencies never burden another.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AccuracyProjection",
    "accuracy_counts",
    "JudgesProjection",
    "judge_agreement",
    "cohen_kappa",
]

# public name -> the module that defines it
_LAZY = {
    "AccuracyProjection": "accuracy",
    "accuracy_counts": "accuracy",
    "JudgesProjection": "judges",
    "judge_agreement": "judges",
    "cohen_kappa": "judges",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
