"""What a plugin builds on: the public base classes of every kind of component.

A plugin is a distribution that declares entry points in one of the groups
``ipw.clients``, ``ipw.datasets``, ``ipw.analyses``, ``ipw.judges``,
``ipw.visualizations`` and ``ipw.collectors``; each entry point's name is the
component id and its value ``module:attribute`` the component, e.g. in the
plugin's ``pyproject.toml``::

    [project.entry-points."ipw.clients"]
    echo = "ipw_echo:EchoClient"

``ipw list`` then shows it beside the built-ins with the distribution's name,
and ``ipw record --client echo`` uses it. A plugin that fails to import is
listed with its error; it never stops ``ipw`` from starting.

    clients         subclass InferenceClient, implement stream()
    datasets        subclass DatasetProvider, implement _load() yielding DatasetRecord
    analyses        a class with analysis_id and compute(view, options) (the Projection protocol)
    judges          a class with spec and score(answer_text, reference, choices=…) (the Scorer protocol)
    visualizations  a function fn(views, output_dir, options) -> list[Path] (Visualization)
    collectors      subclass Collector (energy monitor side)

Every kind is found only through the registry, so a listed plugin is one that
can be used: ``ipw replay RUN --eval-client myjudge`` judges with a plugin
judge (and a record whose ``scorer`` names it is judged by it under ``auto``;
a spec ``scorer:<id>/v<N>`` lets its verdicts rebuild it), and ``ipw record
--energy mymeter`` has the energy monitor, a process of its own, find the
plugin collector through the same ``ipw.collectors`` entry points on its
``sys.path``. A collector is built with ``Collector.from_options(options)``
(the monitor's settings, :class:`CollectorOptions`); the default builds it with
no arguments. ``auto`` never picks a plugin collector: it is used when named.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .capture.clients.base import Chunk, Completion, InferenceClient
from .capture.datasets.base import DatasetProvider, DatasetRecord
from .judging.scorers import Scorer, ScoreResult
from .registry import ENTRY_POINT_GROUPS
from .replay.engine import Projection, RunView

if TYPE_CHECKING:  # the energy monitor is a sibling package: imported only when a collector is asked for
    from ipw_energy_monitor.collectors.base import Collector, CollectorOptions

__all__ = [
    "ENTRY_POINT_GROUPS",
    "InferenceClient",
    "Chunk",
    "Completion",
    "DatasetProvider",
    "DatasetRecord",
    "Projection",
    "RunView",
    "Scorer",
    "ScoreResult",
    "Visualization",
    "Collector",
    "CollectorOptions",
]


class Visualization(Protocol):
    """A visualization: draws PNGs of one or more runs into ``output_dir`` and returns their paths."""

    def __call__(self, views: list[RunView], output_dir: Path, options: dict[str, Any]) -> list[Path]: ...


def __getattr__(name: str) -> Any:
    if name in ("Collector", "CollectorOptions"):
        from ipw_energy_monitor.collectors import base

        return getattr(base, name)
    raise AttributeError(name)
