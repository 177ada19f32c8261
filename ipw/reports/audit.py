"""Re-deriving a run's ``analysis/*.json``, so forged or stale results are caught.

A replay of the same ledger is byte-identical, so a derived file can be
checked by deriving it again and comparing the bytes. The options it was
derived with are read back from the file itself, since every option that
changes a result is recorded in it:

- ``accuracy``, ``summary``: ``judge`` (the judge the counts are under);
- ``energy``, ``regression``, ``summary``: ``policy`` and ``idle_baseline``
  (``energy_policy`` in the summary);
- ``energy``, ``summary``: ``devices`` — tried as the default first, then as
  the devices the file lists;
- ``judges``: ``judges``; ``latency`` has no options.

A file matches when one of these derivations reproduces it exactly. A file
that does not is either altered or stale (the ledger grew after it was
written); either way it is not what the ledger says. An analysis whose
optional backend is missing here, and ``plots/*.png`` (PNG bytes depend on
the matplotlib build), are not checked and are listed as such.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import BackendMissingError, IpwError, LedgerCorruptError, PackError

__all__ = ["DerivedCheck", "check_derived", "derived_error", "check_pack_derived"]


@dataclass
class DerivedCheck:
    """What re-deriving a run's analysis files found."""

    checked: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # "analysis/x.json (why)"
    mismatch: str | None = None  # the first file that differs, e.g. "analysis/energy.json"
    why: str = ""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _option_sets(analysis_id: str, recorded: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The option sets that could have produced ``recorded``, most likely first."""
    base: dict[str, Any] = {}
    judge = _text(recorded.get("judge"))
    if judge is not None and analysis_id in ("accuracy", "summary"):
        base["judge"] = judge
    if analysis_id in ("energy", "regression", "summary"):
        policy = _text(recorded.get("energy_policy" if analysis_id == "summary" else "policy"))
        if policy is not None:
            base["policy"] = policy
        baseline = _text(recorded.get("idle_baseline"))
        if baseline is not None:
            base["idle_baseline"] = baseline
    if analysis_id == "judges" and isinstance(recorded.get("judges"), list) and recorded["judges"]:
        base["judges"] = [str(j) for j in recorded["judges"]]
    yield base
    listed = recorded.get("energy_devices" if analysis_id == "summary" else "devices")
    if analysis_id in ("energy", "summary") and isinstance(listed, dict) and listed:
        yield {**base, "devices": sorted(str(d) for d in listed)}


def _projection(analysis_id: str) -> Any:
    from ..registry import REGISTRY

    return REGISTRY.load("analyses", analysis_id)()


def check_derived(run_dir: Path) -> DerivedCheck:
    """Re-derive each ``analysis/<id>.json`` of ``run_dir`` and compare it byte for byte."""
    from ..replay import load_run
    from .analysis_files import dumps_result

    run_dir = Path(run_dir)
    report = DerivedCheck()
    files = sorted((run_dir / "analysis").glob("*.json"))
    report.unchecked += [f"plots/{p.name} (plots are not re-derived)" for p in sorted((run_dir / "plots").glob("*.png"))]
    if not files:
        return report
    view = load_run(run_dir)
    for path in files:
        name = f"analysis/{path.name}"
        analysis_id = path.stem
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            recorded = json.loads(text)
        except ValueError:
            recorded = None
        if not isinstance(recorded, dict):
            report.mismatch, report.why = name, "is not an analysis result (not a JSON object)"
            return report
        try:
            projection = _projection(analysis_id)
        except BackendMissingError as exc:
            report.unchecked.append(f"{name} ({exc.message})")
            continue
        except IpwError:
            report.mismatch, report.why = name, f"names no analysis this ipw knows ({analysis_id!r}), so it cannot be re-derived"
            return report
        outcome = _rederive(projection, view, analysis_id, recorded, text, dumps_result)
        if outcome == "match":
            report.checked.append(name)
        elif outcome.startswith("missing:"):
            report.unchecked.append(f"{name} ({outcome[len('missing:'):]})")
        else:
            report.mismatch, report.why = name, outcome
            return report
    return report


def _rederive(projection: Any, view: Any, analysis_id: str, recorded: dict, text: str, dumps: Any) -> str:
    """``"match"``, ``"missing:<why>"`` for a backend not installed here, or why it differs."""
    why = "does not match a replay of the ledger (altered, or written before the ledger grew)"
    for options in _option_sets(analysis_id, recorded):
        try:
            derived = dumps(projection.compute(view, dict(options)))
        except BackendMissingError as exc:
            return f"missing:{exc.message}"
        except IpwError as exc:
            why = f"cannot be re-derived from the ledger with the options it records: {exc.message}"
            continue
        if derived == text:
            return "match"
    return why


def derived_error(run_dir: Path, check: DerivedCheck) -> LedgerCorruptError:
    """The one-line error for a run whose derived file differs."""
    assert check.mismatch is not None
    analysis_id = Path(check.mismatch).stem
    return LedgerCorruptError(
        check.why,
        segment=check.mismatch,
        offset=0,
        hint=f"'ipw replay {run_dir} --analysis {analysis_id}' rewrites it from the ledger",
    )


def check_pack_derived(pack_file: Path, run_dir: Path) -> None:
    """Raise ``PackError`` when a pack carries an analysis file its own ledger does not reproduce."""
    check = check_derived(run_dir)
    if check.mismatch is not None:
        raise PackError(
            f"{pack_file}: {check.mismatch} {check.why}",
            hint="the pack carries results its ledger does not give; nothing was written",
        )
