"""The pipeline as a library: what ``ipw record``, ``replay`` and ``profile`` do, as functions.

    record(config)                      capture one run           -> RunResult
    judge(run_dir, judge)               append missing verdicts   -> JudgeReport
    analyse(run_dir, ids, options)      replay projections, write RUN/analysis/<id>.json -> Analysis
    profile(config, judge)              record, judge, then accuracy, energy, latency, summary -> Profile

The CLI and studies call these, and a notebook can too. Nothing here prints
or exits: progress goes to the callbacks given, problems are raised as
:class:`ipw.errors.IpwError` subclasses, and what the CLI would say (a
damaged ledger replayed up to its valid prefix, how many answers were
judged) is returned in the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .capture.config import CaptureConfig, Progress, RunResult
from .errors import UsageError

if TYPE_CHECKING:
    from .errors import LedgerCorruptError
    from .judging.apply import JudgeReport
    from .capture.server_process import ServerSpec
    from .replay.engine import RunView

__all__ = ["CaptureConfig", "RunResult", "Analysis", "Profile", "PROFILE_ANALYSES",
           "record", "judge", "analyse", "profile", "profile_judge"]

PROFILE_ANALYSES = ("accuracy", "energy", "latency", "summary")


@dataclass
class Analysis:
    """What :func:`analyse` computed and wrote, and how it got there."""

    results: dict[str, dict[str, Any]]
    paths: dict[str, Path]
    judge_report: JudgeReport | None = None
    problem: LedgerCorruptError | None = None  # the ledger was damaged: results cover its valid prefix


@dataclass
class Profile:
    """A recorded, judged and analysed run."""

    run: RunResult
    analysis: Analysis
    summary: dict[str, Any] = field(default_factory=dict)


def record(config: CaptureConfig, *, resume: bool = False, progress: Callable[[Progress], None] | None = None,
           power_trace: Path | None = None, client: Any = None, observers: Iterable[Any] = (),
           explicit: Iterable[str] | None = None, server: ServerSpec | None = None) -> RunResult:
    """Capture one run into its ledger; ``power_trace`` (an external meter's CSV) is imported after capture.

    ``server`` (``--server-cmd``, a study's ``[server]``) is started on a free
    loopback port first and stopped when the capture ends, whatever happens;
    the client talks to it unless ``client_base_url`` says otherwise (its
    ``{port}`` is filled). A server that does not come up raises before any
    ledger exists.

    ``observers`` see the run as it is captured (e.g. the Prometheus metrics of
    ``--metrics-port``): ``attach(progress)`` once, then ``observe(event)``.
    ``explicit`` names the settings the user gave; a resume refuses those that
    differ from the run and may not change (None: those that differ from
    their defaults).
    """
    from .agent.runner import AgentRunner, is_agent_run
    from .capture.runner import Runner

    if is_agent_run(config, resume):
        Runner = AgentRunner  # noqa: N806  --workload agent: the same capture, tasks as its work
    if power_trace is not None:
        from .capture.power_trace import read_power_csv

        read_power_csv(power_trace)  # a bad trace is refused before anything runs
    if server is None:
        result = Runner(config, progress=progress, client=client, observers=tuple(observers),
                        explicit=explicit).run(resume=resume)
    else:
        result = _record_with_server(config, server, resume=resume, progress=progress, client=client,
                                     observers=tuple(observers), explicit=explicit)
    if power_trace is not None:
        from .capture.power_trace import import_power_trace

        import_power_trace(result.run_dir, power_trace)
    return result


def _record_with_server(config: CaptureConfig, server: ServerSpec, *, resume: bool, client: Any,
                        **runner_options: Any) -> RunResult:
    import dataclasses

    from .capture.runner import Runner, make_client
    from .capture.server_process import DEFAULT_BASE_URL, ServerProcess

    with ServerProcess(server, model=config.model) as process:
        own_client = client is None
        if own_client:
            # the URL is this server's, not a setting: the config keeps what the user gave, so a resume compares
            url = (config.client_base_url or DEFAULT_BASE_URL).replace("{port}", str(process.port))
            client = make_client(dataclasses.replace(config, client_base_url=url))
        try:
            return Runner(config, client=client, server=process, **runner_options).run(resume=resume)
        finally:
            if own_client:
                client.close()


def judge(run_dir: Path, judge: Any = None, *, progress: Callable[[int, int], None] | None = None) -> JudgeReport:
    """Append the verdicts ``judge`` has not given yet; ``None`` picks the run's default judge."""
    from .judging.apply import judge_run
    from .judging.select import judge_for_run
    from .replay import load_run

    chosen = judge if judge is not None else judge_for_run(load_run(Path(run_dir)))
    return judge_run(Path(run_dir), chosen, progress=progress)


def analyse(
    run_dir: Path,
    analysis_ids: Iterable[str],
    options: dict[str, Any] | None = None,
    *,
    judge: Any = None,
    choose_judge: Callable[[RunView], Any] | None = None,
    judge_spec: str | None = None,
    judge_progress: Callable[[int, int], None] | None = None,
) -> Analysis:
    """Replay the run through each analysis and write ``RUN/analysis/<id>.json``.

    Where an analysis needs verdicts, answers not yet judged are judged first:
    by ``judge``, else by ``choose_judge(view)`` (which may return None: judge
    nothing), else by the run's default judge. ``judge_spec`` names the judge
    to report under; by default the one that just judged, when it left verdicts.
    ``options`` go to every analysis; the judge spec only to those that judge.
    """
    from .judging.apply import judge_run
    from .judging.select import judge_for_run
    from .registry import REGISTRY
    from .replay import load_run
    from .reports.analysis_files import write_analysis

    run_dir = Path(run_dir)
    if not (run_dir / "events").is_dir():
        raise UsageError(f"{run_dir} is not a run directory (no events/ folder)",
                         hint="pass a directory written by 'ipw record' or 'ipw profile'")
    ids = list(analysis_ids)
    projections = {analysis_id: REGISTRY.create("analyses", analysis_id) for analysis_id in ids}
    view = load_run(run_dir)
    out = Analysis(results={}, paths={}, problem=view.problem)
    if any(getattr(p, "needs_judging", False) for p in projections.values()):
        if judge is None:
            judge = choose_judge(view) if choose_judge is not None else judge_for_run(view)
        if judge is not None:
            out.judge_report = judge_run(run_dir, judge, progress=judge_progress)
            view = load_run(run_dir)
            if judge_spec is None and any(v.judge == judge.spec for v in view.verdicts):
                judge_spec = judge.spec
    for analysis_id, projection in projections.items():
        opts = dict(options or {})
        if judge_spec is not None and getattr(projection, "needs_judging", False):
            opts["judge"] = judge_spec
        out.results[analysis_id] = projection.compute(view, opts)
        out.paths[analysis_id] = write_analysis(run_dir, analysis_id, out.results[analysis_id])
    return out


def profile(config: CaptureConfig, judge: Any = None, *, resume: bool = False,
            progress: Callable[[Progress], None] | None = None,
            judge_progress: Callable[[int, int], None] | None = None,
            power_trace: Path | None = None, client: Any = None, server: ServerSpec | None = None) -> Profile:
    """``record``, then judge and write the profile's analyses (accuracy, energy, latency, summary).

    ``judge=None`` judges with the run's default judge (the deterministic
    scorers when every record names one); build it first with
    :func:`profile_judge` so that a missing judge key fails before capture.
    """
    if judge is not None and not config.eval:
        config.eval = {"judge": judge.spec}
    run = record(config, resume=resume, progress=progress, power_trace=power_trace, client=client, server=server)
    analysis = analyse(run.run_dir, PROFILE_ANALYSES, judge=judge, judge_progress=judge_progress)
    return Profile(run=run, analysis=analysis, summary=analysis.results["summary"])


def profile_judge(config: CaptureConfig, *, eval_client: str | None = None, eval_base_url: str | None = None,
                  eval_model: str | None = None, eval_params: dict[str, Any] | None = None,
                  resume: bool = False) -> Any:
    """The judge a profile will use, built before anything runs so a missing key fails fast.

    Explicit eval settings make that judge; otherwise the deterministic
    scorers when every selected record names one, else the default LLM judge.
    On ``resume`` without eval settings it returns None: the judge is decided
    after capture from what the run holds.
    """
    from .capture.runner import load_records
    from .judging.select import EvalFlags, judge_before_capture

    flags = EvalFlags(eval_client, eval_base_url, eval_model, dict(eval_params or {}))
    return judge_before_capture(flags, None if resume else lambda: [r.scorer for r in load_records(config)[0]])
