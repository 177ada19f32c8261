"""``ipw record`` and ``ipw profile``: capture a run, then (profile) score and summarise it.

Both exit 0 only when every measured query was answered. When some failed
the run is still printed and kept whole, and the exit status says how many:
11 (``SomeQueriesFailedError``) when some did, 5 (``AllQueriesFailedError``)
when all did, each with one ``ipw: error:`` line naming the run.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Callable

import click

from ._options import eval_flags, eval_options, parse_kv, wait_option
from ._progress import JudgeProgress, ProgressLine


def capture_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by ``record`` and ``profile``."""
    options = [
        click.option("--client", "client_id", required=True, help="Client id: llamacpp, openai, ollama, vllm (see 'ipw list clients')."),
        click.option("--model", required=True, help="Model name for the client (llamacpp: a .gguf path or 'gemma-3-270m')."),
        click.option("--dataset", "dataset_id", default="builtin", show_default=True, help="Dataset id (see 'ipw list datasets')."),
        click.option("--output-dir", default="runs", show_default=True, type=click.Path(file_okay=False), help="Where run directories go."),
        click.option("--run-name", default=None, help="Name of the run directory (default: profile_<client>_<model>_<time>)."),
        click.option("--max-queries", type=int, default=None, help="Stop after this many dataset records."),
        click.option("--max-concurrency", type=int, default=1, show_default=True, help="Queries in flight at once."),
        click.option("--request-rate", type=float, default=None, help="Mean arrival rate in requests/s (Poisson); default: as fast as allowed."),
        click.option("--burstiness", type=float, default=None,
                     help="With --request-rate: gamma shape of the gaps (1: Poisson [default], below 1: burstier)."),
        click.option("--ramp-up-s", type=float, default=None,
                     help="With --request-rate: raise the rate linearly from 0 to it over this many seconds."),
        click.option("--arrival-trace", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                     help="Send the measured queries at a trace's times: seconds per line, or CSV/JSONL with a "
                          "timestamp column (offsets from its first arrival)."),
        click.option("--warmup-queries", type=int, default=0, show_default=True, help="Queries run first, recorded and flagged, excluded from results."),
        click.option("--client-base-url", default=None, help="Base URL of the inference server."),
        click.option("--client-param", multiple=True, metavar="K=V", help="Client parameter (repeatable)."),
        click.option("--dataset-param", multiple=True, metavar="K=V", help="Dataset parameter, e.g. path=… limit=… (repeatable)."),
        click.option("--gen-param", multiple=True, metavar="K=V", help="Generation parameter: temperature, max_tokens, seed, … (repeatable)."),
        click.option("--energy", default="auto", show_default=True, help="auto, none, or a comma list of collectors (nvml,rapl,amdsmi,powermetrics,estimate)."),
        click.option("--sample-interval-ms", type=int, default=100, show_default=True, help="Energy sampling interval."),
        click.option("--cpu-tdp-w", type=float, default=None, help="TDP for the estimated CPU collector."),
        click.option("--power-trace", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Import an external meter's CSV (timestamp, watts or joules) after capture."),
        click.option("--max-retries", type=int, default=2, show_default=True, help="Retries per query on retryable errors."),
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
    return fn


def _agent_dataset(kw: dict[str, Any], dataset_params: dict[str, Any]) -> str:
    """The dataset of the chosen workload: ``agent`` (its flags as its parameters) or ``--dataset``."""
    from ..errors import UsageError

    flags = {"tasks": kw.get("agent_tasks"), "max_turns": kw.get("max_turns"), "budget_s": kw.get("task_budget_s")}
    if kw.get("workload") != "agent":
        given = [f"--{n.replace('_', '-')}" for n, v in (("tasks", flags["tasks"]), ("max_turns", flags["max_turns"]),
                                                           ("task_budget_s", flags["budget_s"])) if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)} only apply to --workload agent", hint="add --workload agent")
        return kw["dataset_id"]
    if kw["dataset_id"] not in ("builtin", "agent"):
        raise UsageError("--workload agent runs tasks, not --dataset", hint="give your own tasks with --tasks FILE")
    if flags["tasks"] is not None:
        flags["tasks"] = str(Path(flags["tasks"]).expanduser().resolve())
    dataset_params.update({k: v for k, v in flags.items() if v is not None})
    return "agent"


def _config(kw: dict[str, Any]) -> Any:
    from ..capture.runner import CaptureConfig

    dataset_params = parse_kv(kw["dataset_param"], "--dataset-param")
    dataset_id = _agent_dataset(kw, dataset_params)
    config = CaptureConfig(
        client=kw["client_id"],
        model=kw["model"],
        dataset=dataset_id,
        output_dir=kw["output_dir"],
        run_name=kw["run_name"],
        max_queries=kw["max_queries"],
        max_concurrency=kw["max_concurrency"],
        request_rate=kw["request_rate"],
        burstiness=kw.get("burstiness"),
        ramp_up_s=kw.get("ramp_up_s"),
        arrival_trace=str(Path(kw["arrival_trace"]).expanduser().resolve()) if kw.get("arrival_trace") else None,
        warmup_queries=kw["warmup_queries"],
        client_base_url=kw["client_base_url"],
        client_params=parse_kv(kw["client_param"], "--client-param"),
        dataset_params=dataset_params,
        gen_params=parse_kv(kw["gen_param"], "--gen-param"),
        energy=kw["energy"],
        sample_interval_ms=kw["sample_interval_ms"],
        cpu_tdp_w=kw["cpu_tdp_w"],
        max_retries=kw["max_retries"],
    )
    config.validate()  # a bad --run-name or --request-rate is refused before anything is read or created
    return config


def _record(config: Any, kw: dict[str, Any]) -> Any:
    from .. import api

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
            result = api.record(config, resume=kw["resume"], progress=progress, power_trace=kw.get("power_trace"),
                                observers=(*observers, progress), explicit=_explicit_fields(),
                                server=_server_spec(kw))
    finally:
        progress.close()
    warning = result.truncation_warning()
    if warning:  # said even with --json: stdout holds the JSON, this goes to stderr
        click.echo(f"ipw: warning: {warning}", err=True)
    return result


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


_FIELDS = {"client_id": "client", "dataset_id": "dataset", "workload": "dataset", "agent_tasks": "dataset_params",
           "max_turns": "dataset_params", "task_budget_s": "dataset_params", "client_param": "client_params",
           "dataset_param": "dataset_params", "gen_param": "gen_params"}


def _explicit_fields() -> set[str]:
    """The capture settings given on the command line (a resume checks these against the run)."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    given = {name for name in ctx.params
             if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
    return {_FIELDS.get(name, name) for name in given}


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
    config = _config(kw)
    result = _record(config, kw)
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
    config = _config(kw)
    from ..analyses.slo import parse_slo

    slo = parse_slo(kw.get("slo"))  # a malformed SLO fails before anything is recorded
    judge = None if kw["no_eval"] else _pre_flight_judge(config, kw)
    if judge is not None:
        config.eval = {"judge": judge.spec, "client": kw["eval_client"], "base_url": kw["eval_base_url"], "model": kw["eval_model"]}
    result = _record(config, kw)
    _announce(result, kw["as_json"])
    summary = analyse_run(result.run_dir, judge=judge, quiet=kw["as_json"], evaluate=not kw["no_eval"], slo=slo)
    if kw["as_json"]:
        click.echo(json.dumps({"run_dir": str(result.run_dir), "summary": summary}, indent=2, sort_keys=True))
    else:
        from ..reports.summary_table import format_summary

        click.echo(format_summary(summary))
        click.echo(f"\nrun directory: {result.run_dir}")
    _check_queries(result)


def _pre_flight_judge(config: Any, kw: dict[str, Any]) -> Any:
    """Build the judge before anything runs, so a missing key fails fast."""
    from .. import api

    return api.profile_judge(config, eval_client=kw["eval_client"], eval_base_url=kw["eval_base_url"],
                             eval_model=kw["eval_model"], eval_params=eval_flags(kw).params,
                             resume=kw["resume"])


_SLO_ANALYSES = ("latency", "summary")


def analyse_run(run_dir: Path, *, judge: Any = None, quiet: bool = False, evaluate: bool = True,
                slo: dict[str, float] | None = None) -> dict[str, Any]:
    """Judge what is unjudged (unless ``evaluate`` is false), then write the profile's analyses; returns the summary."""
    from .. import api

    progress = JudgeProgress(enabled=False if quiet or not evaluate else None)
    how = {"judge": judge, "judge_progress": progress, "choose_judge": None if evaluate else (lambda view: None)}
    try:
        if slo is None:
            out = api.analyse(run_dir, api.PROFILE_ANALYSES, **how)
        else:  # the SLO is an option of latency and summary only; their pass finds nothing left to judge
            first = api.analyse(run_dir, [a for a in api.PROFILE_ANALYSES if a not in _SLO_ANALYSES], **how)
            out = api.analyse(run_dir, [a for a in api.PROFILE_ANALYSES if a in _SLO_ANALYSES], {"slo": slo}, **how)
            out.judge_report = first.judge_report
    finally:
        progress.close()
    if not quiet and out.judge_report is not None and out.judge_report.calls:
        click.echo(f"judged {out.judge_report.calls} answers with {out.judge_report.judge_spec}", err=True)
    return out.results["summary"]


