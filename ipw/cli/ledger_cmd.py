"""``ipw ledger``: inspect, check, convert, repair and share ledgers."""

from __future__ import annotations

import io
import json
import sys
from typing import Any
from pathlib import Path

import click

from ..errors import LedgerError, UsageError
from ..ledger import export_jsonl, import_jsonl, read_manifest, repair, verify
from ._options import wait_option

_run_arg = click.argument("run", type=click.Path(path_type=Path))


@click.group("ledger")
def ledger() -> None:
    """Inspect, verify, convert, repair and share a run's event ledger.

    Example:

        ipw ledger verify runs/profile_llamacpp_gemma-3-270m_20261127-101500
    """


@ledger.command("info")
@_run_arg
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(run: Path, as_json: bool) -> None:
    """Show segments, frames, events by kind and the head of the hash chain.

    Example:

        ipw ledger info runs/my-run --json
    """
    from collections import Counter

    from ..events import kind_of
    from ..ledger import LedgerReader

    _require_run(run)
    reader = LedgerReader(run)
    kinds: Counter[str] = Counter(kind_of(e) for e in reader.events())
    result = reader.last_scan
    assert result is not None
    manifest = read_manifest(run) or {}  # an unreadable manifest is the one error line, with no warning before it
    if result.problem is not None:
        click.echo(f"warning: {result.problem.one_line()}", err=True)
    out = {
        "run": str(run),
        "run_id": manifest.get("run_id", run.name),
        "segments": [
            {"name": s.name, "bytes": s.valid_bytes, "frames": s.frames, "events": s.events} for s in result.segments
        ],
        "frames": result.frames,
        "events": result.events,
        "kinds": dict(sorted(kinds.items())),
        "head_hash": result.head_hash.hex(),
        "valid": result.problem is None,
        "problem": result.problem.one_line() if result.problem else None,
    }
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"run        {out['run']}  (id {out['run_id']})")
    click.echo(f"segments   {len(out['segments'])}, {sum(s['bytes'] for s in out['segments'])} bytes")
    click.echo(f"frames     {out['frames']}")
    click.echo(f"events     {out['events']}")
    for kind, n in out["kinds"].items():
        click.echo(f"  {kind:<17}{n}")
    click.echo(f"head hash  {out['head_hash']}")
    if out["problem"]:
        click.echo(f"damaged    {out['problem']}")


@ledger.command("verify")
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def verify_cmd(target: Path, as_json: bool) -> None:
    """Check framing, checksums, the hash chain and the manifest of a run or pack file.

    Exits 0 when the ledger is intact, 3 when it is damaged, naming the
    segment and byte offset of the first problem. Each analysis/*.json is
    derived again from the ledger; one that differs is reported (exit 3).

    Example:

        ipw ledger verify runs/my-run
    """
    if target.is_file():
        from ..reports.audit import check_pack_derived
        from ..ledger.pack import verify_pack

        report = verify_pack(target, check_derived=check_pack_derived)
    else:
        _require_run(target)
        report = verify(target)
        if report.ok:
            report = _check_derived(target, report)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "frames": report.frames,
                    "events": report.events,
                    "head_hash": report.head_hash,
                    "problem": report.problem.one_line() if report.problem else None,
                    "notes": report.notes,
                },
                indent=2,
            )
        )
    if not report.ok:
        assert report.problem is not None
        raise report.problem
    if not as_json:
        click.echo(report.one_line())
        for note in report.notes:
            click.echo(f"note: {note}")


def _check_derived(run: Path, report: Any) -> Any:
    """Re-derive the run's analysis files: one that differs makes the ledger's report a failure."""
    from ..reports.audit import check_derived, derived_error

    check = check_derived(run)
    if check.mismatch is not None:
        report.ok = False
        report.problem = derived_error(run, check)
    report.notes += [f"not checked: {item}" for item in check.unchecked]
    return report


@ledger.command("export")
@_run_arg
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write to this file instead of stdout (parquet: the folder to write, required).")
@click.option("--kind", "kinds", multiple=True, help="Only events of this kind (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "parquet"]), default="jsonl", show_default=True,
              help="jsonl: one JSON event per line; parquet: one <kind>.parquet file per event kind.")
def export_cmd(run: Path, output: Path | None, kinds: tuple[str, ...], fmt: str) -> None:
    """Write every event as JSON lines (the SPEC §4 form, every field, defaults included), or as Parquet files.

    A Parquet export is one file per event kind (token.parquet,
    power_sample.parquet, …) for pandas, polars, DuckDB or Spark; 'ipw query'
    and 'ipw report' read such a folder as a run.

    Example:

    \b
        ipw ledger export runs/my-run -o events.jsonl
        ipw ledger export runs/my-run --format parquet -o my-run-parquet
    """
    _require_run(run)
    selected = set(kinds) or None
    if fmt == "parquet":
        from ..errors import UsageError
        from ..ledger.parquet import export_parquet

        if output is None:
            raise UsageError("--format parquet writes a folder of files", hint="name it with -o DIR")
        counts = export_parquet(run, output, kinds=selected)
        click.echo(f"wrote {sum(counts.values())} events as {len(counts)} Parquet files to {output}", err=True)
        return
    if output is None:
        out = _binary_stdout()
        export_jsonl(run, out, kinds=selected)
        out.flush()
        return
    with open(output, "wb") as fh:
        n = export_jsonl(run, fh, kinds=selected)
    click.echo(f"wrote {n} events to {output}", err=True)


