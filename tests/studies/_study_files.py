"""Study files for the end-to-end tests, and a counter of the work a study did."""

from __future__ import annotations

import json
from pathlib import Path

from ipw.ledger import read_events


def write_study(path: Path, *, base_url: str, output_dir: Path, matrix: str | None = None, max_queries: int = 3,
                energy: str = "estimate", extra: str = "") -> Path:
    """A 2×2 study (max_concurrency × gen_param.max_tokens) against the server at ``base_url``."""
    matrix = matrix if matrix is not None else 'max_concurrency = [1, 2]\n"gen_param.max_tokens" = [4, 8]\n'
    path.write_text(
        f'name = "grid"\noutput_dir = {json.dumps(str(output_dir))}\n{extra}\n'
        "[base]\n"
        'client = "openai"\n'
        f"client_base_url = {json.dumps(base_url)}\n"
        'model = "gemma"\n'
        f"max_queries = {max_queries}\n"
        f'energy = "{energy}"\n'
        'client_param = { api = "completions" }\n'
        f"\n[matrix]\n{matrix}"
    )
    return path


GRID_CELLS = ["mc1-max_tokens4", "mc1-max_tokens8", "mc2-max_tokens4", "mc2-max_tokens8"]


def queries_started(study_dir: Path) -> dict[str, int]:
    """``query_started`` events per cell run: what a study sent to the server."""
    runs = Path(study_dir) / "runs"
    return {p.name: len(read_events(p, kinds=("query_started",))) for p in sorted(runs.iterdir())
            if (p / "events").is_dir()}
