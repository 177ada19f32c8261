"""Study folders built by hand for the report tests: ``study.json`` and ``runs/<cell>/`` of known truth."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import plan_queries
from .ledgers import write_run

# cell name, seconds added to every query (more joules at constant power), which answers are right
CELLS = (("tokens-16", 0.0, "a"), ("tokens-64", 0.5, "b"), ("tokens-256", 1.0, "a"))


def write_study(root: Path, *, extra_axes: int = 0) -> Path:
    """Three cells of one axis, ``gen_param.max_tokens``; ``extra_axes`` more constant axes make the table wide."""
    cells = []
    for name, shift, side in CELLS:
        write_run(root / "runs" / name, plan_queries(shift, side=side), devices={"nvidia:0": 100.0})
        params: dict[str, object] = {"gen_param.max_tokens": int(name.split("-")[1])}
        params.update({f"client_param.setting_number_{k}": k for k in range(extra_axes)})
        cells.append({"name": name, "params": params, "run_dir": f"runs/{name}", "status": "completed"})
    (root / "study.json").write_text(json.dumps({"name": root.name, "cells": cells}))
    return root


def write_agent_study(root: Path) -> Path:
    """Two agent cells (:mod:`tests._agent_ledgers`' pair of runs) and one cell of plain questions, on one axis."""
    from tests._agent_ledgers import PAIR_A, PAIR_B, write_agent_run

    write_agent_run(root / "runs" / "agent-small", PAIR_A)
    write_agent_run(root / "runs" / "agent-large", PAIR_B, model="gemma-3-1b")
    write_run(root / "runs" / "questions", plan_queries(0.0, side="a"), devices={"nvidia:0": 100.0})
    cells = [{"name": name, "params": {"gen_param.max_tokens": tokens}, "run_dir": f"runs/{name}",
              "status": "completed"} for name, tokens in (("agent-small", 256), ("agent-large", 512), ("questions", 64))]
    (root / "study.json").write_text(json.dumps({"name": root.name, "cells": cells}))
    return root
