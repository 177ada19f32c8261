"""Runner overhead per token: an in-process stub client streaming as fast as it can.

The stub yields pre-built chunks, so what is timed is the runner's own work
per token (timestamping, building the event, appending to the ledger,
progress) plus the ledger's flushes. The stub's bare iteration time is
measured separately and subtracted.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ipw.capture.clients.base import Chunk, Completion, InferenceClient  # noqa: E402
from ipw.capture.runner import CaptureConfig, Runner  # noqa: E402


class StubClient(InferenceClient):
    """Streams ``tokens_per_query`` one-token chunks per prompt, instantly."""

    client_id = "stub"
    client_name = "benchmark stub"
    accepted_params = frozenset({"tokens_per_query"})

    def __init__(self, base_url: str | None = None, **params: Any) -> None:
        super().__init__(base_url, **params)
        n = int(params.get("tokens_per_query", 1000))
        self._chunks = [Chunk(f" t{i % 50}") for i in range(n)]
        self._done = Completion(12, n, "length", "server")

    def health(self) -> bool:
        return True

    def stream(self, model: str, prompt: str, gen: dict[str, Any]) -> Iterator[Chunk | Completion]:
        yield from self._chunks
        yield self._done


def run_runner_benchmark(n_tokens: int = 200_000, tokens_per_query: int = 1000) -> float:
    """Microseconds of runner overhead per streamed token."""
    n_queries = max(1, n_tokens // tokens_per_query)
    client = StubClient(tokens_per_query=tokens_per_query)
    t0 = time.perf_counter()
    for _ in range(n_queries):
        for _item in client.stream("m", "p", {}):
            pass
    bare = time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix="ipw-bench-runner-"))
    try:
        config = CaptureConfig(client="stub", model="stub", dataset="builtin", output_dir=str(tmp), run_name="r",
                               max_queries=n_queries, energy="none",
                               gen_params={"max_tokens": tokens_per_query})  # what the stub streams: under the cap
        runner = Runner(config, client=client)
        t0 = time.perf_counter()
        result = runner.run()
        elapsed = time.perf_counter() - t0
        assert result.completed == n_queries, result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return (elapsed - bare) / (n_queries * tokens_per_query) * 1e6


if __name__ == "__main__":
    print({"runner_overhead_us_per_token": round(run_runner_benchmark(), 3)})
