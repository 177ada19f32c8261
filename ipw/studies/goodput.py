"""Goodput search: the highest load level whose SLO attainment meets a target (as guidellm and aiperf do).

A level is a concurrency (or a request rate on a grid of whole steps); one
probe at a level is one ordinary run, measured by the latency analysis with
the SLO (:mod:`ipw.analyses.slo`). Attainment is taken to fall as the load
rises, so the search bisects: probe ``low`` (if it misses the target no level
does: the result is ``None``), probe ``high`` (if it meets it, ``high`` is the
answer), then halve [highest level that met, lowest that missed] until they
are neighbours. Each level is probed at most once; every probe is kept, in
the order it ran, so a report can show the whole search.

A study file asks for it with ``search = "goodput"`` and the keys of
:class:`SearchSettings`, checked when the file is parsed; :mod:`.goodput_cells`
runs the search for each cell of the study.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Mapping

import msgspec
from msgspec import Meta

from ..capture.settings import KEY, about, convert_settings, settings_fields
from ..errors import UsageError

__all__ = ["Probe", "GoodputSearch", "SearchSettings", "SEARCH_KEYS", "AXIS_MARK", "search_settings",
           "search_goodput", "run_attainment"]

MAX_LEVEL = 100_000  # a concurrency or request rate past this is a typing mistake, not a load test
# a probe's run is the cell's name, this mark and the level: mc of 3 is "@c3", a rate of 3 requests/s "@r3"
AXIS_MARK = {"max_concurrency": "c", "request_rate": "r"}


class SearchSettings(msgspec.Struct, kw_only=True, frozen=True):
    """A study's goodput search: its top-level keys, each declared once with its constraints."""

    search: Annotated[Literal["goodput"], about("Search each cell for its goodput level.",
                                                hint='search = "goodput" (the one search there is)')]
    slo: Annotated[str | dict[str, float], about(
        "The SLO a query must meet: ttft_ms, tpot_ms, e2e_ms.",
        hint='slo = "ttft_ms=700,tpot_ms=50", or a table: slo = { ttft_ms = 700 }')]
    search_high: Annotated[int, Meta(ge=1, le=MAX_LEVEL), about(
        "The highest level probed.", hint=f"a whole number from 1 to {MAX_LEVEL}, e.g. search_high = 32")]
    search_low: Annotated[int, Meta(ge=1, le=MAX_LEVEL), about(
        "The lowest level probed.", hint="a whole number of at least 1, e.g. search_low = 1")] = 1
    target_attainment: Annotated[float, Meta(gt=0.0, le=1.0), about(
        "The share of queries that must meet the SLO.", hint="a share above 0 and at most 1, e.g. 0.9")] = 0.9
    search_axis: Annotated[Literal["max_concurrency", "request_rate"], about(
        "What the search varies.", hint='search_axis = "max_concurrency" or "request_rate"')] = "max_concurrency"

    @property
    def targets_ms(self) -> dict[str, float]:
        from ..analyses.slo import parse_slo

        return parse_slo(self.slo) or {}

    def to_dict(self) -> dict[str, Any]:
        return {"axis": self.search_axis, "low": self.search_low, "high": self.search_high,
                "target_attainment": self.target_attainment, "slo": self.targets_ms}


SEARCH_KEYS = tuple(f.option for f in settings_fields(SearchSettings))


def search_settings(data: Mapping[str, Any], where: str) -> SearchSettings | None:
    """The search a study file's top level asks for, checked; None without ``search`` (its keys then refused)."""
    given = {k: data[k] for k in SEARCH_KEYS if k in data}
    if "search" not in given:
        if given:
            raise UsageError(f"{where}: {next(iter(given))} only applies with search = \"goodput\"",
                             hint='add search = "goodput", or remove it')
        return None
    for key in ("slo", "search_high"):
        if key not in given:
            raise UsageError(f"{where}: search = \"goodput\" needs {key}",
                             hint=f"e.g. {key} = " + ('"ttft_ms=700"' if key == "slo" else "32"))
    for key, allowed in (("search", ("goodput",)), ("search_axis", tuple(AXIS_MARK))):
        if key in given and given[key] not in allowed:  # said in words, not as msgspec's "expected Literal"
            raise UsageError(f"{where}: {key}: expected {' or '.join(repr(a) for a in allowed)}, "
                             f"got {str(given[key])[:60]!r}", hint=f'e.g. {key} = "{allowed[0]}"')
    settings = convert_settings(SearchSettings, given, spell=KEY, where=f"{where}: ")
    try:
        if not settings.targets_ms:
            raise UsageError("slo: no bound given", hint="e.g. slo = \"ttft_ms=700\"")
    except UsageError as exc:
        raise UsageError(f"{where}: {exc.message}", hint=exc.hint) from None
    if settings.search_low > settings.search_high:
        raise UsageError(f"{where}: search_low ({settings.search_low}) is above search_high "
                         f"({settings.search_high})", hint="search_low <= search_high")
    return settings


@dataclass(frozen=True)
class Probe:
    level: int
    attainment: float | None  # None: the probe measured nothing (no query completed), taken as a miss
    meets: bool


@dataclass
class GoodputSearch:
    """The highest level that met ``target_attainment`` (None when even the lowest missed), and every probe."""

    target_attainment: float
    level: int | None = None
    probes: list[Probe] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"target_attainment": self.target_attainment, "level": self.level,
                "probes": [{"level": p.level, "attainment": p.attainment, "meets": p.meets} for p in self.probes]}


def search_goodput(measure: Callable[[int], float | None], *, low: int, high: int,
                   target_attainment: float) -> GoodputSearch:
    """Bisect [low, high] for the highest level whose ``measure(level)`` (attainment) is at least the target."""
    if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
        raise UsageError(f"goodput search needs 1 <= low <= high, got low={low!r}, high={high!r}")
    if not 0 < target_attainment <= 1:
        raise UsageError(f"target_attainment must be a share in (0, 1], got {target_attainment!r}",
                         hint="e.g. target_attainment = 0.9: nine queries in ten within the SLO")
    out = GoodputSearch(target_attainment)

    def meets(level: int) -> bool:
        attainment = measure(level)
        ok = attainment is not None and attainment >= target_attainment
        out.probes.append(Probe(level, attainment, ok))
        return ok

    if not meets(low):
        return out
    if high == low or meets(high):
        out.level = high
        return out
    good, bad = low, high
    while bad - good > 1:
        mid = (good + bad) // 2
        if meets(mid):
            good = mid
        else:
            bad = mid
    out.level = good
    return out


def run_attainment(run_dir: Path, slo: Mapping[str, float] | str) -> float | None:
    """The SLO attainment of a recorded run: its latency analysis with ``slo``."""
    from ..analyses.latency import LatencyProjection
    from ..replay import load_run

    result = LatencyProjection().compute(load_run(Path(run_dir)), {"slo": slo})
    return result["slo"]["attainment"]