@ledger.command("import")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", "run", required=True, type=click.Path(path_type=Path), help="The new run directory.")
@click.option("--run-id", default=None, help="Run id for the manifest (default: from run_started, else the folder name).")
@wait_option
def import_cmd(source: Path, run: Path, run_id: str | None) -> None:
    """Build a new ledger from JSON lines (use '-' for stdin).

    Example:

        ipw ledger import events.jsonl -o runs/handmade
    """
    if str(source) == "-":
        n = import_jsonl(getattr(sys.stdin, "buffer", None) or io.BytesIO(sys.stdin.read().encode()), run, run_id=run_id)
    else:
        if not source.is_file():
            raise UsageError(f"{source} does not exist", hint="pass a JSON-lines file of events, or - for stdin")
        n = import_jsonl(source, run, run_id=run_id)
    click.echo(f"imported {n} events into {run}")


@ledger.command("repair")
@_run_arg
@wait_option
def repair_cmd(run: Path) -> None:
    """Cut a damaged ledger back to its longest valid prefix and rewrite the manifest.

    The bytes cut off are kept under events/quarantine/. Repair is a writer:
    while another process writes the run it exits 3 (or waits, with --wait).

    Example:

        ipw ledger repair runs/my-run
    """
    _require_run(run)
    report = repair(run)
    if report.changed:
        click.echo(
            f"repaired: kept {report.frames} frames ({report.events} events), "
            f"set aside {report.cut_bytes} bytes in {', '.join(report.quarantined)}"
        )
        if report.problem is not None:
            click.echo(f"first problem was: {report.problem.one_line()}")
    else:
        click.echo(f"nothing to cut: {report.frames} frames ({report.events} events); manifest rewritten")


class _TextAsBinary:
    """Bytes onto a text stream (stdout replaced by a StringIO, as in embedding hosts)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, data: bytes) -> int:
        return self.stream.write(data.decode("utf-8"))

    def flush(self) -> None:
        self.stream.flush()


def _binary_stdout() -> Any:
    buffer = getattr(sys.stdout, "buffer", None)
    return buffer if buffer is not None else _TextAsBinary(sys.stdout)


def _require_run(run: Path) -> None:
    if not run.exists():
        raise UsageError(f"{run} does not exist", hint="pass a run directory (see the output of 'ipw record')")
    if not (run / "events").is_dir():
        raise LedgerError(f"{run} holds no ledger (no 'events/' folder)", hint="pass a run directory written by ipw")



@ledger.command("pack")
@_run_arg
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The pack file to write.")
@click.option("--include-derived", is_flag=True, help="Also pack analysis/*.json and plots/*.png.")
def pack_cmd(run: Path, output: Path, include_derived: bool) -> None:
    """Bundle a run's segments and manifest into one shareable file.

    Example:

        ipw ledger pack runs/my-run -o my-run.ipwpack
    """
    from ..ledger.pack import pack

    _require_run(run)
    members = pack(run, output, include_derived=include_derived)
    click.echo(f"packed {len(members)} files into {output}")


@ledger.command("unpack")
@click.argument("pack_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="New run directory.")
def unpack_cmd(pack_file: Path, output: Path) -> None:
    """Verify a pack completely, then write it as a run directory.

    Refuses members that would escape the folder, links, and any segment whose
    sha256 or hash chain does not match; a refused pack writes nothing.

    Example:

        ipw ledger unpack my-run.ipwpack -o runs/their-run
    """
    from ..reports.audit import check_pack_derived
    from ..ledger.pack import unpack

    target = unpack(pack_file, output, check_derived=check_pack_derived)
    click.echo(f"unpacked and verified {target}")


@ledger.command("import-power")
@_run_arg
@click.argument("trace", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--device", default="meter:0", show_default=True, help="Device id for the imported samples.")
@click.option("--device-type", default="system", show_default=True, type=click.Choice(["system", "gpu", "cpu", "dram", "soc"]))
@click.option("--offset-s", type=float, default=None, help="Seconds to add to the trace's timestamps before alignment.")
@wait_option
def import_power_cmd(run: Path, trace: Path, device: str, device_type: str, offset_s: float | None) -> None:
    """Append an external power meter's CSV (timestamp, watts or joules) to a run.

    Timestamps are Unix seconds (or ISO 8601) and are aligned to the run's
    clock through run_started's wall time; samples are marked 'imported'.

    Example:

        ipw ledger import-power runs/my-run wallplug.csv --device meter:wall
    """
    from ..capture.power_trace import import_power_trace

    _require_run(run)
    n = import_power_trace(run, trace, device=device, device_type=device_type, offset_s=offset_s)
    click.echo(f"imported {n} samples from {trace} as {device}")
