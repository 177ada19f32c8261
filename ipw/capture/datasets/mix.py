"""A seeded mixture of catalogue benchmarks: ``--dataset mix:mmlu-pro=200,math-500=100 --dataset-param seed=1``.

Each part draws its count of records from its benchmark with a generator
seeded by ``seed`` and the benchmark's name (so adding a part never changes
what another part draws), then the whole mixture is shuffled with ``seed``.
The same spec, seed and data give the same records in the same order. Every
record keeps ``metadata["benchmark"]``, so accuracy can be split per benchmark.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from ...errors import DatasetError, UsageError
from .base import DatasetProvider, DatasetRecord
from .benchmarks import benchmark_class
from .catalogue import CATALOGUE

__all__ = ["MixDataset", "parse_spec"]


def parse_spec(spec: str) -> list[tuple[str, int]]:
    """``"a=200,b=100"`` as ``[("a", 200), ("b", 100)]``; each name a catalogue entry, each count ≥ 1."""
    parts: list[tuple[str, int]] = []
    for item in (x.strip() for x in str(spec).split(",")):
        name, sep, count = item.partition("=")
        name = name.strip()
        if not sep or name not in CATALOGUE:
            raise UsageError(f"mix part {item!r} is not NAME=COUNT with NAME in the catalogue",
                             hint=f"write mix:A=n,B=m with names from: {', '.join(CATALOGUE)}")
        try:
            n = int(count)
        except ValueError:
            n = 0
        if n < 1:
            raise UsageError(f"mix part {item!r}: the count must be a whole number of at least 1",
                             hint="write e.g. mix:mmlu-pro=200,math-500=100")
        if any(name == p for p, _ in parts):
            raise UsageError(f"mix names {name} twice", hint="give each benchmark once")
        parts.append((name, n))
    return parts


class MixDataset(DatasetProvider):
    """A seeded mixture of catalogue benchmarks (``spec=A=n,B=m``, ``seed=N``, ``revision`` per part as ``A.revision``)."""

    dataset_id: ClassVar[str] = "mix"
    dataset_name: ClassVar[str] = "Seeded mixture of benchmarks"
    params_accepted: ClassVar[tuple[str, ...]] = ("spec", "seed")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.parts = parse_spec(str(params.get("spec") or ""))
        try:
            self.seed = int(params.get("seed", 0))
        except (TypeError, ValueError):
            raise UsageError(f"seed={params.get('seed')!r} is not an integer", hint="pass seed=N") from None
        self.requires_judge = any(CATALOGUE[name].grader.startswith("llm:") for name, _ in self.parts)
        self._components: dict[str, DatasetProvider] = {}

    def _load(self) -> list[DatasetRecord]:
        mixture: list[DatasetRecord] = []
        for name, count in self.parts:
            provider = self._components.setdefault(name, benchmark_class(name)())
            records = provider.records()
            if len(records) < count:
                raise DatasetError(f"mix asks {count} records of {name}, which has {len(records)}",
                                   hint=f"ask for at most {len(records)}")
            mixture.extend(random.Random(f"{self.seed}:{name}").sample(records, count))
        random.Random(self.seed).shuffle(mixture)
        return mixture

    def _describe_source(self) -> dict[str, Any]:
        self.records()
        return {"seed": self.seed, "parts": {name: count for name, count in self.parts},
                "benchmarks": {name: self._components[name].describe() for name, _ in self.parts}}
