"""Re-deriving a run's ``analysis/*.json``, so forged or stale results are caught.

A replay of the same ledger gives the same result, so a derived file is
checked by deriving it again and comparing. Every analysis records the options
it was computed with under ``"options"`` (defaults included, see
:mod:`ipw.analyses._options`), and the file is derived again with exactly
those, whatever the analysis; ``None`` there is an option left unset. A file
written before analyses recorded their options is derived with the defaults:
one computed with other options is reported, and replaying it rewrites it with
its options recorded.

The comparison is of the JSON values, not the bytes: the same keys, the same
list lengths, ints, strings, booleans and nulls equal exactly, and floats
equal to a relative ``FLOAT_REL_TOL`` of 1e-9 (or within ``FLOAT_ABS_TOL``,
1e-12, of each other). Floats are not compared exactly because their last
bits depend on the machine that wrote them: the summation of another Python or
numpy, the LAPACK under statsmodels. Such differences are of the order of
1e-16 relative (1e-13 after an OLS fit); 1e-9 is far above them and far below
any precision a result is read at (no figure is reported to nine significant
digits), so an edited number is still caught. The absolute bound is for a
number that cancels to about zero (an intercept through the origin), whose
rounding noise is large relative to itself.

A file that does not match is either altered or stale (the ledger grew after
it was written); either way it is not what the ledger says. An analysis whose
optional backend is missing here, and ``plots/*.png`` (PNG bytes depend on
the matplotlib build), are not checked and are listed as such.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from .._untrusted import InputRefused, decode_json
from ..errors import BackendMissingError, IpwError, LedgerCorruptError, PackError

__all__ = ["DerivedCheck", "check_derived", "derived_error", "check_pack_derived", "first_difference",
           "FLOAT_REL_TOL", "FLOAT_ABS_TOL"]

FLOAT_REL_TOL = 1e-9
FLOAT_ABS_TOL = 1e-12


@dataclass
class DerivedCheck:
    """What re-deriving a run's analysis files found."""

    checked: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # "analysis/x.json (why)"
    mismatch: str | None = None  # the first file that differs, e.g. "analysis/energy.json"
    why: str = ""


def first_difference(recorded: Any, derived: Any, path: str = "") -> str | None:
    """Where two JSON values first differ (floats within the tolerances are equal), or None."""
    where = path or "the document"
    if isinstance(recorded, float) and isinstance(derived, float):
        if math.isclose(recorded, derived, rel_tol=FLOAT_REL_TOL, abs_tol=FLOAT_ABS_TOL):
            return None
        return f"{where} is {recorded!r} but the ledger gives {derived!r}"
    if type(recorded) is not type(derived):
        return f"{where} is {_short(recorded)} but the ledger gives {_short(derived)}"
    if isinstance(recorded, dict):
        for key in sorted(set(recorded) | set(derived)):
            inner = f"{path}.{key}" if path else str(key)
            if key not in derived:
                return f"{inner} is not in a replay of the ledger"
            if key not in recorded:
                return f"{inner} is missing (a replay of the ledger has it)"
            found = first_difference(recorded[key], derived[key], inner)
            if found is not None:
                return found
        return None
    if isinstance(recorded, list):
        if len(recorded) != len(derived):
            return f"{where} has {len(recorded)} entries but the ledger gives {len(derived)}"
        for i, (a, b) in enumerate(zip(recorded, derived)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return None if recorded == derived else f"{where} is {_short(recorded)} but the ledger gives {_short(derived)}"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


class _RecordedOptions(msgspec.Struct):
    """The one field of an analysis file read by name; the rest is compared whole with a replay."""

    options: dict[str, Any] | UnsetType = UNSET  # UNSET: written before analyses recorded their options


def _projection(analysis_id: str) -> Any:
    from ..registry import REGISTRY

    return REGISTRY.create("analyses", analysis_id)


def check_derived(run_dir: Path) -> DerivedCheck:
    """Derive each ``analysis/<id>.json`` of ``run_dir`` again, with the options it records, and compare."""
    from ..replay import load_run

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
        try:
            recorded = decode_json(path.read_bytes())  # a pack's files are untrusted: nesting is bounded
        except InputRefused:
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
        outcome = _rederive(projection, view, recorded)
        if outcome is None:
            report.checked.append(name)
        elif outcome.startswith("missing:"):
            report.unchecked.append(f"{name} ({outcome[len('missing:'):]})")
        else:
            report.mismatch, report.why = name, outcome
            return report
    return report


def _rederive(projection: Any, view: Any, recorded: dict[str, Any]) -> str | None:
    """None when the file matches, ``"missing:<why>"`` for a backend not installed here, else why it differs."""
    from .analysis_files import dumps_result

    try:
        options = msgspec.convert(recorded, _RecordedOptions).options
    except msgspec.ValidationError:
        return 'does not match a replay of the ledger: its "options" is not an object'
    legacy = isinstance(options, UnsetType)
    # None: left unset, the default applies
    given = {} if isinstance(options, UnsetType) else {k: v for k, v in options.items() if v is not None}
    try:
        derived = json.loads(dumps_result(projection.compute(view, given)))
    except BackendMissingError as exc:
        return f"missing:{exc.message}"
    except IpwError as exc:
        return f"cannot be re-derived from the ledger with the options it records: {exc.message}"
    if legacy:  # written before analyses recorded their options: compared with a replay under the defaults
        derived.pop("options", None)
    found = first_difference(recorded, derived)
    if found is None:
        return None
    if legacy:
        return (f"records no options (written by an older ipw) and does not match a replay of the ledger with the "
                f"default options ({found})")
    return f"does not match a replay of the ledger (altered, or written before the ledger grew): {found}"


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
