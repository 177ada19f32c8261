"""One typed registry for every pluggable component of ipw.

Components are registered by dotted path and imported only when used, so an
optional backend that is not installed never breaks ``import ipw``; ``ipw list``
shows it as unavailable together with the extra that brings it.

Plugins come in through entry points (groups ``ipw.clients`` … ``ipw.collectors``,
see :mod:`ipw.plugins`), found the first time the registry is asked for a
component; each remembers the distribution it came from (``origin``). A
built-in id cannot be taken over by a plugin.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable

from .errors import BackendMissingError, UsageError

__all__ = ["Component", "Registry", "REGISTRY", "KINDS", "ENTRY_POINT_GROUPS", "BUILTIN"]

KINDS = ("clients", "datasets", "judges", "analyses", "visualizations", "collectors")
ENTRY_POINT_GROUPS = {kind: f"ipw.{kind}" for kind in KINDS}
BUILTIN = "builtin"


@dataclass(frozen=True)
class Component:
    """A registered component: where it lives and what it needs."""

    kind: str
    id: str
    target: str  # "package.module:Attribute"
    summary: str
    extra: str | None = None
    requires: tuple[str, ...] = ()  # importable module names the component needs
    origin: str = BUILTIN  # or the name of the distribution whose entry point registered it
    error: str | None = None  # why a plugin cannot be used (it failed to import, or its id is taken)
    probe: str | None = None  # "module:function" returning why the thing itself is absent here, or None

    def missing_modules(self) -> list[str]:
        return [m for m in self.requires if not _importable(m)]

    def unavailable_reason(self) -> str | None:
        """Why this component cannot work on this host (a missing module, or what its probe found), or None."""
        missing = self.missing_modules()
        if missing:
            return f"the module {missing[0]} is not installed"
        if self.probe is None:
            return None
        module_name, _, attr = self.probe.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr)()
        except Exception as exc:  # a probe that cannot even run means the thing is not usable here
            return f"its probe failed: {type(exc).__name__}: {exc}"

    @property
    def available(self) -> bool:
        return self.error is None and self.unavailable_reason() is None

    def load(self) -> Any:
        if self.error is not None:
            raise UsageError(f"{self.kind[:-1]} '{self.id}' from the plugin {self.origin} cannot be used: {self.error}",
                             hint=f"fix or uninstall the {self.origin} distribution (see 'ipw list {self.kind}')")
        missing = self.missing_modules()
        if missing:
            raise BackendMissingError(f"{self.kind[:-1]} '{self.id}'", self.extra or "all", module=missing[0])
        module_name, _, attr = self.target.partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr) if attr else module


def _importable(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@dataclass
class Registry:
    """Components by kind and id."""

    _items: dict[str, dict[str, Component]] = field(default_factory=lambda: {k: {} for k in KINDS})
    _plugins_loaded: bool = False
    _conflicts: dict[str, list[Component]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def register(
        self,
        kind: str,
        id: str,
        target: str,
        summary: str,
        *,
        extra: str | None = None,
        requires: Iterable[str] = (),
        probe: str | None = None,
    ) -> Component:
        if kind not in self._items:
            raise ValueError(f"unknown component kind {kind!r}")
        comp = Component(kind, id, target, summary, extra, tuple(requires), probe=probe)
        self._items[kind][id] = comp
        return comp

    def load_plugins(self) -> None:
        """Register every entry point of the ``ipw.*`` groups (once); a broken one is kept with its error."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from importlib.metadata import entry_points

        for kind, group in ENTRY_POINT_GROUPS.items():
            for ep in entry_points(group=group):
                origin = ep.dist.name if ep.dist is not None else "unknown distribution"
                comp = Component(kind, ep.name, ep.value, "", origin=origin)
                if ep.name in self._items[kind]:
                    taken = self._items[kind][ep.name].origin
                    self._conflicts[kind].append(
                        _with(comp, error=f"the id '{ep.name}' is already taken by {taken}"))
                    continue
                try:
                    obj = ep.load()
                except Exception as exc:  # a plugin's import can fail in any way: keep it listed, with why
                    comp = _with(comp, error=f"{type(exc).__name__}: {exc}")
                else:
                    doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
                    comp = _with(comp, summary=doc[0] if doc else f"plugin from {origin}")
                self._items[kind][ep.name] = comp

    def conflicts(self, kind: str) -> list[Component]:
        """Plugins left out because a component already has their id."""
        self.load_plugins()
        return list(self._conflicts[kind])

    def get(self, kind: str, id: str) -> Component:
        self.load_plugins()
        try:
            return self._items[kind][id]
        except KeyError:
            known = ", ".join(sorted(self._items.get(kind, {}))) or "none"
            raise UsageError(
                f"unknown {kind[:-1]} '{id}'",
                hint=f"choose one of: {known} (see 'ipw list {kind}')",
            ) from None

    def load(self, kind: str, id: str) -> Any:
        return self.get(kind, id).load()

    def components(self, kind: str) -> list[Component]:
        self.load_plugins()
        return sorted(self._items[kind].values(), key=lambda c: c.id)

    def ids(self, kind: str) -> list[str]:
        self.load_plugins()
        return sorted(self._items[kind])


