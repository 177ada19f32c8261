"""Replay: rebuild what happened from the ledger, then project results from it."""

from __future__ import annotations

from .engine import (
    PowerTrace,
    Projection,
    QueryRecord,
    RunView,
    build_view,
    load_run,
)
from .judge_choice import select_judge

__all__ = [
    "PowerTrace",
    "Projection",
    "QueryRecord",
    "RunView",
    "build_view",
    "load_run",
    "select_judge",
]
