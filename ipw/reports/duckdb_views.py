"""SQL over ledgers: DuckDB views ``runs``, ``queries``, ``tokens``, ``power``, ``verdicts``.

Each view is an Arrow table built from replayed RunViews, with a ``run_id``
column so several ledgers can be queried together. The views are recorded
facts, not results: energy attribution and accuracy live in the analyses.

    runs      run_id, run_dir, model, client, dataset, started_at_utc, wall_time_ns,
              status, queries_completed, queries_failed, host, config (JSON text), events
    queries   run_id, query_id, record_id, subject, warmup, start_ns, end_ns, ttft_ns,
              prompt_tokens, completion_tokens, finish_reason, status, error_type,
              reference, answer
    tokens    run_id, query_id, t_ns, n_tokens, text
    power     run_id, device, t_ns, power_w, energy_j, source
    verdicts  run_id, query_id, t_ns, judge, is_correct, score, metadata
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ..errors import BackendMissingError, UsageError
from ..replay.engine import RunView
from ._metrics import config_name, load_views

__all__ = ["VIEW_NAMES", "SqlRows", "build_tables", "register_views", "connect", "open_sql", "run_sql", "query_runs",
           "host_summary"]

VIEW_NAMES = ("runs", "queries", "tokens", "power", "verdicts")


def _pyarrow() -> Any:
    return BackendMissingError.require("pyarrow", "SQL over ledgers", "analysis")


def _duckdb() -> Any:
    return BackendMissingError.require("duckdb", "SQL over ledgers", "analysis")


def _schemas(pa: Any) -> dict[str, Any]:
    s, i64, f64, b = pa.string(), pa.int64(), pa.float64(), pa.bool_()
    return {
        "runs": pa.schema([
            ("run_id", s), ("run_dir", s), ("model", s), ("client", s), ("dataset", s),
            ("started_at_utc", pa.timestamp("ns")), ("wall_time_ns", i64), ("status", s),
            ("queries_completed", i64), ("queries_failed", i64), ("host", s), ("config", s), ("events", i64),
        ]),
        "queries": pa.schema([
            ("run_id", s), ("query_id", i64), ("record_id", s), ("subject", s), ("warmup", b),
            ("start_ns", i64), ("end_ns", i64), ("ttft_ns", i64), ("prompt_tokens", i64),
            ("completion_tokens", i64), ("finish_reason", s), ("status", s), ("error_type", s),
            ("reference", s), ("answer", s),
        ]),
        "tokens": pa.schema([("run_id", s), ("query_id", i64), ("t_ns", i64), ("n_tokens", i64), ("text", s)]),
        "power": pa.schema([
            ("run_id", s), ("device", s), ("t_ns", i64), ("power_w", f64), ("energy_j", f64), ("source", s),
        ]),
        "verdicts": pa.schema([
            ("run_id", s), ("query_id", i64), ("t_ns", i64), ("judge", s), ("is_correct", b), ("score", f64),
            ("metadata", s),
        ]),
    }


def host_summary(host: dict[str, Any]) -> str:
    """One line about the machine: OS and kernel, CPU, cores, memory, accelerators."""
    parts = []
    os_name = " ".join(str(host[k]) for k in ("os", "kernel") if host.get(k))
    if os_name:
        parts.append(os_name)
    if host.get("cpu"):
        parts.append(str(host["cpu"]))
    if host.get("cpu_count"):
        parts.append(f"{host['cpu_count']} CPUs")
    if isinstance(host.get("memory_bytes"), (int, float)) and host["memory_bytes"]:
        parts.append(f"{host['memory_bytes'] / 2**30:.1f} GiB")
    accelerators = host.get("accelerators") or []
    if isinstance(accelerators, list):
        for acc in accelerators:
            if isinstance(acc, dict):
                name = acc.get("name") or acc.get("model") or acc.get("vendor") or "accelerator"
                driver = acc.get("driver_version") or acc.get("driver")
                parts.append(f"{name} (driver {driver})" if driver else str(name))
            else:
                parts.append(str(acc))
    return ", ".join(parts)


def _query_status(q: Any) -> tuple[str, str | None]:
    if q.finished is not None:
        return "completed", None
    if q.failures:
        last = q.failures[-1]
        return ("retrying" if last.will_retry else "failed"), last.error_type
    return "unfinished", None


def _rows(view: RunView, name: str) -> dict[str, list[Any]] | Iterable[dict[str, Any]]:
    run_id = view.run_id
    if name == "runs":
        started = view.runs_started[0] if view.runs_started else None
        finished = view.runs_finished[-1] if view.runs_finished else None
        wall = started.wall_time_ns if started else None
        return [{
            "run_id": run_id,
            "run_dir": str(view.run_dir) if view.run_dir is not None else None,
            "model": config_name(view, "model") or None,
            "client": config_name(view, "client") or None,
            "dataset": config_name(view, "dataset") or None,
            "started_at_utc": wall,
            "wall_time_ns": wall,
            "status": finished.status if finished else "unfinished",
            # derived from the queries, so a run finished over several sessions (--resume) counts them all
            "queries_completed": len(view.measured_queries()),
            "queries_failed": len({
                q.record_id for q in view.queries.values()
                if not q.completed and not q.warmup and q.failures and q.failures[-1].error_type != "Interrupted"
                and not q.failures[-1].will_retry
            } - {q.record_id for q in view.measured_queries()}),
            "host": host_summary(view.host),
            "config": json.dumps(view.config, sort_keys=True, default=str),
            "events": view.events_total,
        }]
    if name == "queries":
        out = []
        for qid, q in sorted(view.queries.items()):
            status, error_type = _query_status(q)
            fin = q.finished
            out.append({
                "run_id": run_id, "query_id": qid, "record_id": q.record_id, "subject": q.subject,
                "warmup": q.warmup, "start_ns": q.start_ns, "end_ns": q.end_ns, "ttft_ns": q.ttft_ns,
                "prompt_tokens": q.prompt_tokens,
                "completion_tokens": q.completion_tokens if (fin is not None or q.n_token_events) else None,
                "finish_reason": fin.finish_reason if fin else None, "status": status, "error_type": error_type,
                "reference": q.started.reference if q.started else None, "answer": q.text,
            })
        return out
    if name == "tokens":
        ids, times, counts, texts = [], [], [], []
        for qid, q in sorted(view.queries.items()):
            t = q.t_ns_array
            ids.append(np.full(len(t), qid, dtype=np.int64))
            times.append(t)
            counts.append(q.counts_array)
            texts.extend(q.token_texts)
        joined = [np.concatenate(parts) if parts else np.empty(0, dtype=np.int64) for parts in (ids, times, counts)]
        return {"run_id": [run_id] * len(texts), "query_id": joined[0], "t_ns": joined[1], "n_tokens": joined[2],
                "text": texts}
    if name == "power":
        cols = {"run_id": [], "device": [], "t_ns": [], "power_w": [], "energy_j": [], "source": []}
        for device, trace in sorted(view.power.items()):
            n = len(trace.t_ns)
            cols["run_id"].extend([run_id] * n)
            cols["device"].extend([device] * n)
            cols["t_ns"].append(trace.t_ns)
            cols["power_w"].append(trace.power_w)
            cols["energy_j"].append(trace.energy_j)
            cols["source"].extend(trace.sources if len(trace.sources) == n else [trace.source] * n)
        for key in ("t_ns", "power_w", "energy_j"):
            cols[key] = np.concatenate(cols[key]) if cols[key] else np.empty(0)  # type: ignore[assignment]
        return cols
    if name == "verdicts":
        return [{
            "run_id": run_id, "query_id": v.query_id, "t_ns": v.t_ns, "judge": v.judge,
            "is_correct": v.is_correct, "score": v.score, "metadata": v.metadata,
        } for v in view.verdicts]
    raise UsageError(f"unknown view '{name}'", hint=f"views: {', '.join(VIEW_NAMES)}")


def _table(pa: Any, schema: Any, parts: list[Any]) -> Any:
    tables = []
    for part in parts:
        if isinstance(part, dict):
            arrays = []
            for field in schema:
                values = part[field.name]
                if isinstance(values, np.ndarray) and values.dtype.kind == "f":
                    arrays.append(pa.array(values, type=field.type, from_pandas=True))  # NaN -> null
                else:
                    arrays.append(pa.array(values, type=field.type))
            tables.append(pa.Table.from_arrays(arrays, schema=schema))
        else:
            tables.append(pa.Table.from_pylist(list(part), schema=schema))
    return pa.concat_tables(tables) if tables else schema.empty_table()


def build_tables(views: list[RunView], names: Iterable[str] = VIEW_NAMES) -> dict[str, Any]:
    """Arrow tables for the named views over every run in ``views``."""
    pa = _pyarrow()
    schemas = _schemas(pa)
    return {name: _table(pa, schemas[name], [_rows(v, name) for v in views]) for name in names}


def register_views(con: Any, views: list[RunView], names: Iterable[str] = VIEW_NAMES) -> None:
    """Register the named views on a DuckDB connection."""
    for name, table in build_tables(views, names).items():
        con.register(name, table)


def connect(views: list[RunView], names: Iterable[str] = VIEW_NAMES, *, sandbox: bool = True) -> Any:
    """An in-memory DuckDB connection with the views registered.

    With ``sandbox`` (the default) the connection can read the views and
    nothing else: no file is read or written (``COPY … TO``, ``read_csv``,
    ``ATTACH``, ``INSTALL``), and the setting is locked so SQL cannot undo it.
    The views are Arrow tables already in memory, so they still work.
    """
    duckdb = _duckdb()
    con = duckdb.connect(":memory:")
    register_views(con, views, names)
    if sandbox:
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    return con


def _views_named_in(sql: str) -> list[str]:
    # only the views a statement mentions are built: the tokens table can be large
    named = [n for n in VIEW_NAMES if re.search(rf"\b{n}\b", sql, flags=re.IGNORECASE)]
    return named or list(VIEW_NAMES)


class SqlRows:
    """The result of one SQL statement, read in batches: its column names, then its rows as they come.

    DuckDB streams the result, so only one batch is ever held in Python: a
    statement that yields a hundred million rows costs no more memory than one
    that yields a thousand.
    """

    def __init__(self, cursor: Any, error: type[BaseException]) -> None:
        self._cursor = cursor
        self._error = error
        self.columns: list[str] = [d[0] for d in cursor.description] if cursor.description else []

    def batches(self, rows: int = 10_000) -> Iterator[list[tuple[Any, ...]]]:
        """Lists of at most ``rows`` rows each, until the result is read to its end."""
        if not self.columns:
            return
        while True:
            try:
                batch = self._cursor.fetchmany(rows)
            except self._error as exc:  # an error can surface while the rows are produced, not only at the start
                raise _sql_failed(exc) from exc
            if not batch:
                return
            yield batch


def _sql_failed(exc: BaseException) -> UsageError:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return UsageError(
        f"SQL failed: {first}",
        hint=f"the views are {', '.join(VIEW_NAMES)}; 'SELECT * FROM queries LIMIT 5' shows the columns",
    )


@contextmanager
def open_sql(views: list[RunView], sql: str, *, cells: list[dict[str, Any]] | None = None) -> Iterator[SqlRows]:
    """Run one SQL statement over the views of already replayed runs; its rows are read while the block is open.

    ``cells`` (from :func:`study_cells`) adds the view ``cells`` of a study's runs.
    """
    if not sql.strip():
        raise UsageError("the SQL statement is empty", hint='pass it as the last argument, e.g. "SELECT * FROM runs"')
    duckdb = _duckdb()
    con = connect(views, _views_named_in(sql))
    try:
        if cells is not None and re.search(r"\bcells\b", sql, flags=re.IGNORECASE):  # its rows replay analyses
            con.register("cells", cells_table(cells, views))
        try:
            cursor = con.execute(sql)
        except duckdb.Error as exc:
            raise _sql_failed(exc) from exc
        yield SqlRows(cursor, duckdb.Error)
    finally:
        con.close()


def run_sql(views: list[RunView], sql: str, *, cells: list[dict[str, Any]] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one SQL statement over the views of already replayed runs; returns (columns, every row).

    Every row is held in memory: for a result of unknown size, read it in batches with :func:`open_sql`.
    """
    with open_sql(views, sql, cells=cells) as result:
        rows = [row for batch in result.batches() for row in batch]
    return result.columns, rows


