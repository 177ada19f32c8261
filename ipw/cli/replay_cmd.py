"""``ipw replay`` / ``ipw analyze``: run one projection over a run's ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import UsageError
from ._options import parse_kv, wait_option
from .capture_cmd import eval_options, judge_params


def _run_analysis(run: Path, analysis_id: str, judge_spec: str | None, options: dict[str, Any], kw: dict[str, Any]) -> dict[str, Any]:
    from ..registry import REGISTRY
    from ..replay import load_run, write_analysis

    if not (run / "events").is_dir():
        raise UsageError(f"{run} is not a run directory (no events/ folder)", hint="pass a directory written by 'ipw record' or 'ipw profile'")
    projection = REGISTRY.load("analyses", analysis_id)()
    view = load_run(run)
    if view.problem is not None:
        click.echo(f"warning: {view.problem.one_line()}; replaying the valid prefix", err=True)
    if getattr(projection, "needs_judging", False) and not kw.get("no_eval"):
        judge = _judge_for(view, kw)
        if judge is not None:
            from ..judging.apply import judge_run
            from ._progress import JudgeProgress

            progress = JudgeProgress(enabled=False if kw.get("as_json") else None)
            try:
                report = judge_run(run, judge, progress=progress)
            finally:
                progress.close()
            if report.calls:
                click.echo(f"judged {report.calls} answers with {report.judge_spec}", err=True)
            view = load_run(run)
            if judge_spec is None and any(v.judge == judge.spec for v in view.verdicts):
                judge_spec = judge.spec
    if judge_spec is not None:
        options = {**options, "judge": judge_spec}
    result = projection.compute(view, options)
    path = write_analysis(run, analysis_id, result)
    return {"path": str(path), "result": result}


def _judge_for(view: Any, kw: dict[str, Any]) -> Any:
    from ..judging.apply import default_judge_for, make_judge

    if any(kw.get(k) for k in ("eval_client", "eval_base_url", "eval_model")):
        return make_judge(kw.get("eval_client") or "openai", kw.get("eval_base_url"), kw.get("eval_model"),
                          **judge_params(kw))
    if kw.get("judge"):
        return None  # choose among the judges present; judge nothing new
    if view.verdicts:
        # judged before: the same judge takes the answers it has not seen (e.g. after --resume)
        return _rebuild_judge(view, kw)
    return default_judge_for(view, **judge_params(kw))


def _rebuild_judge(view: Any, kw: dict[str, Any]) -> Any:
    """The judge behind the spec the run reports under, or None when it cannot be rebuilt here."""
    from ..analyses.accuracy import select_judge
    from ..errors import ConfigError
    from ..judging.apply import ScorerJudge, make_judge
    from ..judging.scorers import get_scorer

    spec = select_judge(view)
    if spec is None:
        return None
    judged = view.verdicts_by_judge().get(spec, {})
    if all(q.query_id in judged for q in view.measured_queries()):
        return None  # nothing new: the rerun is a pure replay
    if spec.startswith("scorer:"):
        return ScorerJudge(get_scorer(spec))
    configured = view.config.get("eval") if isinstance(view.config.get("eval"), dict) else {}
    if configured.get("judge") != spec:
        return None  # an LLM judge this run was not configured with: name it with the --eval-* flags
    try:
        judge = make_judge(configured.get("client") or "openai", configured.get("base_url"), configured.get("model"),
                           **judge_params(kw))
    except ConfigError as exc:
        click.echo(f"warning: answers not yet judged stay unevaluated: {exc.one_line()}", err=True)
        return None
    return judge if judge.spec == spec else None


def _emit(out: dict[str, Any], as_json: bool, analysis_id: str) -> None:
    from ..replay import dumps_result

    if as_json:
        click.echo(dumps_result(out["result"]), nl=False)
        return
    if analysis_id == "summary":
        from ..analyses.summary import format_summary

        click.echo(format_summary(out["result"]))
    elif analysis_id == "accuracy":
        r = out["result"]
        acc = r.get("accuracy")
        click.echo(
            f"accuracy {acc:.3f}" if isinstance(acc, float) else "accuracy n/a (nothing evaluated)",
        )
        click.echo(f"correct {r['correct']}, incorrect {r['incorrect']}, unevaluated {r['unevaluated']} (judge {r.get('judge')})")
    click.echo(f"wrote {out['path']}")


_common = [
    click.argument("run", type=click.Path(path_type=Path)),
    click.option("--analysis", "analysis_id", required=True, help="Analysis id (see 'ipw list analyses')."),
    click.option("--judge", default=None, help="Judge spec to report among those present in the run."),
    click.option("--option", "option", multiple=True, metavar="K=V", help="Analysis option, e.g. policy=tokens (repeatable)."),
    click.option("--json", "as_json", is_flag=True, help="Print the analysis JSON."),
]


def _with_common(fn: Any) -> Any:
    for decorator in reversed(_common):
        fn = decorator(fn)
    return eval_options(wait_option(fn))  # --wait: judging appends verdicts, so it is a writer


@click.command("replay")
@_with_common
def replay(run: Path, analysis_id: str, judge: str | None, option: tuple[str, ...], as_json: bool, **kw: Any) -> None:
    """Replay a run's ledger through one analysis and write RUN/analysis/ID.json.

    Judging happens only where the analysis needs it and only for answers the
    chosen judge has not judged yet, so reruns are free and idempotent.

    Example:

        ipw replay runs/my-run --analysis energy --option policy=tokens --json
    """
    kw["judge"] = judge
    kw["as_json"] = as_json
    out = _run_analysis(run, analysis_id, judge, parse_kv(option, "--option"), kw)
    _emit(out, as_json, analysis_id)


@click.command("analyze")
@_with_common
def analyze(run: Path, analysis_id: str, judge: str | None, option: tuple[str, ...], as_json: bool, **kw: Any) -> None:
    """The upstream spelling of 'ipw replay'.

    Example:

        ipw analyze runs/my-run --analysis accuracy --option model=gemma-3-270m
    """
    kw["judge"] = judge
    kw["as_json"] = as_json
    out = _run_analysis(run, analysis_id, judge, parse_kv(option, "--option"), kw)
    _emit(out, as_json, analysis_id)
