"""Datasets read from local files: ``file`` (any supported format) and ``ipw`` (the upstream format).

Formats: JSON lines, a JSON list, CSV/TSV, Parquet, and Arrow, including the
folders HF ``datasets`` writes with ``save_to_disk`` (a single dataset, or a
DatasetDict whose split is picked with ``split=``, ``train`` by default).

How a row becomes a record:

- ``problem`` / ``answer`` / ``subject`` / ``id`` come from the columns named
  by ``problem_field=`` / ``answer_field=`` / ``subject_field=`` /
  ``id_field=``; without them the first present of ``problem, question,
  prompt`` / ``answer, reference, target`` / ``subject, category`` /
  ``record_id, id`` is used. No subject → ``general``; no id → ``row-N``.
- ``dataset_metadata`` (upstream; a dict or its JSON text) becomes the
  record's metadata and may carry hints: ``scorer``, ``answer_type``,
  ``choices`` / ``options``.
- choices come from a ``choices``/``options`` column or the metadata: a list,
  a ``{"A": …, "B": …}`` mapping, JSON text of either, or ``a|b|c`` text.
  They are appended to the problem as "A. …" lines unless it already lists them.
- the scorer is, first found: the row's ``scorer`` column; the metadata's
  ``scorer``; the metadata's ``answer_type`` when ipw knows it
  (``multiple_choice``, ``numeric``, ``exact_match`` …); ``letter`` when there
  are choices and the answer is a letter, a choice's text or a 0-based integer
  index; the ``scorer=`` parameter. ``llm``/``judge``/``none`` mean an LLM judge.

A row that cannot be used raises ``DatasetError`` naming the file, the line
or row, and the fix; with ``on_error=skip`` it is left out and recorded in
``skipped`` as ``(row number, reason)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterator

import msgspec

from ..._untrusted import InputRefused, check_depth, decode_json
from ...errors import DatasetError, UsageError
from ._readers import RawRow, detect_format, read_rows
from .base import (
    SCORER_NAMES,
    DatasetProvider,
    DatasetRecord,
    format_choices,
    letter_for,
    validate_record,
)

__all__ = ["FileDataset", "IpwDataset"]

_ALIASES = {
    "problem": ("problem", "question", "prompt"),
    "answer": ("answer", "reference", "target"),
    "subject": ("subject", "category"),
    "id": ("record_id", "id"),
}
_ANSWER_TYPES = {
    "letter": "letter", "multiple_choice": "letter", "multiple-choice": "letter", "mcq": "letter",
    "numeric": "numeric", "number": "numeric", "integer": "numeric", "float": "numeric",
    "exact": "exact", "exact_match": "exact", "short_answer": "exact",
    "llm": None, "judge": None, "none": None, "open": None, "open_ended": None, "free_form": None,
    **{name: name for name in SCORER_NAMES[3:]},  # gsm8k, math, code and the llm:<family> judges
}
_UNSET = object()
_ROW_HINT = (
    "each row needs a non-empty problem and answer; map other column names with "
    "--dataset-param problem_field=… answer_field=…, or pass on_error=skip to leave bad rows out"
)


class _RowError(Exception):
    """A row cannot become a record; the message says why."""


def _scorer_name(value: Any, source: str) -> str | None | object:
    """A scorer name from a row or metadata value: a name, ``None`` (LLM judge) or ``_UNSET``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return _UNSET
    key = str(value).strip().lower()
    if key not in _ANSWER_TYPES:
        raise _RowError(f"{source} {value!r} is not one of {', '.join(SCORER_NAMES)}, llm")
    return _ANSWER_TYPES[key]


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bytes)):
        return None
    text = str(value).strip()
    return text or None


def _as_json(value: Any, what: str) -> Any:
    """``value``, or the JSON it spells; either way nested no deeper than the ledger takes."""
    try:
        if isinstance(value, str) and value.strip()[:1] in ("{", "["):
            return decode_json(value)
        check_depth(value)
    except InputRefused as exc:
        raise _RowError(f"{what} is {exc}" if str(exc).startswith("not valid") else f"{what}: {exc}") from None
    return value


