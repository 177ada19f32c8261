"""``ipw replay`` / ``ipw analyze``: run one projection over a run's ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._options import eval_flags, eval_options, parse_kv, wait_option


def _run_analysis(run: Path, analysis_id: str, judge_spec: str | None, options: dict[str, Any], kw: dict[str, Any]) -> dict[str, Any]:
    from .. import api
    from ..judging.select import judge_for_run
    from ._progress import JudgeProgress

    warned: list[bool] = []

    def warn(problem: Any) -> None:
        if problem is not None and not warned:
            click.echo(f"warning: {problem.one_line()}; replaying the valid prefix", err=True)
        warned.append(True)

    def choose(view: Any) -> Any:
        warn(view.problem)  # before judging, which refuses a damaged ledger
        if kw.get("no_eval"):
            return None
        flags = eval_flags(kw)
        if kw.get("judge") and not flags.explicit:
            return None  # --judge alone chooses among the judges present and judges nothing new
        return judge_for_run(view, flags, reuse_recorded=True,
                             warn=lambda line: click.echo(f"warning: {line}", err=True))

    progress = JudgeProgress(enabled=False if kw.get("as_json") else None)
    try:
        out = api.analyse(run, [analysis_id], options, judge_spec=judge_spec, choose_judge=choose,
                          judge_progress=progress)
    finally:
        progress.close()
    warn(out.problem)
    if out.judge_report is not None and out.judge_report.calls:
        click.echo(f"judged {out.judge_report.calls} answers with {out.judge_report.judge_spec}", err=True)
    return {"path": str(out.paths[analysis_id]), "result": out.results[analysis_id]}


def _emit(out: dict[str, Any], as_json: bool, analysis_id: str) -> None:
    from ..reports.analysis_files import dumps_result

    if as_json:
        click.echo(dumps_result(out["result"]), nl=False)
        return
    if analysis_id == "summary":
        from ..reports.summary_table import format_summary

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
