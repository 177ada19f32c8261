"""``ipw record`` and ``ipw profile``: capture a run, then (profile) score and summarise it.

The capture and eval flags are made from the settings Structs (:mod:`._settings`); ``profile`` is
:func:`ipw.api.profile`, the one path that records, judges and analyses.

Both exit 0 only when every measured query was answered. When some failed
the run is still printed and kept whole, and the exit status says how many:
11 (``SomeQueriesFailedError``) when some did, 5 (``AllQueriesFailedError``)
when all did, each with one ``ipw: error:`` line naming the run.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from ._options import eval_options, parse_kv, wait_option
from ._progress import JudgeProgress, ProgressLine
from ._settings import from_options, given_fields, settings_options


def capture_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by ``record`` and ``profile``: every capture setting, then how this run is done."""
    from ..capture.config import CaptureConfig

    options = [
        click.option("--power-trace", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Import an external meter's CSV (timestamp, watts or joules) after capture."),
        click.option("--resume", is_flag=True, help="Finish an interrupted run with the same --output-dir/--run-name."),
        click.option("--server-cmd", default=None, metavar="TEMPLATE",
                     help="Start this server for the run and stop it after: {port}, {model}, {model_path} and "
                          "{python} are filled in; the client talks to it unless --client-base-url says otherwise."),
        click.option("--server-health-url", default=None, metavar="URL",
                     help="With --server-cmd: the URL that answers 200 once it is ready "
                          "[default: http://127.0.0.1:{port}/v1/models]."),
        click.option("--server-startup-timeout-s", type=float, default=180.0, show_default=True,
                     help="With --server-cmd: how long to wait for it to become healthy."),
        click.option("--workload", type=click.Choice(["queries", "agent"]), default="queries", show_default=True,
                     help="queries: the dataset's prompts; agent: the built-in tool-calling agent over its tasks."),
        click.option("--tasks", "agent_tasks", type=click.Path(dir_okay=False), default=None,
                     help="With --workload agent: a JSONL file of tasks (id, prompt, check, files); default: built in."),
        click.option("--max-turns", type=int, default=None, help="With --workload agent: model calls per task (default 8)."),
        click.option("--task-budget-s", type=float, default=None,
                     help="With --workload agent: wall seconds per task (default 120)."),
        click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
                     help="Serve Prometheus metrics at http://127.0.0.1:PORT/metrics while capturing (0: any free port)."),
        click.option("--metrics-host", default="127.0.0.1", show_default=True,
                     help="Address the metrics server binds (with --metrics-port)."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text; no progress line."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return settings_options(CaptureConfig)(fn)


def _agent_dataset(kw: dict[str, Any], dataset_params: dict[str, Any]) -> str:
    """The dataset of the chosen workload: ``agent`` (its flags as its parameters) or ``--dataset``."""
    from ..errors import UsageError

    flags = {"tasks": kw.get("agent_tasks"), "max_turns": kw.get("max_turns"), "budget_s": kw.get("task_budget_s")}
    if kw.get("workload") != "agent":
        given = [f"--{n.replace('_', '-')}" for n, v in (("tasks", flags["tasks"]), ("max_turns", flags["max_turns"]),
                                                           ("task_budget_s", flags["budget_s"])) if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)} only apply to --workload agent", hint="add --workload agent")
        return kw["dataset"]
    if kw["dataset"] not in ("builtin", "agent"):
        raise UsageError("--workload agent runs tasks, not --dataset", hint="give your own tasks with --tasks FILE")
    if flags["tasks"] is not None:
        flags["tasks"] = str(Path(flags["tasks"]).expanduser().resolve())
    dataset_params.update({k: v for k, v in flags.items() if v is not None})
    return "agent"


def _config(kw: dict[str, Any]) -> Any:
    """The capture settings the flags give, checked: a bad --run-name or --request-rate is refused before
    anything is read or created, naming its flag."""
    from ..capture.config import CaptureConfig
    from ..capture.settings import FLAG

    dataset_params = parse_kv(kw["dataset_param"], "--dataset-param")
    dataset = _agent_dataset(kw, dataset_params)
    trace = str(Path(kw["arrival_trace"]).expanduser().resolve()) if kw.get("arrival_trace") else None
    config = from_options(CaptureConfig, kw, dataset=dataset, dataset_param=dataset_params, arrival_trace=trace)
    config.validate(FLAG)
    return config


@contextlib.contextmanager
def _capturing(kw: dict[str, Any]) -> Iterator[tuple[ProgressLine, tuple[Any, ...]]]:
    """The progress line and observers of one capture (with --metrics-port, its server), closed after."""
    observers: list[Any] = []
    server: Any = contextlib.nullcontext()
    if kw.get("metrics_port") is not None:
        from ..capture.metrics import CaptureMetrics, MetricsServer

        observers.append(CaptureMetrics())
        server = MetricsServer(observers[-1], kw["metrics_port"], kw.get("metrics_host") or "127.0.0.1")
        if not kw["as_json"]:
            click.echo(f"metrics: {server.url}", err=True)
    progress = ProgressLine(enabled=False if kw["as_json"] else None)
    try:
        with server:
            yield progress, (*observers, progress)
    finally:
        progress.close()


class _Recorded:
    """Once the capture ends, before judging: close the progress line and say what was recorded."""

    def __init__(self, progress: ProgressLine, as_json: bool) -> None:
        self.progress, self.as_json = progress, as_json

    def attach(self, progress: Any) -> None:
        pass

    def observe(self, event: Any) -> None:
        pass

    def recorded(self, result: Any) -> None:
        self.progress.close()
        _warn_truncated(result)
        _announce(result, self.as_json)


def _warn_truncated(result: Any) -> None:
    warning = result.truncation_warning()
    if warning:  # said even with --json: stdout holds the JSON, this goes to stderr
        click.echo(f"ipw: warning: {warning}", err=True)


def _server_spec(kw: dict[str, Any]) -> Any:
    """The server --server-cmd starts for the run, or None."""
    if kw.get("server_cmd") is None:
        if kw.get("server_health_url") is not None:
            from ..errors import UsageError

            raise UsageError("--server-health-url needs --server-cmd", hint="add --server-cmd, or leave it out")
        return None
    from ..capture.server_process import DEFAULT_HEALTH_URL, ServerSpec

    spec = ServerSpec(command=kw["server_cmd"], health_url=kw.get("server_health_url") or DEFAULT_HEALTH_URL,
                      startup_timeout_s=kw.get("server_startup_timeout_s") or 180.0)
    spec.check()  # an unsplittable command is refused before anything starts
    return spec


# the workload flags are not settings of their own: they choose the dataset and fill its parameters
_WORKLOAD_FIELDS = {"workload": "dataset", "agent_tasks": "dataset_params", "max_turns": "dataset_params",
                    "task_budget_s": "dataset_params"}


def _explicit_fields() -> set[str]:
    """The capture settings given on the command line (a resume checks these against the run)."""
    from ..capture.config import CaptureConfig

    return given_fields(CaptureConfig, _WORKLOAD_FIELDS)


def _check_queries(result: Any) -> None:
    """Raise the error for a run whose queries failed (after the run folder was printed); nothing when none did."""
    from ..errors import AllQueriesFailedError, SomeQueriesFailedError

    if not result.failed:
        return
    hint = f"see why with: ipw ledger export {result.run_dir} --kind query_failed; --resume asks them again"
    if not result.completed:
        raise AllQueriesFailedError(f"every query failed ({result.failed} of {result.failed}); the run is kept in "
                                    f"{result.run_dir}", hint=hint)
    raise SomeQueriesFailedError(f"{result.failed} of {result.completed + result.failed} queries failed; the run "
                                 f"is kept in {result.run_dir}", hint=hint)


def _announce(result: Any, as_json: bool) -> None:
    if as_json:
        return
    what = "resumed and finished" if result.resumed else "recorded"
    click.echo(
        f"{what} {result.completed} queries ({result.failed} failed, status {result.status}) in {result.run_dir}",
        err=True,
    )
    if result.energy_note:
        click.echo(f"note: {result.energy_note}", err=True)


@click.command("record")
@capture_options
@wait_option
def record(**kw: Any) -> None:
    """Capture a run into a ledger and print its directory (no scoring).

    Exits 0 when every query was answered, 11 when some failed, 5 when all
    did; the run is printed and kept in every case.

    Example:

        ipw record --client openai --client-base-url http://127.0.0.1:8000/v1 --model gemma --max-queries 8

        ipw record --workload agent --client openai --client-base-url http://127.0.0.1:8000/v1 --model qwen2.5-7b
    """
    from .. import api

    config = _config(kw)
    with _capturing(kw) as (progress, observers):
        result = api.record(config, resume=kw["resume"], progress=progress, power_trace=kw.get("power_trace"),
                            observers=observers, explicit=_explicit_fields(), server=_server_spec(kw))
    _warn_truncated(result)
    if kw["as_json"]:
        click.echo(json.dumps({"run_dir": str(result.run_dir), "run_id": result.run_id, "status": result.status,
                               "queries_completed": result.completed, "queries_failed": result.failed,
                               "queries_truncated": result.truncated}))
    else:
        _announce(result, False)
        click.echo(str(result.run_dir))
    _check_queries(result)


@click.command("profile")
@capture_options
@eval_options
@wait_option
@click.option("--slo", default=None, metavar="ttft_ms=N,tpot_ms=N,e2e_ms=N",
              help="Latency SLO in ms: adds attainment, goodput and J per correct answer within it to the summary.")
def profile(**kw: Any) -> None:
    """Record a run, judge it, and write accuracy, energy, latency and the summary.

    Writes RUN/analysis/accuracy.json (correct, incorrect, unevaluated,
    accuracy) and summary.json (intelligence per watt and per joule).

    Example:

        ipw profile --client llamacpp --model gemma-3-270m --max-queries 20
    """
    if kw.get("workload") == "agent":
        from ..errors import UsageError

        raise UsageError("ipw profile scores answers; an agent's tasks are scored by their checks",
                         hint="use ipw record --workload agent")
    from .. import api
    from ..analyses.slo import parse_slo
    from ..capture.config import EvalSettings

    config = _config(kw)
    settings = from_options(EvalSettings, kw)
    slo = parse_slo(kw.get("slo"))  # a malformed SLO fails before anything is recorded
    judging = JudgeProgress(enabled=False if kw["as_json"] or settings.no_eval else None)
    try:
        with _capturing(kw) as (progress, observers):
            out = api.profile(config, settings, resume=kw["resume"], progress=progress, judge_progress=judging,
                              power_trace=kw.get("power_trace"), explicit=_explicit_fields(),
                              observers=(*observers, _Recorded(progress, kw["as_json"])), server=_server_spec(kw),
                              slo=slo)
    finally:
        judging.close()
    result, report = out.run, out.analysis.judge_report
    if not kw["as_json"] and report is not None and report.calls:
        click.echo(f"judged {report.calls} answers with {report.judge_spec}", err=True)
    if kw["as_json"]:
        click.echo(json.dumps({"run_dir": str(result.run_dir), "summary": out.summary}, indent=2, sort_keys=True))
    else:
        from ..reports.summary_table import format_summary

        click.echo(format_summary(out.summary))
        click.echo(f"\nrun directory: {result.run_dir}")
    _check_queries(result)