def query_runs(run_dirs: list[Path] | tuple[Path, ...], sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Replay the given runs and run one SQL statement over their views; returns (columns, rows)."""
    if not sql.strip():
        raise UsageError("the SQL statement is empty", hint='pass it as the last argument, e.g. "SELECT * FROM runs"')
    return run_sql(load_views(list(run_dirs)), sql)


def study_cells(path: Path) -> list[dict[str, Any]] | None:
    """The cells of a study folder (one with ``study.json``) that have a run, or None for any other folder.

    Each is ``{"run_dir", "cell", "status", "params"}``; their runs are queried like
    any other, and the view ``cells`` gives each run's row of the study table
    (:mod:`ipw.reports.study_table`): its cell, parameters as columns, status and metrics.
    """
    from .study_file import cell_run_dir, is_study, read_study

    path = Path(path)
    if not is_study(path):
        return None
    return [{"run_dir": cell_run_dir(path, c), "cell": c.name, "status": c.status, "params": dict(c.params)}
            for c in read_study(path).cells if (cell_run_dir(path, c) / "events").is_dir()]


def cells_table(cells: list[dict[str, Any]], views: list[RunView]) -> Any:
    """The ``cells`` view: run_id, then the study table's columns (dots in a parameter's name become ``_``)."""
    from .study_outputs import arrow_table
    from .study_table import StudyTable, cell_row, with_front

    by_dir = {str(v.run_dir): v for v in views}
    axes: list[str] = []
    for cell in cells:
        axes.extend(k for k in cell["params"] if k not in axes)
    rows = with_front([cell_row(c["cell"], c["params"], c["status"], by_dir.get(str(c["run_dir"]))) for c in cells])
    run_ids = [by_dir[str(c["run_dir"])].run_id if str(c["run_dir"]) in by_dir else None for c in cells]
    return arrow_table(StudyTable(None, axes, rows), sql_names=True, extra={"run_id": run_ids})
