"""An "infinitely fast" OpenAI-compatible streaming server on loopback, for measuring clients.

``python benchmarks/loopback_server.py --port 0`` prints ``PORT <n>`` once it
listens. Every completion streams ``max_tokens`` (default ``--tokens``)
one-token chunks shaped like vLLM's, as chunked server-sent events (one HTTP
chunk per event, as uvicorn sends them), then a usage chunk when asked, then
``[DONE]``; the whole body is built once and written at once, so the server
costs next to nothing per token. With ``--hold-s S`` each stream sends its
first chunk, then waits S seconds before the rest, so the streams a client
keeps open at once can be counted; with ``--hold-until N`` as well, every
held stream is released as soon as N are open at once (a barrier, so the
count does not depend on how fast the machine is).

``GET /stats`` answers what it saw: ``connections`` (TCP connections
accepted), ``requests``, ``streams_open`` and ``streams_max_open``;
``POST /stats/reset`` zeroes them. Connections are kept alive (HTTP/1.1).
It runs in its own process, so its CPU is never counted as the client's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
         b"transfer-encoding: chunked\r\n\r\n")


def _chunk(payload: bytes) -> bytes:
    event = b"data: " + payload + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(event), event)


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.connections = 0
        self.requests = 0
        self.streams_open = 0
        self.streams_max_open = 0

    def to_json(self) -> bytes:
        return json.dumps({"connections": self.connections, "requests": self.requests,
                           "streams_open": self.streams_open, "streams_max_open": self.streams_max_open}).encode()


class Bodies:
    """Pre-built stream bodies, by (api, tokens, usage): the first event apart, the rest in one piece."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, bool], tuple[bytes, bytes]] = {}

    def get(self, api: str, n: int, usage: bool) -> tuple[bytes, bytes]:
        key = (api, n, usage)
        if key not in self._cache:
            self._cache[key] = self._build(api, n, usage)
        return self._cache[key]

    @staticmethod
    def _build(api: str, n: int, usage: bool) -> tuple[bytes, bytes]:
        chat = api == "chat"
        obj = "chat.completion.chunk" if chat else "text_completion"
        events = []
        for i in range(n):
            text = f" tok{i % 97}"
            last = i == n - 1
            choice: dict = {"index": 0, "logprobs": None, "finish_reason": "length" if last else None}
            if chat:
                choice["delta"] = {"content": text} if i else {"role": "assistant", "content": text}
            else:
                choice["text"] = text
            events.append({"id": "cmpl-bench", "object": obj, "created": 1700000000, "model": "bench",
                           "choices": [choice]})
        if usage:
            events.append({"id": "cmpl-bench", "object": obj, "created": 1700000000, "model": "bench", "choices": [],
                           "usage": {"prompt_tokens": 8, "completion_tokens": n, "total_tokens": n + 8}})
        parts = [_chunk(json.dumps(e, separators=(",", ":")).encode()) for e in events]
        parts.append(_chunk(b"[DONE]"))
        parts.append(b"0\r\n\r\n")
        return parts[0], b"".join(parts[1:])


class Connection(asyncio.Protocol):
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.stats.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while not self.busy:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            method, path = head.split(" ", 2)[:2]
            self.handle(method, path, body)

    def send_json(self, payload: bytes, status: str = "200 OK") -> None:
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                             % (status.encode(), len(payload), payload))

    def handle(self, method: str, path: str, body: bytes) -> None:
        stats = self.server.stats
        if path.endswith("/stats"):
            self.send_json(stats.to_json())
            return
        if path.endswith("/stats/reset"):
            stats.reset()
            self.send_json(b"{}")
            return
        if path == "/health":  # vLLM's liveness probe, which guidellm asks before it starts
            self.send_json(b"{}")
            return
        if path.endswith("/models"):
            self.send_json(b'{"object":"list","data":[{"id":"bench","object":"model"}]}')
            return
        if method != "POST" or not path.endswith("completions"):
            self.send_json(b'{"error":{"message":"not found"}}', "404 Not Found")
            return
        stats.requests += 1
        request = json.loads(body or b"{}")
        n = int(request.get("max_tokens") or self.server.tokens)
        usage = bool((request.get("stream_options") or {}).get("include_usage"))
        first, rest = self.server.bodies.get("chat" if path.endswith("chat/completions") else "completions", n, usage)
        assert self.transport is not None
        stats.streams_open += 1
        stats.streams_max_open = max(stats.streams_max_open, stats.streams_open)
        if self.server.hold_s > 0:
            self.busy = True
            self.transport.write(_HEAD + first)
            handle = asyncio.get_running_loop().call_later(self.server.hold_s, self._finish, rest)
            held = self.server.held
            held.append((handle, self, rest))
            if self.server.hold_until and stats.streams_open >= self.server.hold_until:
                self.server.held = []
                for timer, conn, body in held:  # the barrier is reached: release every held stream now
                    timer.cancel()
                    conn._finish(body)
        else:
            self.transport.write(_HEAD + first + rest)
            stats.streams_open -= 1

    def _finish(self, rest: bytes) -> None:
        if not self.busy:
            return
        self.server.stats.streams_open -= 1
        self.busy = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(rest)
        if self.buf:
            self.data_received(b"")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy:
            self.server.stats.streams_open -= 1
            self.busy = False
        self.transport = None


class Server:
    def __init__(self, tokens: int, hold_s: float, hold_until: int = 0) -> None:
        self.tokens = tokens
        self.hold_s = hold_s
        self.hold_until = hold_until
        self.held: list[tuple[asyncio.TimerHandle, Connection, bytes]] = []
        self.stats = Stats()
        self.bodies = Bodies()


async def _serve(port: int, tokens: int, hold_s: float, hold_until: int) -> None:
    server = Server(tokens, hold_s, hold_until)
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: Connection(server), "127.0.0.1", port, backlog=4096)
    print(f"PORT {srv.sockets[0].getsockname()[1]}", flush=True)
    async with srv:
        await srv.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tokens", type=int, default=256, help="tokens per stream when the request sets no max_tokens")
    parser.add_argument("--hold-s", type=float, default=0.0, help="seconds each stream stays open after its first chunk")
    parser.add_argument("--hold-until", type=int, default=0, help="release held streams once this many are open")
    args = parser.parse_args()
    try:  # a socket per client stream: 1,024 streams need more than the usual soft limit of 1,024 files
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    try:
        import uvloop  # optional: a faster loop where installed

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(_serve(args.port, args.tokens, args.hold_s, args.hold_until))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
