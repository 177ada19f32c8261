"""Which judge judges a run: the one place that turns the eval flags, and what a run holds, into a judge.

Every judge a command uses comes from here:

:func:`make_judge`
    the judge the settings name, any judge of the registry (plugins of
    ``ipw.judges`` included): a deterministic scorer (``auto``, or any of
    :data:`~ipw.judging.dispatch.SCORERS`) or the LLM judge (``openai``), which needs an API
    key (see :mod:`ipw.judging.keys`) unless its base URL is on this machine.
    A missing key is a :class:`ConfigError` here, before any request.
:func:`judge_before_capture`
    ``ipw profile`` before it records: the flags' judge when any ``--eval-*``
    flag is given, else the auto scorer when every record names a scorer, else
    the default LLM judge — built first, so a missing key fails fast.
:func:`judge_for_run`
    a recorded run (after capture, ``ipw replay``/``analyze``): the flags'
    judge when given; with ``reuse_recorded``, the judge the run was judged
    with before, for the answers it has not seen (None when there are none or
    it cannot be rebuilt here); else the auto scorer when every measured query
    names a scorer, and the LLM judge otherwise.

An LLM judge built here gets the prompt set its run's records call for
(:func:`ipw.judging.family_prompts.prompt_set_for`: ``ipw-judge/v2`` when a
record names an ``llm:<family>`` grader, else ``ipw-judge/v1``); a recorded
judge is rebuilt with the set its spec names.

:class:`EvalFlags` carries the ``--eval-*`` flags; nothing here reads the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import httpx

from ..errors import ConfigError, UsageError
from ..registry import REGISTRY
from ..replay import RunView, select_judge
from ..secrets import REDACTED
from .apply import ScorerJudge
from .keys import require_eval_key, resolve_eval_key
from .family_prompts import PROMPT_SETS, prompt_set_for
from .llm import DEFAULT_BASE_URL, DEFAULT_MODEL, LLMJudge
from .dispatch import LLM_JUDGE, SCORERS, AutoScorer, get_scorer

__all__ = ["EvalFlags", "LOOPBACK_HOSTS", "make_judge", "judge_before_capture", "judge_for_run"]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


@dataclass(frozen=True)
class EvalFlags:
    """The ``--eval-client``, ``--eval-base-url``, ``--eval-model`` and ``--eval-param`` flags."""

    client: str | None = None
    base_url: str | None = None
    model: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def explicit(self) -> bool:
        """Whether the flags name a judge (params alone only tune the default one)."""
        return any((self.client, self.base_url, self.model))

    def judge(self, **options: Any) -> ScorerJudge | LLMJudge:
        """The judge these flags name, or the default LLM judge."""
        # params are request fields of the LLM judge; a scorer has none
        if self.params and (self.client or "openai").strip().lower() == "openai":
            options.setdefault("params", dict(self.params))
        return make_judge(self.client or "openai", self.base_url, self.model, **options)

    @property
    def names_llm(self) -> bool:
        """Whether these flags give the LLM judge (``--eval-client openai``, the default)."""
        return (self.client or LLM_JUDGE).strip().lower() == LLM_JUDGE

    def judge_for(self, graders: Iterable[str | None] | None, **options: Any) -> ScorerJudge | LLMJudge:
        """The judge these flags name; an LLM judge gets the prompt set records with ``graders`` call for."""
        if self.names_llm:
            options.setdefault("prompts", prompt_set_for(graders))
        return self.judge(**options)


def _is_loopback(base_url: str) -> bool:
    try:
        host = httpx.URL(base_url).host
    except httpx.InvalidURL:
        return False
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def make_judge(
    eval_client: str = "openai",
    eval_base_url: str | None = None,
    eval_model: str | None = None,
    *,
    deterministic: bool = False,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
    http_client: httpx.Client | None = None,
    **llm_options: Any,
) -> ScorerJudge | LLMJudge:
    """Build the judge the settings name.

    ``deterministic=True``, or an ``eval_client`` naming any registered judge
    but ``openai`` (``auto``, a built-in scorer, a plugin judge), gives a :class:`ScorerJudge`.
    ``openai`` gives an :class:`LLMJudge` (``http_client`` and ``llm_options``
    go to it); it needs an API key unless its base URL is on this machine.
    """
    if deterministic:
        return ScorerJudge(AutoScorer())
    client = (eval_client or "openai").strip().lower()
    if client not in REGISTRY.ids("judges"):
        raise UsageError(
            f"unknown judge client {eval_client!r}",
            hint=f"use --eval-client with one of: {', '.join(REGISTRY.ids('judges'))} (see 'ipw list judges')",
        )
    if client != LLM_JUDGE:
        return ScorerJudge(get_scorer(client))
    base_url = eval_base_url or DEFAULT_BASE_URL
    key = api_key
    if key is None:
        if _is_loopback(base_url):
            key = resolve_eval_key(env, dotenv_path)
        else:
            key = require_eval_key(env, dotenv_path, purpose=f"the LLM judge at {base_url}")
    return REGISTRY.create("judges", LLM_JUDGE, base_url, eval_model or DEFAULT_MODEL, client, api_key=key,
                           http_client=http_client, **llm_options)


def _all_scored(scorers: Iterable[str | None]) -> bool:
    return all(scorer in SCORERS for scorer in scorers)


def judge_before_capture(
    flags: EvalFlags,
    scorers: Callable[[], Iterable[str | None]] | None,
    **options: Any,
) -> ScorerJudge | LLMJudge | None:
    """The judge of a run about to be recorded, built before anything runs so a missing key fails fast.

    ``scorers()`` lists the records' scorers (read unless the flags name a
    scorer): they decide between the auto scorer and the LLM judge, and the
    LLM judge's prompt set. ``scorers=None`` (a resumed run) leaves the choice
    to :func:`judge_for_run` once the run is recorded, and gives None, unless
    the flags name a judge: then it is built with the set that has every
    family's prompt (``ipw-judge/v2``).
    """
    if flags.explicit and not flags.names_llm:
        return flags.judge(**options)
    if scorers is None:
        # a resumed run: its records are not read here, so the prompt set that judges every family
        return flags.judge_for(None, **options) if flags.explicit else None
    graders = list(scorers())
    if not flags.explicit and _all_scored(graders):
        return ScorerJudge(AutoScorer())
    return flags.judge_for(graders, **options)


def judge_for_run(
    view: RunView,
    flags: EvalFlags | None = None,
    *,
    reuse_recorded: bool = False,
    warn: Callable[[str], None] | None = None,
    **options: Any,
) -> ScorerJudge | LLMJudge | None:
    """The judge for the answers of a recorded run (see the module docstring).

    Only ``reuse_recorded`` can give None: then nothing new is judged.
    ``warn`` is told, in one line, why the recorded judge cannot be rebuilt.
    """
    flags = flags or EvalFlags()
    measured = view.measured_queries()
    graders = [q.started.scorer if q.started is not None else None for q in measured]
    if flags.explicit:
        return flags.judge_for(graders, **options)
    if reuse_recorded and view.verdicts:
        return _recorded_judge(view, flags, warn, options)
    if _all_scored(graders):
        return ScorerJudge(AutoScorer())
    try:
        return flags.judge_for(graders, **options)
    except ConfigError as exc:
        needing = sum(1 for q in measured if q.started is None or q.started.scorer not in SCORERS)
        raise ConfigError(
            f"{needing} of {len(measured)} answers need an LLM judge: {exc.message}",
            hint=exc.hint,
        ) from exc


def _recorded_judge(
    view: RunView, flags: EvalFlags, warn: Callable[[str], None] | None, options: dict[str, Any]
) -> ScorerJudge | LLMJudge | None:
    """The judge behind the spec the run reports under, or None when it cannot be rebuilt here."""
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
    # its recorded request fields, credentials left out (they were redacted; a key comes from the environment)
    kept = {k: v for k, v in (configured.get("params") or {}).items() if v != REDACTED}
    recorded = EvalFlags(configured.get("client"), configured.get("base_url"), configured.get("model"),
                         flags.params or kept)
    prompts = spec.rsplit(":", 1)[-1]
    if prompts in PROMPT_SETS and recorded.names_llm:
        options = {**options, "prompts": prompts}  # the prompts its verdicts were given with
    try:
        judge = recorded.judge(**options)
    except ConfigError as exc:
        if warn is not None:
            warn(f"answers not yet judged stay unevaluated: {exc.one_line()}")
        return None
    return judge if judge.spec == spec else None
