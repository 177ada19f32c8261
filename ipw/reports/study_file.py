"""``study.json`` read back with its type: the cells of a study, their parameters, status and run folders.

``ipw study run`` writes ``study.json`` (see :mod:`ipw.studies.state`); it,
the reports, ``ipw query`` and the HTML page all read it here, through one
msgspec type, so a file ipw did not write is refused with the field that is
wrong instead of being guessed at. The bookkeeping only the study runner uses
(head hashes, messages, the [base] settings) is ``UNSET`` when a file lacks
it, so the runner writes back exactly the keys it read; a cell's run lives in
``runs/<name>`` of the study folder unless the entry names another folder
inside it.

A study being run appends each cell's change of state to ``study.journal``
(one JSON entry per line) before it is folded into ``study.json``; the last
entry of a cell there wins, and a line torn by a kill is passed over, as
:mod:`ipw.studies.state` reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from msgspec import UNSET, UnsetType

from .._untrusted import InputRefused, decode_json, read_regular
from ..errors import UsageError

__all__ = ["STUDY_FILE", "JOURNAL_FILE", "CellEntry", "StudyFile", "is_study", "decode_study_file", "read_study",
           "cell_run_dir"]

STUDY_FILE = "study.json"
JOURNAL_FILE = "study.journal"
_MAX_STUDY_JSON_BYTES = 64 * 1024 * 1024  # a study file is metadata; anything larger is not one
_HINT = "rerun 'ipw study run' on the study file to rewrite it"


class CellEntry(msgspec.Struct, frozen=True):
    """One cell as ``study.json`` records it; the fields after ``run_dir`` are the runner's bookkeeping."""

    name: str
    params: dict[str, Any] = {}
    status: str = "pending"
    run_dir: str | None = None
    message: str | None | UnsetType = UNSET
    head_hash: str | None | UnsetType = UNSET
    run_id: str | None | UnsetType = UNSET
    queries_completed: int | None | UnsetType = UNSET
    queries_failed: int | None | UnsetType = UNSET
    resumable: bool | UnsetType = UNSET  # a failed cell whose run a rerun picks up
    goodput: dict[str, Any] | None | UnsetType = UNSET  # a searched cell's outcome (ipw.studies.goodput)


class StudyFile(msgspec.Struct, frozen=True):
    """``study.json``; ``axes`` keeps the matrix's own order, ``base`` and ``matrix`` are redacted settings."""

    cells: list[CellEntry]
    name: str | None = None
    axes: list[str] = []
    format: int | UnsetType = UNSET
    base: dict[str, Any] | UnsetType = UNSET
    matrix: dict[str, list[Any]] | UnsetType = UNSET
    repeats: int | UnsetType = UNSET
    search: dict[str, Any] | UnsetType = UNSET  # a goodput search's settings (ipw.studies.goodput)


def is_study(path: Path) -> bool:
    return (Path(path) / STUDY_FILE).is_file()


def read_study(study_dir: Path) -> StudyFile:
    """``study_dir/study.json``, decoded with its type; a usage error says what is wrong with it."""
    study = _with_journal(Path(study_dir), decode_study_file(study_dir))
    for cell in study.cells:
        cell_run_dir(Path(study_dir), cell)  # refuses a run folder outside the study now, not midway
    return study


def decode_study_file(study_dir: Path) -> StudyFile:
    """``study_dir/study.json`` alone (its journal not applied), decoded with its type; a usage error if it is not one."""
    path = Path(study_dir) / STUDY_FILE
    if not path.exists():
        raise UsageError(f"{study_dir} is not a study folder (no {STUDY_FILE})",
                         hint="pass the folder 'ipw study run' made: <output_dir>/<name>")
    try:
        study = msgspec.convert(decode_json(read_regular(path, _MAX_STUDY_JSON_BYTES)), StudyFile)
    except InputRefused as exc:
        raise UsageError(f"{path} cannot be read: {exc}", hint=_HINT) from None
    except msgspec.ValidationError as exc:
        raise UsageError(f"{path} is not a study file: {exc}", hint=_HINT) from None
    if len({c.name for c in study.cells}) != len(study.cells):
        raise UsageError(f"{path} lists a cell name twice", hint=_HINT)
    return study


def cell_run_dir(study_dir: Path, cell: CellEntry) -> Path:
    """The cell's run folder: ``runs/<name>`` or the entry's own, which must lie inside the study folder."""
    relative = Path(cell.run_dir if cell.run_dir is not None else f"runs/{cell.name}")
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise UsageError(f"{Path(study_dir) / STUDY_FILE}: cell {cell.name!r} has its run outside the study "
                         f"folder ({relative})", hint=_HINT)
    return Path(study_dir) / relative


def _with_journal(study_dir: Path, study: StudyFile) -> StudyFile:
    path = study_dir / JOURNAL_FILE
    if not path.exists():
        return study
    try:
        lines = read_regular(path, _MAX_STUDY_JSON_BYTES).splitlines()
    except InputRefused as exc:
        raise UsageError(f"{path} cannot be read: {exc}", hint=_HINT) from None
    latest: dict[str, CellEntry] = {}
    for line in lines:
        try:
            entry = msgspec.convert(decode_json(line), CellEntry)
        except (InputRefused, msgspec.ValidationError):
            continue  # a line torn by a kill: that cell's ledger still says what happened
        latest[entry.name] = entry
    return msgspec.structs.replace(study, cells=[latest.get(c.name, c) for c in study.cells])
