"""What decides a capture: its settings, its progress, its result."""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..events.devices import device_parents
from ..secrets import redact

__all__ = ["DEFAULT_GEN", "CaptureConfig", "Progress", "RunResult", "default_run_name", "resolve_dataset"]

DEFAULT_GEN = {"temperature": 0.0, "max_tokens": 16, "seed": 0}
# About one request in three hours: slower is no load test, and a Poisson gap
# drawn at a rate near zero overflows the wait (1e-300 requests/s means ~1e300 s).
MIN_REQUEST_RATE = 1e-4
MIN_BURSTINESS = 0.01


@dataclass
class CaptureConfig:
    """Everything that decides what a capture does; stored (redacted) in ``run_started``."""

    client: str
    model: str
    dataset: str = "builtin"
    output_dir: str = "runs"
    run_name: str | None = None
    max_queries: int | None = None
    max_concurrency: int = 1
    request_rate: float | None = None
    burstiness: float | None = None  # gamma shape of the gaps at request_rate: 1 Poisson, < 1 burstier
    ramp_up_s: float | None = None  # the rate rises linearly from 0 to request_rate over this many seconds
    arrival_trace: str | None = None  # a file of arrival times replayed instead (see ipw.capture.arrivals)
    warmup_queries: int = 0
    client_base_url: str | None = None
    client_params: dict[str, Any] = field(default_factory=dict)
    dataset_params: dict[str, Any] = field(default_factory=dict)
    gen_params: dict[str, Any] = field(default_factory=dict)
    energy: str = "auto"
    sample_interval_ms: int = 100
    cpu_tdp_w: float | None = None
    max_retries: int = 2
    retry_backoff_s: float = 0.5
    seed: int = 0
    eval: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dataset, self.dataset_params = resolve_dataset(self.dataset, self.dataset_params)

    def validate(self) -> None:
        if self.max_concurrency < 1:
            raise UsageError("--max-concurrency must be at least 1")
        if self.request_rate is not None and not (
            math.isfinite(self.request_rate) and MIN_REQUEST_RATE <= self.request_rate
        ):  # nan would mean "no limit" and a tiny rate a wait longer than any clock can hold
            raise UsageError(
                f"--request-rate {self.request_rate} is not a usable rate",
                hint=f"pass a finite number of requests per second of at least {MIN_REQUEST_RATE}, "
                "or leave it out for no limit",
            )
        self._validate_arrivals()
        self._validate_run_name()
        if self.max_queries is not None and self.max_queries < 1:
            raise UsageError("--max-queries must be at least 1")
        if self.warmup_queries < 0:
            raise UsageError("--warmup-queries cannot be negative")
        if self.max_retries < 0:
            raise UsageError("the number of retries cannot be negative")
        if self.sample_interval_ms < 1:
            raise UsageError("--sample-interval-ms must be at least 1")
        if self.cpu_tdp_w is not None and not (math.isfinite(self.cpu_tdp_w) and self.cpu_tdp_w > 0):
            raise UsageError("--cpu-tdp-w must be a positive number of watts", hint="e.g. --cpu-tdp-w 65")
        self._validate_energy()
        self._validate_gen()

    def _validate_arrivals(self) -> None:
        """--burstiness and --ramp-up-s shape --request-rate; --arrival-trace replaces all three."""
        for flag, value in (("--burstiness", self.burstiness), ("--ramp-up-s", self.ramp_up_s)):
            if value is None:
                continue
            # a shape near 0 draws gaps too long for any clock to wait
            least, most = (MIN_BURSTINESS, 1e3) if flag == "--burstiness" else (0.0, 1e6)
            if isinstance(value, bool) or not (math.isfinite(value) and least <= value <= most):
                raise UsageError(f"{flag} {value} is not usable",
                                 hint=f"--burstiness is a gamma shape from {MIN_BURSTINESS} to 1000 (1: Poisson, "
                                 "below 1: burstier); --ramp-up-s a number of seconds from 0 to 1e6")
            if self.request_rate is None:
                raise UsageError(f"{flag} shapes the arrivals at --request-rate, which is not set",
                                 hint="add --request-rate RATE")
            if self.arrival_trace:
                raise UsageError(f"{flag} and --arrival-trace both decide when queries are sent",
                                 hint="give the trace alone, or --request-rate with its shape")
        if self.arrival_trace and self.request_rate is not None:
            raise UsageError("--request-rate and --arrival-trace both decide when queries are sent",
                             hint="give the trace alone, or --request-rate alone")

    def _validate_run_name(self) -> None:
        """A run name is one folder inside ``--output-dir``: never a path that leads out of it."""
        name = self.run_name
        if name is None or name == "":
            return
        if name in (".", "..") or "/" in name or "\\" in name or "\0" in name or len(os.fsencode(name)) > 255:
            raise UsageError(
                f"--run-name {name[:80]!r} is not a plain folder name",
                hint="use a name without '/', '\\' or '..' (choose where runs go with --output-dir)",
            )

    def _validate_energy(self) -> None:
        from ..registry import REGISTRY

        if self.energy in ("auto", "none"):
            return
        known = REGISTRY.ids("collectors")
        names = [n.strip() for n in self.energy.split(",") if n.strip()]
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise UsageError(
                f"--energy {self.energy!r} names no known collector" if not names
                else f"--energy: unknown collector(s) {', '.join(unknown)}",
                hint=f"use auto, none, or a comma list of: {', '.join(known)}",
            )

    def _validate_gen(self) -> None:
        gen = self.gen_params
        for name in ("max_tokens", "seed", "top_k"):
            value = gen.get(name)
            least = 1 if name == "max_tokens" else 0
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
                raise UsageError(f"--gen-param {name}={value!r} must be a whole number of at least {least}",
                                 hint=f"e.g. --gen-param {name}=16")
        for name in ("temperature", "top_p", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty"):
            value = gen.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise UsageError(f"--gen-param {name}={value!r} must be a number", hint=f"e.g. --gen-param {name}=0")

    def to_record(self) -> dict[str, Any]:
        return redact(asdict(self))


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
