"""The study table as flat records, JSON, CSV, an Arrow table (Parquet, DuckDB) and terminal text.

Every form has the same columns in the same order, from one function
(:func:`columns`): ``cell``, the parameters (one column per axis), ``status``,
the metric columns of :data:`~ipw.reports.study_table.COLUMNS`, and
``on_pareto_front``. An axis whose name is taken by one of those columns is
spelled ``param.<axis>``. Each cell's per-benchmark figures are not flat
columns: ``report.json`` holds them as ``by_benchmark`` {cell: {benchmark:
…}}, and the terminal shows accuracy per benchmark when there are several.
A study with repeats adds ``repeats`` to ``report.json`` (each repeated cell's
t-intervals and CV, see :mod:`ipw.reports.repeat_stats`), and the terminal a
line per repeated cell for each figure.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from ..errors import BackendMissingError, UsageError
from .labels import param_label
from .study_table import COLUMNS, StudyTable

__all__ = ["columns", "labels", "records", "report_document", "csv_text", "arrow_table", "terminal_text"]

_FIXED = ("cell", "status", *(c.name for c in COLUMNS), "on_pareto_front")
_FIXED_LABELS = {"cell": "Cell", "status": "Status", "on_pareto_front": "On the Pareto front (yes/no)",
                 **{c.name: c.label for c in COLUMNS}}


def _axis_column(axis: str) -> str:
    return f"param.{axis}" if axis in _FIXED else axis


def columns(table: StudyTable) -> list[str]:
    return ["cell", *(_axis_column(a) for a in table.axes), "status", *(c.name for c in COLUMNS), "on_pareto_front"]


def labels(table: StudyTable) -> dict[str, str]:
    """Every column's label, as people read it."""
    return {**{_axis_column(a): param_label(a) for a in table.axes}, **_FIXED_LABELS}


def records(table: StudyTable) -> list[dict[str, Any]]:
    """One flat mapping per row, keyed by :func:`columns`."""
    out = []
    for row in table.rows:
        record: dict[str, Any] = {"cell": row.cell}
        record.update({_axis_column(a): row.params.get(a) for a in table.axes})
        record["status"] = row.status
        record.update({c.name: getattr(row, c.name) for c in COLUMNS})
        record["on_pareto_front"] = row.on_pareto_front
        out.append(record)
    return out


def report_document(table: StudyTable) -> dict[str, Any]:
    """``report/report.json``: the records, their columns and labels, the Pareto front, the notes."""
    return {"study": table.name, "axes": list(table.axes), "columns": columns(table), "labels": labels(table),
            "rows": records(table), "pareto_front": table.pareto_front, "notes": list(table.notes),
            "by_benchmark": {r.cell: r.by_benchmark for r in table.rows if r.by_benchmark},
            "repeats": list(table.repeats)}


def _scalar(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def csv_text(table: StudyTable) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = columns(table)
    writer.writerow(names)
    for record in records(table):
        writer.writerow(["" if record[c] is None else _scalar(record[c]) for c in names])
    return buffer.getvalue()


def arrow_table(table: StudyTable, *, sql_names: bool = False, extra: dict[str, list[Any]] | None = None) -> Any:
    """The rows as an Arrow table: typed metric columns, each axis as its values' type (text when mixed).

    ``sql_names`` spells every column as an SQL identifier (``gen_param.max_tokens`` → ``gen_param_max_tokens``);
    ``extra`` columns go first (the ``cells`` view's ``run_id``).
    """
    pa = BackendMissingError.require("pyarrow", "the study table", "analysis")
    rows = records(table)
    types = {"count": pa.int64(), "number": pa.float64(), "text": pa.string()}
    arrays: dict[str, Any] = {k: pa.array(v, type=pa.string()) for k, v in (extra or {}).items()}
    for name in columns(table):
        values = [_scalar(r[name]) for r in rows]
        fixed = next((c for c in COLUMNS if c.name == name), None)
        if fixed is not None:
            kind = types[fixed.kind]
        elif name == "on_pareto_front":
            kind = pa.bool_()
        elif name in ("cell", "status"):
            kind = pa.string()
        else:
            kind = None
        try:
            array = pa.array(values, type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # an axis with values of several types: as text
            array = pa.array([None if v is None else str(v) for v in values], type=pa.string())
        arrays[re.sub(r"\W", "_", name) if sql_names else name] = array
    if len(set(arrays)) != len(arrays):
        raise UsageError("two study columns have the same SQL name", hint="rename one of the matrix keys")
    return pa.table(arrays)


def terminal_text(table: StudyTable) -> str:
    """The comparison table for the terminal, with the Pareto front and the notes under it."""
    from .tables import format_table

    headers = ["cell", *table.axes, "status", *(c.short for c in COLUMNS)]
    body = [[row.cell, *(_scalar(row.params.get(a)) for a in table.axes), row.status,
             *(getattr(row, c.name) for c in COLUMNS)] for row in table.rows]
    lines = [format_table(headers, body)]
    if table.pareto_front:
        lines.append(f"Pareto front (accuracy vs J/query): {', '.join(table.pareto_front)}")
    if len(table.benchmarks) > 1:  # with one benchmark this is the accuracy column above
        lines.append("accuracy by benchmark (fraction of decided answers; intervals in report.json):")
        lines.append(format_table(["cell", *table.benchmarks], [
            [row.cell, *((row.by_benchmark.get(b) or {}).get("accuracy") for b in table.benchmarks)]
            for row in table.rows]))
    if table.repeats:
        lines.append("across repeats (mean, 95 % t-interval, CV):")
        lines.append(format_table(["cell", "figure", "n", "mean", "t low", "t high", "CV"], [
            [", ".join(f"{k}={_scalar(v)}" for k, v in group["params"].items()) or "base", metric, i["n"],
             i["mean"], i.get("low"), i.get("high"), i.get("cv")]
            for group in table.repeats for metric, i in group["intervals"].items()]))
    lines.extend(f"note: {n}" for n in table.notes)
    return "\n".join(lines)


def table_from_document(doc: dict[str, Any]) -> StudyTable:
    """The table back from :func:`report_document` (``report.json``), decoded with its types."""
    import msgspec

    from .study_table import CellRow

    axes = [str(a) for a in doc.get("axes") or []]
    rows = []
    for record in doc.get("rows") or []:
        params = {a: record.get(_axis_column(a)) for a in axes}
        fields = {k: record.get(k) for k in _FIXED}
        fields["by_benchmark"] = (doc.get("by_benchmark") or {}).get(record.get("cell"), {})
        try:
            rows.append(msgspec.convert({**fields, "params": params}, CellRow))
        except msgspec.ValidationError as exc:
            raise UsageError(f"the study report has a malformed row: {exc}", hint="rebuild it: ipw study report DIR") from None
    repeats = doc.get("repeats") or []
    if not isinstance(repeats, list):
        raise UsageError("the study report's repeats are malformed", hint="rebuild it: ipw study report DIR")
    return StudyTable(doc.get("study"), axes, rows, [str(n) for n in doc.get("notes") or []], repeats)
