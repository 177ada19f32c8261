"""Every deterministic scorer by name, the auto scorer that runs the one a record names, and rebuilding from a spec.

The registry's judges are the only list of names (:data:`ipw.registry.REGISTRY`,
group ``ipw.judges`` for plugins). Every judge there except the two that are no
scorer themselves (``auto``, which runs the others, and ``openai``, the LLM
judge) is a deterministic scorer, and ``SCORERS`` is a live view of them by
record ``scorer`` name:

    letter   scorer:letter/v1    multiple choice, A–J           (scorers)
    numeric  scorer:numeric/v1   a number within tolerance      (scorers)
    exact    scorer:exact/v1     a short normalised string      (scorers)
    gsm8k    scorer:gsm8k/v1     GSM8K's final number           (final_number)
    math     scorer:math/v1      math-verify equivalence        (math_grader)
    code     scorer:code/v1      sandboxed tests of a program   (code_grader)
    <id>     (its own spec)      a plugin judge of ``ipw.judges``

``AutoScorer`` (``scorer:auto/v1``) runs the scorer a record names and adds
that scorer's spec to the verdict's metadata. :func:`get_scorer` rebuilds a
scorer from its id or its spec string, options included, so a stored
verdict's judge can be asked again alike (re-judging is keyed by the spec; a
plugin whose spec is ``scorer:<id>/v<N>`` is rebuilt from its verdicts too).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from ..errors import UsageError
from ..registry import REGISTRY
from .scorers import ScoreResult

__all__ = ["SCORERS", "LLM_JUDGE", "AutoScorer", "get_scorer"]

LLM_JUDGE = "openai"  # the registered judge that asks an endpoint (built by select.make_judge)
_NOT_SCORERS = frozenset({"auto", LLM_JUDGE})  # registered judges that are not one deterministic scorer
# the options a spec may carry, per built-in scorer; every other built-in takes none
_OPTIONS = {"numeric": {"rel_tol", "abs_tol"}, "code": {"wall_s"}}


class _Scorers(Mapping[str, type]):
    """The registry's deterministic scorers by id, each loaded (imported) only when looked up."""

    def _ids(self) -> list[str]:
        return [id for id in REGISTRY.ids("judges") if id not in _NOT_SCORERS]

    def __getitem__(self, name: str) -> type:
        if not isinstance(name, str) or name in _NOT_SCORERS or name not in REGISTRY.ids("judges"):
            raise KeyError(name)
        return REGISTRY.load("judges", name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._ids()

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids())

    def __len__(self) -> int:
        return len(self._ids())


SCORERS: Mapping[str, type] = _Scorers()


class AutoScorer:
    """Runs the deterministic scorer each record names (any of ``SCORERS``)."""

    id: ClassVar[str] = "auto"
    spec: ClassVar[str] = "scorer:auto/v1"

    def __init__(self) -> None:
        self._scorers: dict[str, Any] = {}  # built on first use: a plugin's code runs only for its records

    def score(
        self, answer_text: str, reference: str, *, scorer: str | None, choices: list[str] | None = None
    ) -> ScoreResult:
        """Score with the scorer named by ``scorer``; ``None`` (an LLM item) is left unevaluated."""
        if scorer is None:
            return ScoreResult(None, None, {"reason": "this record needs an LLM judge", "scorer": None})
        inner = self._scorers.get(scorer)
        if inner is None:
            if scorer not in SCORERS:
                raise UsageError(f"unknown scorer {scorer!r}", hint=f"use one of: {', '.join(SCORERS)}")
            inner = self._scorers[scorer] = REGISTRY.create("judges", scorer)
        result = inner.score(answer_text, reference, choices=choices)
        return ScoreResult(result.is_correct, result.score, {**result.metadata, "scorer": inner.spec})


def get_scorer(name: str) -> Any:
    """A scorer by id (``letter``, ``math``, ``auto`` …) or rebuilt from its spec string.

    ``scorer:numeric/v1?rel_tol=0.01&abs_tol=0.0`` gives back a scorer with
    those tolerances, ``scorer:code/v1?wall_s=20`` a code grader with that
    wall clock, so stored verdicts can be re-scored alike.
    """
    key, _, query = name.strip().partition("?")
    key = key.removeprefix("scorer:").split("/", 1)[0]
    try:
        options = {k: float(v) for k, _, v in (pair.partition("=") for pair in query.split("&") if pair)}
    except ValueError:
        raise UsageError(f"scorer spec {name!r} has an option that is not a number", hint="write e.g. rel_tol=0.001") from None
    if key == "auto":
        if options:
            raise UsageError(f"scorer spec {name!r} has unknown options", hint="the auto scorer takes none")
        return AutoScorer()
    if key not in SCORERS:
        raise UsageError(f"unknown scorer {name!r}", hint=f"use one of: {', '.join([*SCORERS, 'auto'])}")
    if options and not REGISTRY.get("judges", key).is_plugin and not set(options) <= _OPTIONS.get(key, set()):
        allowed = "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in _OPTIONS.items())
        raise UsageError(f"scorer spec {name!r} has unknown options", hint=f"only these take options: {allowed}")
    return REGISTRY.create("judges", key, **options)