def _choices(value: Any) -> list[str] | None:
    value = _as_json(value, "choices")
    if value is None or value == "":
        return None
    if isinstance(value, str):
        items: list[Any] = value.split("|")
    elif isinstance(value, dict):
        items = [value[k] for k in sorted(value, key=str)]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise _RowError(f"choices must be a list, a mapping or a|b|c text, not {type(value).__name__}")
    texts = [_text(item) for item in items]
    if any(t is None for t in texts):
        raise _RowError("a choice is empty or not text")
    return [t for t in texts if t is not None]


def _jsonable(value: Any) -> Any:
    try:
        return msgspec.json.decode(msgspec.json.encode(value))
    except (TypeError, msgspec.EncodeError):
        return str(value)


class FileDataset(DatasetProvider):
    """Questions from a local file or HF ``save_to_disk`` folder (``--dataset-param path=…``)."""

    dataset_id: ClassVar[str] = "file"
    dataset_name: ClassVar[str] = "Local file dataset"
    requires_judge: ClassVar[bool] = False
    params_accepted: ClassVar[tuple[str, ...]] = (
        "path", "format", "split", "problem_field", "answer_field", "subject_field", "id_field",
        "scorer", "on_error",
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        raw_path = params.get("path")
        if not raw_path:
            raise UsageError(f"dataset '{self.dataset_id}' needs a path", hint=self._path_hint())
        self.path = Path(str(raw_path)).expanduser()
        self.split: str | None = str(params["split"]) if params.get("split") else None
        self.format = detect_format(self.path, params.get("format") or None)
        try:
            default = _scorer_name(params.get("scorer"), "scorer=")
        except _RowError as exc:
            raise UsageError(f"dataset parameter {exc}", hint="pass scorer=letter, numeric, exact or llm") from None
        self._default_scorer: str | None = None if default is _UNSET else default  # type: ignore[assignment]
        on_error = str(params.get("on_error") or "raise").lower()
        if on_error not in ("raise", "skip"):
            raise UsageError(f"on_error={on_error!r} is not raise or skip", hint="pass on_error=skip to leave bad rows out")
        self.on_error = on_error
        self._skipped: list[tuple[int, str]] = []
        self._fields = {name: params.get(f"{name}_field") or None for name in _ALIASES}

    def _path_hint(self) -> str:
        return "pass --dataset-param path=FILE (JSONL, JSON, CSV, Parquet, or a folder saved by HF datasets)"

    def _where(self) -> str:
        return str(self.path)

    @property
    def skipped(self) -> list[tuple[int, str]]:
        """``(row number, reason)`` of every row left out under ``on_error=skip``."""
        self.records()
        return list(self._skipped)

    def _field(self, row: dict[str, Any], name: str) -> tuple[str, Any]:
        explicit = self._fields[name]
        if explicit:
            return explicit, row.get(explicit)
        for column in _ALIASES[name]:
            if row.get(column) is not None:
                return column, row[column]
        return _ALIASES[name][0], None

    def _to_record(self, row: dict[str, Any], number: int) -> DatasetRecord:
        problem_col, problem_value = self._field(row, "problem")
        problem = _text(problem_value)
        if problem is None:
            raise _RowError(f"missing or empty '{problem_col}'")
        answer_col, answer = self._field(row, "answer")
        if isinstance(answer, list) and answer and all(_text(a) for a in answer):
            answer = "|".join(str(a).strip() for a in answer)
        if _text(answer) is None:
            raise _RowError(f"missing or empty '{answer_col}'")
        metadata = _as_json(row.get("dataset_metadata", row.get("metadata")), "dataset_metadata")
        if metadata is None or metadata == "":
            metadata = {}
        if not isinstance(metadata, dict):
            raise _RowError(f"dataset_metadata is a {type(metadata).__name__}, not a JSON object")
        choices = _choices(_first(row.get("choices"), row.get("options"), metadata.get("choices"), metadata.get("options")))
        scorer = _scorer_name(row.get("scorer"), "scorer")
        if scorer is _UNSET:
            scorer = _scorer_name(metadata.get("scorer"), "dataset_metadata scorer")
        if scorer is _UNSET and str(metadata.get("answer_type", "")).strip().lower() in _ANSWER_TYPES:
            # answer_type is a hint other tools write too; values ipw does not know are left to the judge.
            scorer = _ANSWER_TYPES[str(metadata["answer_type"]).strip().lower()]
        letter = self._choice_letter(answer, choices)
        if scorer is _UNSET:
            scorer = "letter" if letter else self._default_scorer
        answer_text = letter if scorer == "letter" and letter else str(answer).strip()
        record_id = _text(self._field(row, "id")[1]) or f"row-{number}"
        record = DatasetRecord(
            record_id=record_id,
            problem=format_choices(problem, choices),
            answer=answer_text,
            subject=_text(self._field(row, "subject")[1]) or "general",
            scorer=scorer,  # type: ignore[arg-type]
            choices=choices,
            metadata=_jsonable(metadata),
        )
        reason = validate_record(record)
        if reason:
            raise _RowError(reason)
        return record

    @staticmethod
    def _choice_letter(answer: Any, choices: list[str] | None) -> str | None:
        """The letter ``answer`` names among ``choices`` (a letter, an index, a choice's text), else ``None``."""
        if not choices:
            return None
        if isinstance(answer, int) and not isinstance(answer, bool):
            return letter_for(answer) if 0 <= answer < len(choices) else None
        text = str(answer).strip()
        if len(text) == 1 and text.upper() in "ABCDEFGHIJ"[: len(choices)]:
            return text.upper()
        matches = [i for i, c in enumerate(choices) if c.strip().casefold() == text.casefold()]
        return letter_for(matches[0]) if len(matches) == 1 else None

    def _rows(self) -> Iterator[RawRow]:
        split, rows = read_rows(self.path, self.format, split=self.split)
        if split is not None:
            self.split = split
        return rows

    def _load(self) -> list[DatasetRecord]:
        self._skipped = []
        records: list[DatasetRecord] = []
        ids: dict[str, int] = {}
        for raw in self._rows():
            try:
                if raw.error is not None or raw.row is None:
                    raise _RowError(raw.error or "the row is empty")
                record = self._to_record(raw.row, raw.number)
                if record.record_id in ids:
                    raise _RowError(f"id {record.record_id!r} was already used at {raw.unit} {ids[record.record_id]}")
            except _RowError as exc:
                if self.on_error == "skip":
                    self._skipped.append((raw.number, str(exc)))
                    continue
                raise DatasetError(f"{self.path}: {raw.unit} {raw.number}: {exc}", hint=_ROW_HINT) from None
            ids[record.record_id] = raw.number
            records.append(record)
        if not records:
            why = f"all {len(self._skipped)} rows were skipped as malformed" if self._skipped else "it has no rows"
            raise DatasetError(f"{self.path} holds no usable records: {why}", hint=_ROW_HINT)
        return records

    def _describe_source(self) -> dict[str, Any]:
        source: dict[str, Any] = {"path": str(self.path.resolve()), "format": self.format}
        if self.split is not None:
            source["split"] = self.split
        if self._skipped:
            source["skipped"] = [[number, reason] for number, reason in self._skipped]
        return source


class IpwDataset(FileDataset):
    """The upstream Intelligence Per Watt dataset format, loaded from ``path=``.

    Rows carry ``problem``, ``answer``, ``subject`` and ``dataset_metadata``;
    rows without a deterministic scorer hint are judged by an LLM, so this
    dataset needs a judge key.
    """

    dataset_id: ClassVar[str] = "ipw"
    dataset_name: ClassVar[str] = "Intelligence Per Watt (upstream format)"
    requires_judge: ClassVar[bool] = True

    def _path_hint(self) -> str:
        return (
            "pass --dataset-param path=DIR, a folder saved by HF datasets (or a JSONL/Parquet file) whose rows "
            "hold problem, answer, subject and dataset_metadata"
        )
