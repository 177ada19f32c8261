"""Synthetic but realistic event streams for the benchmarks.

Token text is drawn from a Zipf(1.3) distribution over 8,000 random
lower-case "words" (70 % with a leading space), which has more entropy per
token than real model output, so the bytes-per-event figure is pessimistic.
Four queries stream concurrently; inter-token gaps are Gaussian (15 ms ± 1 ms)
at nanosecond resolution, as a monotonic clock would stamp them.
"""

from __future__ import annotations

import random
import string

import numpy as np

from ipw.events import PowerSample, QueryFinished, QueryStarted, Token

T0_NS = 10**13


def token_events(n: int, *, seed: int = 1, concurrency: int = 4, tokens_per_query: int = 1000) -> list[Token]:
    rng = random.Random(seed)
    vocab = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(1, 7))) for _ in range(8000)]
    vocab = [(" " + v if rng.random() < 0.7 else v) for v in vocab]
    ranks = np.random.default_rng(seed).zipf(1.3, n)
    clocks = [T0_NS + i * 3_000_000 for i in range(concurrency)]
    rows = []
    for i in range(n):
        lane = rng.randrange(concurrency)
        clocks[lane] += int(rng.gauss(15e6, 1e6))
        qid = lane + (i // tokens_per_query) * concurrency
        rows.append((clocks[lane], qid, vocab[min(int(ranks[i]), len(vocab)) - 1]))
    rows.sort()
    return [Token(query_id=q, t_ns=t, text=x) for t, q, x in rows]


def run_events(n_queries: int = 1000, tokens_per_query: int = 1000, *, seed: int = 2, concurrency: int = 4,
               sample_hz: float = 100.0) -> list:
    """A whole run: overlapping queries with token streams and power samples, in time order."""
    rng = random.Random(seed)
    events: list = []
    t = T0_NS
    lanes = [T0_NS + i * 2_000_000 for i in range(concurrency)]
    for qid in range(n_queries):
        lane = qid % concurrency
        start = lanes[lane]
        events.append(QueryStarted(query_id=qid, t_ns=start, record_id=f"r{qid}", problem="p", reference="4",
                                   subject="s", scorer="numeric"))
        tt = start + 30_000_000
        for k in range(tokens_per_query):
            tt += int(rng.gauss(15e6, 1e6))
            events.append(Token(query_id=qid, t_ns=tt, text=" 4" if k == 0 else " x"))
        events.append(QueryFinished(query_id=qid, t_ns=tt + 1_000_000, prompt_tokens=20,
                                    completion_tokens=tokens_per_query, finish_reason="length"))
        lanes[lane] = tt + 2_000_000
    end = max(lanes)
    step = int(1e9 / sample_hz)
    energy = 0.0
    for ts in range(T0_NS, end, step):
        power = 50.0 + 10.0 * rng.random()
        energy += power * step / 1e9
        events.append(PowerSample(device="nvidia:0", t_ns=ts, power_w=power, energy_j=energy))
    events.sort(key=lambda e: e.t_ns)
    del t
    return events
