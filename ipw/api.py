"""The pipeline as a library: what ``ipw record``, ``replay`` and ``profile`` do, as functions.

    record(config)                      capture one run           -> RunResult
    judge(run_dir, judge)               append missing verdicts   -> JudgeReport
    analyse(run_dir, ids, options)      replay projections, write RUN/analysis/<id>.json -> Analysis
    profile(config, settings)           record, judge, then accuracy, energy, latency, summary -> Profile

The CLI and studies call these, and a notebook can too. :func:`profile` is
the one place that strings record, judge and analyse together (``ipw
profile`` and every study cell are calls of it), so what ``config.eval``
records is decided once: the judge's spec and the :class:`EvalSettings`
that built it, enough to rebuild that judge for answers added later. Nothing here prints
or exits: progress goes to the callbacks given, problems are raised as
:class:`ipw.errors.IpwError` subclasses, and what the CLI would say (a
damaged ledger replayed up to its valid prefix, how many answers were
judged) is returned in the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .capture.config import CaptureConfig, EvalSettings, Progress, RunResult
from .errors import UsageError

if TYPE_CHECKING:
    from .errors import LedgerCorruptError
    from .judging.apply import JudgeReport
    from .capture.server_process import ServerSpec
    from .replay.engine import RunView

__all__ = ["CaptureConfig", "EvalSettings", "RunResult", "Analysis", "Profile", "PROFILE_ANALYSES",
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
           explicit: Iterable[str] | None = None, server: ServerSpec | None = None,
           records: tuple[list[Any], dict[str, Any]] | None = None) -> RunResult:
    """Capture one run into its ledger; ``power_trace`` (an external meter's CSV) is imported after capture.

    ``records`` is the dataset already read for ``config`` (:func:`ipw.capture.runner.load_records`), so a
    caller that needed it first does not read it twice.

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

    options: dict[str, Any] = {}
    if is_agent_run(config, resume):
        Runner = AgentRunner  # noqa: N806  --workload agent: the same capture, tasks as its work
    elif records is not None:
        options["records"] = records
    if power_trace is not None:
        from .capture.power_trace import read_power_csv

        read_power_csv(power_trace)  # a bad trace is refused before anything runs
    if server is None:
        result = Runner(config, progress=progress, client=client, observers=tuple(observers),
                        explicit=explicit, **options).run(resume=resume)
    else:
        result = _record_with_server(config, server, Runner, resume=resume, progress=progress, client=client,
                                     observers=tuple(observers), explicit=explicit, **options)
    if power_trace is not None:
        from .capture.power_trace import import_power_trace

        import_power_trace(result.run_dir, power_trace)
    return result


def _record_with_server(config: CaptureConfig, server: ServerSpec, Runner: Any, *,  # noqa: N803
                        resume: bool, client: Any, **runner_options: Any) -> RunResult:
    import msgspec

    from .capture.runner import make_client
    from .capture.server_process import DEFAULT_BASE_URL, ServerProcess

    with ServerProcess(server, model=config.model) as process:
        own_client = client is None
        if own_client:
            # the URL is this server's, not a setting: the config keeps what the user gave, so a resume compares
            url = (config.client_base_url or DEFAULT_BASE_URL).replace("{port}", str(process.port))
            client = make_client(msgspec.structs.replace(config, client_base_url=url))
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
    options_for: dict[str, dict[str, Any]] | None = None,
) -> Analysis:
    """Replay the run through each analysis and write ``RUN/analysis/<id>.json``.

    Where an analysis needs verdicts, answers not yet judged are judged first:
    by ``judge``, else by ``choose_judge(view)`` (which may return None: judge
    nothing), else by the run's default judge. ``judge_spec`` names the judge
    to report under; by default the one that just judged, when it left verdicts.
    ``options`` go to every analysis, ``options_for[id]`` to that one only; the
    judge spec only to those that judge.

    The ledger is replayed once, and once more only when verdicts were appended.
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
            out.judge_report = judge_run(run_dir, judge, progress=judge_progress, view=view)
            if out.judge_report.appended:
                view = load_run(run_dir)
            if judge_spec is None and any(v.judge == judge.spec for v in view.verdicts):
                judge_spec = judge.spec
    for analysis_id, projection in projections.items():
        opts = {**(options or {}), **(options_for or {}).get(analysis_id, {})}
        if judge_spec is not None and getattr(projection, "needs_judging", False):
            opts["judge"] = judge_spec
        out.results[analysis_id] = projection.compute(view, opts)
        out.paths[analysis_id] = write_analysis(run_dir, analysis_id, out.results[analysis_id])
    return out


_SLO_ANALYSES = ("latency", "summary")  # the analyses a latency SLO is an option of


def profile(config: CaptureConfig, settings: EvalSettings | None = None, *, judge: Any = None,
            resume: bool = False, progress: Callable[[Progress], None] | None = None,
            judge_progress: Callable[[int, int], None] | None = None, power_trace: Path | None = None,
            client: Any = None, server: ServerSpec | None = None, observers: Iterable[Any] = (),
            explicit: Iterable[str] | None = None, slo: dict[str, float] | None = None) -> Profile:
    """``record``, then judge and write the profile's analyses (accuracy, energy, latency, summary).

    ``settings`` say how answers are judged (``no_eval``: not at all). The
    judge is built before anything runs, so a missing key fails before
    capture, from the dataset read once for both; ``judge`` gives a judge
    already built instead. ``config.eval`` records its spec and the settings
    (credentials redacted). ``observers`` watch the capture as in
    :func:`record`; one with a ``recorded(run)`` method is told when the capture
    has ended, before judging. ``slo`` (``{"ttft_ms": ...}``) goes to latency
    and summary.
    """
    settings = settings or EvalSettings()
    observers = tuple(observers)
    config.validate()  # before the dataset is read for the judge: a bad setting is refused first
    records = None
    if judge is None and not settings.no_eval:
        judge, records = _judge_and_records(config, settings, resume)
    if judge is not None:
        config.eval = settings.to_record(judge.spec)
    run = record(config, resume=resume, progress=progress, power_trace=power_trace, client=client, server=server,
                 observers=observers, explicit=explicit, records=records)
    for observer in observers:
        if hasattr(observer, "recorded"):
            observer.recorded(run)
    analysis = analyse(run.run_dir, PROFILE_ANALYSES, judge=judge, judge_progress=judge_progress,
                       choose_judge=(lambda view: None) if settings.no_eval else None,
                       options_for={a: {"slo": slo} for a in _SLO_ANALYSES} if slo is not None else None)
    return Profile(run=run, analysis=analysis, summary=analysis.results["summary"])


def profile_judge(config: CaptureConfig, settings: EvalSettings | None = None, *, resume: bool = False) -> Any:
    """The judge :func:`profile` would build for ``config`` (None on ``resume`` without eval settings).

    Explicit eval settings make that judge; otherwise the deterministic
    scorers when every selected record names one, else the default LLM judge.
    On ``resume`` without eval settings the judge is decided after capture
    from what the run holds.
    """
    return _judge_and_records(config, settings or EvalSettings(), resume)[0]


def _judge_and_records(config: CaptureConfig, settings: EvalSettings,
                       resume: bool) -> tuple[Any, tuple[list[Any], dict[str, Any]] | None]:
    """The judge of a profile, and the dataset when it had to be read to choose it (for the capture)."""
    from .capture.runner import load_records
    from .judging.select import EvalFlags, judge_before_capture

    flags = EvalFlags(settings.client, settings.base_url, settings.model, dict(settings.params))
    read: list[tuple[list[Any], dict[str, Any]]] = []

    def scorers() -> list[str | None]:
        read.append(load_records(config))
        return [r.scorer for r in read[0][0]]

    judge = judge_before_capture(flags, None if resume else scorers)
    return judge, (read[0] if read else None)
