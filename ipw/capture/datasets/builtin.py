"""The built-in dataset: short questions written for ipw, every one scored without an LLM.

``data/builtin.jsonl`` ships inside the package: 323 original questions
written by the ipw authors and released under CC0-1.0 (see ``data/LICENSE``),
in nine subjects (arithmetic, number, units, science, geography, history,
language, logic, computing). Each reference is a choice letter A–D, a
number, or a short string, checked by the ``letter``, ``numeric`` or
``exact`` scorer the row names. Questions are short so that a small model on
a CPU answers them quickly.
"""

from __future__ import annotations

from importlib import resources
from typing import ClassVar

import msgspec

from ...errors import DatasetError
from .base import DatasetProvider, DatasetRecord, validate_record

__all__ = ["BuiltinDataset", "DATA_FILE", "LICENSE_ID"]

DATA_FILE = "builtin.jsonl"
LICENSE_ID = "CC0-1.0"


class _Row(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    subject: str
    scorer: str
    problem: str
    answer: str
    choices: list[str] | None = None


class BuiltinDataset(DatasetProvider):
    """The questions shipped with ipw (CC0-1.0, written by the ipw authors).

    Parameters: ``subjects=a,b`` keeps only those subjects, ``shuffle_seed=N``
    shuffles reproducibly, ``limit=N`` keeps the first N. The file interleaves the
    subjects round-robin, so any prefix (``--max-queries 20``) covers all of them.
    """

    dataset_id: ClassVar[str] = "builtin"
    dataset_name: ClassVar[str] = "ipw built-in questions"
    requires_judge: ClassVar[bool] = False

    def _where(self) -> str:
        return f"the built-in dataset ({DATA_FILE})"

    def _load(self) -> list[DatasetRecord]:
        try:
            data = resources.files(__package__).joinpath("data", DATA_FILE).read_bytes()
        except OSError as exc:
            raise DatasetError(f"{self._where()} is missing from the installed package: {exc}",
                               hint="reinstall ipw") from exc
        decoder = msgspec.json.Decoder(_Row)
        records: list[DatasetRecord] = []
        for line_no, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = decoder.decode(line)
            except msgspec.DecodeError as exc:
                raise DatasetError(f"{self._where()} line {line_no} is damaged: {exc}", hint="reinstall ipw") from exc
            record = DatasetRecord(row.id, row.problem, row.answer, row.subject, row.scorer, row.choices)
            reason = validate_record(record)
            if reason:
                raise DatasetError(f"{self._where()} line {line_no}: {reason}", hint="reinstall ipw")
            records.append(record)
        return records

    def _describe_source(self) -> dict[str, object]:
        return {"source": f"ipw package data {DATA_FILE}", "license": LICENSE_ID}
