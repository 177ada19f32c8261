"""``ipw record`` and ``ipw profile``: capture a run, then (profile) score and summarise it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import click

from ._options import parse_kv
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
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text; no progress line."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def eval_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The upstream eval flags."""
    options = [
        click.option("--eval-client", default=None, help="Judge client: openai (an LLM judge) or a scorer: auto, letter, numeric, exact."),
        click.option("--eval-base-url", default=None, help="OpenAI-compatible judge endpoint (default https://api.openai.com/v1)."),
        click.option("--eval-model", default=None, help="Judge model (default gpt-5-nano-2025-08-07)."),
        click.option("--eval-param", multiple=True, metavar="K=V", help="Extra judge request field, e.g. max_tokens=64 (repeatable)."),
        click.option("--no-eval", is_flag=True, help="Skip judging; accuracy is reported as unevaluated."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _config(kw: dict[str, Any]) -> Any:
    from ..capture.runner import CaptureConfig

    return CaptureConfig(
        client=kw["client_id"],
        model=kw["model"],
        dataset=kw["dataset_id"],
        output_dir=kw["output_dir"],
        run_name=kw["run_name"],
        max_queries=kw["max_queries"],
        max_concurrency=kw["max_concurrency"],
        request_rate=kw["request_rate"],
        warmup_queries=kw["warmup_queries"],
        client_base_url=kw["client_base_url"],
        client_params=parse_kv(kw["client_param"], "--client-param"),
        dataset_params=parse_kv(kw["dataset_param"], "--dataset-param"),
        gen_params=parse_kv(kw["gen_param"], "--gen-param"),
        energy=kw["energy"],
        sample_interval_ms=kw["sample_interval_ms"],
        cpu_tdp_w=kw["cpu_tdp_w"],
        max_retries=kw["max_retries"],
    )


def _record(config: Any, kw: dict[str, Any]) -> Any:
    from ..capture.runner import Runner

    if kw.get("power_trace") is not None:
        from ..capture.power_trace import read_power_csv

        read_power_csv(kw["power_trace"])  # a bad trace is refused before anything runs
    progress = ProgressLine(enabled=False if kw["as_json"] else None)
    runner = Runner(config, progress=progress, explicit=_explicit_fields())
    try:
        result = runner.run(resume=kw["resume"])
    finally:
        progress.close()
    warning = result.truncation_warning()
    if warning:  # said even with --json: stdout holds the JSON, this goes to stderr
        click.echo(f"ipw: warning: {warning}", err=True)
    if kw.get("power_trace") is not None:
        from ..capture.power_trace import import_power_trace

        import_power_trace(result.run_dir, kw["power_trace"])
    return result


_FIELDS = {"client_id": "client", "dataset_id": "dataset", "client_param": "client_params",
           "dataset_param": "dataset_params", "gen_param": "gen_params"}


def _explicit_fields() -> set[str]:
    """The capture settings given on the command line (a resume checks these against the run)."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    given = {name for name in ctx.params
             if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
    return {_FIELDS.get(name, name) for name in given}


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
def record(**kw: Any) -> None:
    """Capture a run into a ledger and print its directory (no scoring).

    Example:

        ipw record --client openai --client-base-url http://127.0.0.1:8000/v1 --model gemma --max-queries 8
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


@click.command("profile")
@capture_options
@eval_options
def profile(**kw: Any) -> None:
    """Record a run, judge it, and write accuracy, energy, latency and the summary.

    Writes RUN/analysis/accuracy.json (correct, incorrect, unevaluated,
    accuracy) and summary.json (intelligence per watt and per joule).

    Example:

        ipw profile --client llamacpp --model gemma-3-270m --max-queries 20
    """
    config = _config(kw)
    judge = None if kw["no_eval"] else _pre_flight_judge(config, kw)
    if judge is not None:
        config.eval = {"judge": judge.spec, "client": kw["eval_client"], "base_url": kw["eval_base_url"], "model": kw["eval_model"]}
    result = _record(config, kw)
    _announce(result, kw["as_json"])
    summary = analyse_run(result.run_dir, judge=judge, quiet=kw["as_json"], evaluate=not kw["no_eval"])
    if kw["as_json"]:
        click.echo(json.dumps({"run_dir": str(result.run_dir), "summary": summary}, indent=2, sort_keys=True))
    else:
        from ..analyses.summary import format_summary

        click.echo(format_summary(summary))
        click.echo(f"\nrun directory: {result.run_dir}")


def _pre_flight_judge(config: Any, kw: dict[str, Any]) -> Any:
    """Build the judge before anything runs, so a missing key fails fast."""
    from ..capture.runner import load_records
    from ..judging.apply import make_judge

    explicit = any(kw[k] for k in ("eval_client", "eval_base_url", "eval_model"))
    if explicit:
        return make_judge(kw["eval_client"] or "openai", kw["eval_base_url"], kw["eval_model"], **judge_params(kw))
    if kw["resume"]:
        return None  # decided after capture from what the run holds
    records, _info = load_records(config)
    if all(r.scorer for r in records):
        return make_judge(deterministic=True)
    return make_judge("openai", None, None, **judge_params(kw))


def judge_params(kw: dict[str, Any]) -> dict[str, Any]:
    """``--eval-param`` pairs as the LLM judge's extra request fields (none for a scorer)."""
    params = parse_kv(kw.get("eval_param") or (), "--eval-param")
    client = (kw.get("eval_client") or "openai").lower()
    return {"params": params} if params and client == "openai" else {}


ANALYSES_AFTER_PROFILE = ("accuracy", "energy", "latency", "summary")


def analyse_run(run_dir: Path, *, judge: Any = None, quiet: bool = False, evaluate: bool = True) -> dict[str, Any]:
    """Judge what is unjudged (unless ``evaluate`` is false), then write the profile's analyses; returns the summary."""
    from ..judging.apply import default_judge_for, judge_run
    from ..registry import REGISTRY
    from ..replay import load_run, write_analysis

    if evaluate and judge is None:
        judge = default_judge_for(load_run(run_dir))
    if evaluate:
        progress = JudgeProgress(enabled=False if quiet else None)
        try:
            report = judge_run(run_dir, judge, progress=progress)
        finally:
            progress.close()
        if not quiet and report.calls:
            click.echo(f"judged {report.calls} answers with {report.judge_spec}", err=True)
    view = load_run(run_dir)
    options = {"judge": judge.spec} if judge is not None and any(v.judge == judge.spec for v in view.verdicts) else {}
    results = {}
    for analysis_id in ANALYSES_AFTER_PROFILE:
        projection = REGISTRY.load("analyses", analysis_id)()
        opts = dict(options) if analysis_id in ("accuracy", "summary") else {}
        results[analysis_id] = projection.compute(view, opts)
        write_analysis(run_dir, analysis_id, results[analysis_id])
    return results["summary"]