def _with(comp: Component, **changes: Any) -> Component:
    from dataclasses import replace

    return replace(comp, **changes)


REGISTRY = Registry()
_r = REGISTRY.register

# clients --------------------------------------------------------------------
_r("clients", "openai", "ipw.capture.clients.openai:OpenAIClient",
   "any OpenAI-compatible server over HTTP, streaming (also the judge client)")
_r("clients", "ollama", "ipw.capture.clients.ollama:OllamaClient",
   "an Ollama server through the ollama package", extra="ollama", requires=("ollama",))
_r("clients", "vllm", "ipw.capture.clients.vllm:VLLMClient",
   "vLLM's offline engine, in process", extra="vllm", requires=("vllm",))
_r("clients", "llamacpp", "ipw.capture.clients.llamacpp:LlamaCppClient",
   "llama.cpp in process through llama-cpp-python (default model: packaged gemma-3-270m GGUF)",
   extra="llamacpp", requires=("llama_cpp",))

# datasets -------------------------------------------------------------------
_r("datasets", "builtin", "ipw.capture.datasets.builtin:BuiltinDataset",
   "the built-in dataset shipped with ipw, scored without an LLM")
_r("datasets", "file", "ipw.capture.datasets.files:FileDataset",
   "a local file: JSONL, CSV, Parquet, or an Arrow directory saved by HF datasets (--dataset-param path=…)")
_r("datasets", "ipw", "ipw.capture.datasets.files:IpwDataset",
   "the upstream Intelligence Per Watt format from a path (needs an LLM judge key)")

# judges ---------------------------------------------------------------------
_r("judges", "letter", "ipw.judging.scorers:LetterScorer", "multiple-choice letter, deterministic")
_r("judges", "numeric", "ipw.judging.scorers:NumericScorer", "number with tolerance and unit stripping, deterministic")
_r("judges", "exact", "ipw.judging.scorers:ExactScorer", "normalised exact string, deterministic")
_r("judges", "gsm8k", "ipw.judging.final_number:FinalNumberScorer", "GSM8K: the final number (after ####, else the last)")
_r("judges", "math", "ipw.judging.math_grader:MathScorer", "math answers equal by math-verify (LaTeX, sets, intervals)",
   extra="bench", requires=("math_verify",))
_r("judges", "code", "ipw.judging.code_grader:CodeScorer", "a program run sandboxed against the benchmark's tests")
_r("judges", "auto", "ipw.judging.dispatch:AutoScorer", "the deterministic scorer each record names")
_r("judges", "openai", "ipw.judging.llm:LLMJudge", "an LLM judge over any OpenAI-compatible endpoint")

# analyses -------------------------------------------------------------------
_r("analyses", "accuracy", "ipw.analyses.accuracy:AccuracyProjection", "correct, incorrect, unevaluated, accuracy")
_r("analyses", "energy", "ipw.analyses.energy:EnergyProjection", "per-query joules under concurrency, prefill/decode split")
_r("analyses", "latency", "ipw.analyses.latency:LatencyProjection", "TTFT, TPOT, inter-token latency, end-to-end, throughput")
_r("analyses", "regression", "ipw.analyses.regression:RegressionProjection",
   "OLS of energy, latency, TTFT and power against tokens", extra="analysis", requires=("statsmodels",))
_r("analyses", "summary", "ipw.analyses.summary:SummaryProjection", "intelligence per watt and per joule, with provenance")
_r("analyses", "judges", "ipw.analyses.judges:JudgesProjection", "agreement between judges on the same queries")

# visualizations -------------------------------------------------------------
for _id, _summary in (
    ("regression", "scatter of energy/latency against tokens with the OLS fit and its 95% band"),
    ("output-kde", "kernel density of output tokens per query"),
    ("power-timeline", "power over time per device with query spans shaded"),
    ("accuracy-energy", "accuracy against energy per query across runs"),
):
    _r("visualizations", _id, f"ipw.reports.plots:{_id.replace('-', '_')}", _summary,
       extra="analysis", requires=("matplotlib", "statsmodels") if _id == "regression" else ("matplotlib",))

# collectors -----------------------------------------------------------------
_r("collectors", "nvml", "ipw_energy_monitor.collectors.nvml:NvmlCollector",
   "NVIDIA GPUs through NVML", extra="nvidia", requires=("pynvml",))
_r("collectors", "amdsmi", "ipw_energy_monitor.collectors.amdsmi:AmdSmiCollector",
   "AMD GPUs through amdsmi", extra="amd", requires=("amdsmi",))
_r("collectors", "rapl", "ipw_energy_monitor.collectors.rapl:RaplCollector",
   "CPU and DRAM through Linux RAPL powercap", probe="ipw_energy_monitor.collectors.rapl:unavailable_reason")
_r("collectors", "powermetrics", "ipw_energy_monitor.collectors.powermetrics:PowermetricsCollector",
   "Apple silicon through powermetrics (needs sudo)",
   probe="ipw_energy_monitor.collectors.powermetrics:unavailable_reason")
_r("collectors", "estimate", "ipw_energy_monitor.collectors.estimate:EstimatedCpuCollector",
   "CPU utilisation × TDP, always labelled estimated")
