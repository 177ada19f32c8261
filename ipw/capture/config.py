"""What decides a capture: its settings, its progress, its result."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ..errors import UsageError
from ..events.devices import device_parents
from ..secrets import redact
from .settings import FLAG, KEY, Spelling, about, convert_settings

__all__ = ["DEFAULT_GEN", "CaptureConfig", "EvalSettings", "Progress", "RunResult", "default_run_name",
           "resolve_dataset"]

DEFAULT_GEN = {"temperature": 0.0, "max_tokens": 16, "seed": 0}
# About one request in three hours: slower is no load test, and a Poisson gap
# drawn at a rate near zero overflows the wait (1e-300 requests/s means ~1e300 s).
MIN_REQUEST_RATE = 1e-4
MAX_REQUEST_RATE = 1e9  # finite: an infinite rate is "no limit", which is leaving the flag out
MIN_BURSTINESS = 0.01  # a gamma shape near 0 draws gaps too long for any clock to wait
_KV = "K=V"

Table = dict[str, Any]


class CaptureConfig(msgspec.Struct, kw_only=True):
    """Everything that decides what a capture does; stored (redacted) in ``run_started``.

    Each field is one setting, declared here only: its constraints are its
    ``Meta``, and :func:`~ipw.capture.settings.about` gives the words of its
    flag and study key (see :mod:`ipw.capture.settings`). Fields without
    them (``retry_backoff_s``, ``seed``, ``eval``) are set by ipw, not people.
    """

    client: Annotated[str, about("Client id: llamacpp, openai, ollama, vllm (see 'ipw list clients').")]
    model: Annotated[str, about("Model name for the client (llamacpp: a .gguf path or 'gemma-3-270m').")]
    dataset: Annotated[str, about("Dataset id (see 'ipw list datasets'), or the path of a data file.")] = "builtin"
    output_dir: Annotated[str, about("Where run directories go.", study=False, path="dir")] = "runs"
    run_name: Annotated[str | None, about("Name of the run directory (default: profile_<client>_<model>_<time>).",
                                          study=False)] = None
    max_queries: Annotated[Annotated[int, Meta(ge=1)] | None, about("Stop after this many dataset records.")] = None
    max_concurrency: Annotated[int, Meta(ge=1), about("Queries in flight at once.")] = 1
    request_rate: Annotated[Annotated[float, Meta(ge=MIN_REQUEST_RATE, le=MAX_REQUEST_RATE)] | None, about(
        "Mean arrival rate in requests/s (Poisson); default: as fast as allowed.",
        hint=f"a finite number of requests per second of at least {MIN_REQUEST_RATE}, or leave it out for no limit",
    )] = None
    burstiness: Annotated[Annotated[float, Meta(ge=MIN_BURSTINESS, le=1e3)] | None, about(
        "With request_rate: gamma shape of the gaps (1: Poisson [default], below 1: burstier).",
        hint=f"a gamma shape from {MIN_BURSTINESS} to 1000 (1: Poisson, below 1: burstier)")] = None
    ramp_up_s: Annotated[Annotated[float, Meta(ge=0.0, le=1e6)] | None, about(
        "With request_rate: raise the rate linearly from 0 to it over this many seconds.")] = None
    arrival_trace: Annotated[str | None, about(
        "Send the measured queries at a trace's times: seconds per line, or CSV/JSONL with a timestamp column "
        "(offsets from its first arrival).", metavar="FILE", path="file")] = None
    warmup_queries: Annotated[int, Meta(ge=0), about(
        "Queries run first, recorded and flagged, excluded from results.")] = 0
    client_base_url: Annotated[str | None, about("Base URL of the inference server.")] = None
    client_params: Annotated[Table, about("Client parameter (repeatable).", option="client_param")] = {}
    dataset_params: Annotated[Table, about("Dataset parameter, e.g. path=… limit=… (repeatable).",
                                           option="dataset_param")] = {}
    gen_params: Annotated[Table, about("Generation parameter: temperature, max_tokens, seed, … (repeatable).",
                                       option="gen_param")] = {}
    energy: Annotated[str, about(
        "auto, none, or a comma list of collectors (nvml,rapl,amdsmi,powermetrics,estimate).")] = "auto"
    sample_interval_ms: Annotated[int, Meta(ge=1), about("Energy sampling interval.")] = 100
    cpu_tdp_w: Annotated[Annotated[float, Meta(gt=0.0, le=1e5)] | None, about(
        "TDP for the estimated CPU collector.", hint="a positive number of watts, e.g. 65")] = None
    max_retries: Annotated[int, Meta(ge=0), about("Retries per query on retryable errors.")] = 2
    retry_backoff_s: Annotated[float, Meta(ge=0.0)] = 0.5
    seed: int = 0
    eval: Table = {}  # how the run's answers are judged: written by ipw.api.profile (judge, client, base_url, ...)

    def __post_init__(self) -> None:
        self.dataset, self.dataset_params = resolve_dataset(self.dataset, self.dataset_params)

    def validate(self, spell: Spelling = KEY) -> None:
        """Check every setting: each against its constraints, then how they combine; names spelt by ``spell``."""
        convert_settings(CaptureConfig, {}, spell=spell, **msgspec.structs.asdict(self))
        self._validate_arrivals(spell)
        self._validate_run_name(spell)
        self._validate_energy(spell)
        self._validate_gen(spell)

    def _validate_arrivals(self, spell: Spelling) -> None:
        """burstiness and ramp_up_s shape request_rate; arrival_trace replaces all three (ranges: their Meta)."""
        rate, trace = spell("request_rate"), spell("arrival_trace")
        for name, value in (("burstiness", self.burstiness), ("ramp_up_s", self.ramp_up_s)):
            if value is None:
                continue
            if self.request_rate is None:
                raise UsageError(f"{spell(name)} shapes the arrivals at {rate}, which is not set",
                                 hint=f"add {rate} RATE" if spell is FLAG else f"set {rate}")
            if self.arrival_trace:
                raise UsageError(f"{spell(name)} and {trace} both decide when queries are sent",
                                 hint=f"give the trace alone, or {rate} with its shape")
        if self.arrival_trace and self.request_rate is not None:
            raise UsageError(f"{rate} and {trace} both decide when queries are sent",
                             hint=f"give the trace alone, or {rate} alone")

    def _validate_run_name(self, spell: Spelling) -> None:
        """A run name is one folder inside ``output_dir``: never a path that leads out of it."""
        name = self.run_name
        if name is None or name == "":
            return
        if name in (".", "..") or "/" in name or "\\" in name or "\0" in name or len(os.fsencode(name)) > 255:
            raise UsageError(
                f"{spell('run_name')} {name[:80]!r} is not a plain folder name",
                hint=f"use a name without '/', '\\' or '..' (choose where runs go with {spell('output_dir')})",
            )

    def _validate_energy(self, spell: Spelling) -> None:
        from ..registry import REGISTRY

        if self.energy in ("auto", "none"):
            return
        known = REGISTRY.ids("collectors")
        names = [n.strip() for n in self.energy.split(",") if n.strip()]
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise UsageError(
                f"{spell('energy')} {self.energy!r} names no known collector" if not names
                else f"{spell('energy')}: unknown collector(s) {', '.join(unknown)}",
                hint=f"use auto, none, or a comma list of: {', '.join(known)}",
            )

    def _validate_gen(self, spell: Spelling) -> None:
        gen, flag = self.gen_params, spell("gen_param")
        entry = (lambda name: f"{flag} {name}") if spell is FLAG else (lambda name: f"{flag}.{name}")
        for name in ("max_tokens", "seed", "top_k"):
            value = gen.get(name)
            least = 1 if name == "max_tokens" else 0
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
                raise UsageError(f"{entry(name)}={value!r} must be a whole number of at least {least}",
                                 hint=f"e.g. {entry(name)}=16")
        for name in ("temperature", "top_p", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty"):
            value = gen.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise UsageError(f"{entry(name)}={value!r} must be a number", hint=f"e.g. {entry(name)}=0")

    def to_record(self) -> dict[str, Any]:
        return redact(msgspec.structs.asdict(self))


class EvalSettings(msgspec.Struct, kw_only=True):
    """How a run's answers are judged: ``--eval-*`` and ``--no-eval``, a study's ``eval_*`` and ``no_eval``."""

    client: Annotated[str | None, about(
        "Judge client: openai (an LLM judge) or a scorer: auto, letter, numeric, exact.", option="eval_client")] = None
    base_url: Annotated[str | None, about(
        "OpenAI-compatible judge endpoint (default https://api.openai.com/v1).", option="eval_base_url")] = None
    model: Annotated[str | None, about("Judge model (default gpt-5-nano-2025-08-07).", option="eval_model")] = None
    params: Annotated[Table, about("Extra judge request field, e.g. max_tokens=64 (repeatable).",
                                   option="eval_param")] = {}
    no_eval: Annotated[bool, about("Skip judging; accuracy is reported as unevaluated.")] = False

    def to_record(self, judge_spec: str) -> dict[str, Any]:
        """What ``config.eval`` keeps: enough to rebuild the judge later (credentials redacted; keys come from
        the environment)."""
        return redact({"judge": judge_spec, "client": self.client, "base_url": self.base_url, "model": self.model,
                       "params": self.params})


@dataclass
class Progress:
    """What a progress display shows; updated by the runner as it goes."""

    total: int
    done: int = 0
    failed: int = 0
    tokens: int = 0
    measured_completed: int = 0  # what run_finished reports: warm-up queries excluded
    measured_failed: int = 0
    measured_truncated: int = 0  # of measured_completed: streams that ended without a finish reason
    started_s: float = field(default_factory=time.monotonic)
    last_power_w: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, *, ok: bool, warmup: bool, truncated: bool = False) -> None:
        """One query ended for good (queries run on several threads)."""
        with self._lock:
            if ok:
                self.done += 1
                self.measured_completed += not warmup
                self.measured_truncated += truncated and not warmup
            else:
                self.failed += 1
                self.measured_failed += not warmup

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_s

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def power_w(self) -> float | None:
        """The latest readings summed over top-level devices: a RAPL package already includes its cores."""
        readings = dict(self.last_power_w)  # the runner's thread adds devices while this reads
        if not readings:
            return None
        nested = device_parents(readings)
        return sum(w for d, w in readings.items() if d not in nested)

    @property
    def eta_s(self) -> float | None:
        finished = self.done + self.failed
        if not finished:
            return None
        return self.elapsed_s / finished * (self.total - finished)


@dataclass
class RunResult:
    run_dir: Path
    run_id: str
    status: str
    completed: int
    failed: int
    resumed: bool = False
    energy_note: str | None = None
    truncated: int = 0  # measured queries whose stream ended without a finish reason

    def truncation_warning(self) -> str | None:
        """A one-line warning when streams were cut short, with the usual cause; None when none were."""
        if not self.truncated:
            return None
        return (f"{self.truncated} of {self.completed} streams ended without a finish reason (truncated); "
                "if this is llama_cpp.server, start it with --interrupt_requests False")


def resolve_dataset(dataset: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``--dataset`` as (registered id, params): an id stays itself; the path of an existing file or
    folder becomes the ``file`` dataset reading it (format from its extension, or a folder saved by
    HF datasets). An id wins over a file of the same name."""
    from ..registry import REGISTRY

    ids = REGISTRY.ids("datasets")
    if dataset in ids:
        return dataset, params
    for prefix, key in (("hf:", "repo"), ("mix:", "spec")):  # --dataset hf:ORG/NAME, --dataset mix:A=n,B=m
        if dataset.startswith(prefix) and dataset[len(prefix):].strip():
            if key in params and str(params[key]) != dataset[len(prefix):]:
                raise UsageError(f"--dataset {dataset} and --dataset-param {key}={params[key]} disagree",
                                 hint=f"give the {key} once")
            return prefix[:-1], {**params, key: dataset[len(prefix):]}
    path = Path(dataset).expanduser()
    if not dataset or not path.exists():
        raise UsageError(
            f"unknown dataset {dataset!r}: not a registered id, and no file or folder has that path",
            hint=f"choose one of: {', '.join(ids)} (see 'ipw list datasets'), or give the path of a JSONL, CSV, "
            "Parquet or JSON file, or of a folder saved by HF datasets",
        )
    if "path" in params:
        raise UsageError(
            f"--dataset {dataset} is a path, and --dataset-param path={params['path']} names another",
            hint="give the file once: either --dataset PATH or --dataset file --dataset-param path=PATH",
        )
    return "file", {"path": str(path.resolve()), **params}


def default_run_name(config: CaptureConfig) -> str:
    model = "".join(c if c.isalnum() or c in "-._" else "-" for c in Path(config.model).name)[:60]
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"profile_{config.client}_{model}_{stamp}"
