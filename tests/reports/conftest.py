"""Fixtures: pairs of synthetic runs whose differences are known exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from .ledgers import Q, write_run

# record, A duration (s), tokens, A correct, B correct
PLAN = [
    ("r1", 0.4, 8, True, True),
    ("r2", 0.6, 12, True, False),
    ("r3", 0.5, 10, False, True),
    ("r4", 0.8, 16, False, False),
    ("r5", 0.7, 14, True, True),
    ("r6", 0.3, 6, None, True),
]
POWER_W = 100.0
EXTRA_S = 0.5  # every query of run B takes this much longer than in run A


def plan_queries(shift_s: float, *, side: str, prefix: str = "r") -> list[Q]:
    out, t = [], 0.5
    for record, duration, tokens, ca, cb in PLAN:
        d = duration + shift_s
        out.append(Q(record.replace("r", prefix, 1), t, t + d, tokens, 20, ca if side == "a" else cb))
        t += d + 0.25
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run ``a``; ``b`` (same records, slower, other model, two flips); ``c`` (other records); ``noenergy``."""
    root = tmp_path_factory.mktemp("runs")
    return {
        "a": write_run(root / "a", plan_queries(0.0, side="a"), devices={"nvidia:0": POWER_W}),
        "b": write_run(
            root / "b", plan_queries(EXTRA_S, side="b"), devices={"nvidia:0": POWER_W}, model="gemma-3-1b",
            config={"gen": {"temperature": 0.7, "max_tokens": 64}},
            host={"os": "Linux", "kernel": "6.1", "cpu": "Test CPU", "cpu_count": 4, "memory_bytes": 8 << 30,
                  "accelerators": [{"name": "Fake GPU", "driver_version": "550.1"}]},
        ),
        "c": write_run(root / "c", plan_queries(EXTRA_S, side="b", prefix="s"), devices={"nvidia:0": POWER_W}),
        "noenergy": write_run(root / "noenergy", plan_queries(0.0, side="b"), devices=None),
    }


@pytest.fixture(scope="module")
def agent_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Agent runs (:mod:`tests._agent_ledgers`): ``a`` and ``b`` ran the same three tasks; ``nocpu`` has no CPU trace."""
    from tests._agent_ledgers import PAIR_A, PAIR_B, write_agent_run

    root = tmp_path_factory.mktemp("agent-runs")
    return {"a": write_agent_run(root / "a", PAIR_A), "b": write_agent_run(root / "b", PAIR_B, model="gemma-3-1b"),
            "nocpu": write_agent_run(root / "nocpu", PAIR_B, cpu_trace=False)}
