"""What the examples share: the local server they record from (from the environment), ipw's one-line errors
and the ``ipw`` command run from Python."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from ipw import api
from ipw.errors import IpwError


def output_dir(default: str = "runs/examples") -> Path:
    """The output folder: the first argument, else ``default``."""
    return Path(sys.argv[1] if len(sys.argv) > 1 else default)


def server_config(out: Path, run_name: str, **settings: Any) -> api.CaptureConfig:
    """A capture from the OpenAI-compatible server at ``IPW_EXAMPLE_BASE_URL`` serving ``IPW_EXAMPLE_MODEL``."""
    return api.CaptureConfig(
        client="openai", model=os.environ.get("IPW_EXAMPLE_MODEL", "gemma"),
        client_base_url=os.environ.get("IPW_EXAMPLE_BASE_URL", "http://127.0.0.1:8000/v1"),
        output_dir=str(out), run_name=run_name, **settings,
    )


def run(main: Callable[[], None]) -> None:
    """Run ``main``; an ipw error ends it as the ``ipw`` command would: one line on stderr, its exit code."""
    try:
        main()
    except IpwError as exc:
        print(f"ipw: error: {exc.one_line()}", file=sys.stderr)
        sys.exit(exc.exit_code)


def ipw(*args: str) -> str:
    """Run one ``ipw`` command and return its stdout; on failure, exit with its code (it printed why)."""
    proc = subprocess.run([sys.executable, "-m", "ipw.cli", *args], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(proc.returncode)
    return proc.stdout
