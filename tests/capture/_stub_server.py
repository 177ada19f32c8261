"""A loopback OpenAI-compatible server that answers every completion with ' 4' and a finish reason.

Stands in for a well-behaved inference server where a test is about ipw's own
decisions (refusals, resume checks), not about a model.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from tests._servers import StubHandler, loopback_http, one_chunk_sse


class _Completions(StubHandler):
    finish_reason: str | None = "stop"

    def do_POST(self) -> None:
        self.read_body()
        self.send_whole(200, "text/event-stream", one_chunk_sse(" 4", self.finish_reason))


@contextlib.contextmanager
def completions_server(finish_reason: str | None = "stop") -> Iterator[str]:
    """Serve on 127.0.0.1 for the block; yields the base URL (``http://127.0.0.1:PORT/v1``).

    ``finish_reason=None`` ends every stream with ``[DONE]`` and no finish reason, as
    llama_cpp.server does to a stream that another request interrupts.
    """
    handler = type("Completions", (_Completions,), {"finish_reason": finish_reason})
    with loopback_http(handler) as url:
        yield url
