"""Sampling and fan-out: one thread reads every collector on a fixed deadline,
and each client stream takes its samples from a queue of its own.

The sampler runs at the fastest interval any stream asked for, never slower
than the monitor's default. It schedules each tick from the previous
deadline, not from when the last read finished, so the requested rate holds
even though every read takes time; a read that overruns a little is made up
by starting the next at once, and only whole intervals of lag are dropped.
A stream that asked for a longer interval receives every reading whose
device's previous kept reading is at least that old. A stream that reads too
slowly loses its oldest samples, and is told how many in its next batch.

:meth:`Sampler.read_now` reads every collector at once, outside the tick, for
the caller alone (the edges of a measured window); a lock keeps it and the
tick from reading a collector at the same time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Sequence

from .collectors.base import Collector, DeviceStatus, Reading

__all__ = ["Sampler", "Subscription", "MIN_INTERVAL_MS"]

MIN_INTERVAL_MS = 1
MAX_PENDING = 100_000
_MAX_SLEEP_NS = 100_000_000


class Subscription:
    """One stream's queue of readings and device status changes."""

    def __init__(self, interval_ns: int, max_batch: int, max_pending: int = MAX_PENDING) -> None:
        self.interval_ns = interval_ns
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.dropped = 0
        self.closed = False
        self._cond = threading.Condition()
        self._samples: deque[Reading] = deque(maxlen=max_pending)  # full: the oldest falls out
        self._statuses: list[DeviceStatus] = []
        self._last_kept_ns: dict[str, int] = {}

    def offer(self, readings: Sequence[Reading], statuses: Sequence[DeviceStatus], tick_ns: int) -> None:
        """Queue what this stream wants of one tick's readings."""
        if self.interval_ns > tick_ns:
            readings = self._decimate(readings, self.interval_ns - tick_ns // 2)
        with self._cond:
            self.dropped += max(0, len(self._samples) + len(readings) - self.max_pending)
            self._samples.extend(readings)
            if statuses:
                self._statuses.extend(statuses)
            # Wake the stream only when a batch is full or news arrived; otherwise
            # it wakes on its own flush timer, which keeps the monitor's CPU low.
            if statuses or len(self._samples) >= self.max_batch:
                self._cond.notify()

    def _decimate(self, readings: Sequence[Reading], min_gap_ns: int) -> list[Reading]:
        kept = []
        for reading in readings:
            last = self._last_kept_ns.get(reading.device)
            if last is None or reading.t_ns - last >= min_gap_ns:
                self._last_kept_ns[reading.device] = reading.t_ns
                kept.append(reading)
        return kept

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def take(self, flush_ns: int) -> tuple[list[Reading], list[DeviceStatus], int] | None:
        """The next batch: at most ``max_batch`` samples, after at most ``flush_ns``
        of waiting once something is pending. None once the subscription is closed."""
        deadline = time.monotonic_ns() + flush_ns
        with self._cond:
            while not self.closed:
                if self._statuses or len(self._samples) >= self.max_batch:
                    break
                remaining_ns = deadline - time.monotonic_ns()
                if remaining_ns <= 0:
                    if self._samples:
                        break
                    remaining_ns = flush_ns
                    deadline = time.monotonic_ns() + flush_ns
                self._cond.wait(remaining_ns / 1e9)
            if self.closed:
                return None
            count = min(len(self._samples), self.max_batch)
            samples = [self._samples.popleft() for _ in range(count)]
            statuses, self._statuses = self._statuses, []
            dropped, self.dropped = self.dropped, 0
        return samples, statuses, dropped


class Sampler:
    """Reads every collector each tick and hands the readings to every subscription."""

    def __init__(self, collectors: Sequence[Collector], interval_ms: int) -> None:
        self.collectors = list(collectors)
        self.default_interval_ns = max(int(interval_ms), MIN_INTERVAL_MS) * 1_000_000
        self.ticks = 0
        self.missed_ticks = 0
        self.device_states: dict[str, tuple[str, str]] = {}
        self._subs: list[Subscription] = []
        self._tick_ns = self.default_interval_ns
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing: set[str] = set()
        self._read_lock = threading.Lock()  # collectors are not thread-safe: one reader at a time

    def subscribe(self, interval_ms: int, max_batch: int) -> Subscription:
        interval_ns = max(int(interval_ms), MIN_INTERVAL_MS) * 1_000_000 if interval_ms else 0
        sub = Subscription(interval_ns, max(int(max_batch), 1))
        with self._lock:
            self._subs.append(sub)
            self._retune()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close()
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)
                self._retune()

    def _retune(self) -> None:
        # Called with the lock held whenever the set of streams changes.
        wanted = [s.interval_ns for s in self._subs if s.interval_ns]
        self._tick_ns = min([self.default_interval_ns, *wanted])

    def interval_ns(self) -> int:
        """The current tick: the default, or faster where a stream asked for it."""
        return self._tick_ns

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ipw-energy-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            subs, self._subs = self._subs, []
        for sub in subs:
            sub.close()

    def tick(self, tick_ns: int) -> None:
        """Read every collector once and publish the result."""
        readings: list[Reading] = []
        statuses: list[DeviceStatus] = []
        for collector in self.collectors:
            try:
                with self._read_lock:
                    readings.extend(collector.read())
            except Exception as exc:  # one broken collector must not silence the others
                if collector.name not in self._failing:
                    self._failing.add(collector.name)
                    message = f"collector {collector.name} failed to read: {type(exc).__name__}: {exc}"
                    t_ns = time.monotonic_ns()
                    statuses.extend(DeviceStatus(d.device, t_ns, "error", message) for d in collector.devices())
            else:
                self._failing.discard(collector.name)
            statuses.extend(collector.take_statuses())
        for status in statuses:
            self.device_states[status.device] = (status.status, status.message)
        for sub in self._subs[:]:  # a copy: streams may come and go meanwhile
            sub.offer(readings, statuses, tick_ns)
        self.ticks += 1

    def read_now(self) -> list[Reading]:
        """Every collector read at once, for the caller only; a collector that fails is left out
        (the tick reports its failure)."""
        readings: list[Reading] = []
        for collector in self.collectors:
            try:
                with self._read_lock:
                    readings.extend(collector.read_now())
            except Exception:  # noqa: BLE001 - a bracket is best effort; the stream reports broken collectors
                continue
        return readings

    def _run(self) -> None:
        next_ns = time.monotonic_ns()
        while not self._stop.is_set():
            tick_ns = self.interval_ns()
            self.tick(tick_ns)
            next_ns += tick_ns
            behind_ns = time.monotonic_ns() - next_ns
            if behind_ns >= tick_ns:  # reads slower than the interval: drop whole ticks instead of bursting
                skipped = behind_ns // tick_ns
                self.missed_ticks += skipped
                next_ns += skipped * tick_ns
            # A tick that ran a little long is made up by starting the next one at once.
            # time.sleep costs a third of the CPU of Event.wait at 100 Hz; stop() is
            # still noticed within _MAX_SLEEP_NS.
            while not self._stop.is_set() and (left_ns := next_ns - time.monotonic_ns()) > 0:
                time.sleep(min(left_ns, _MAX_SLEEP_NS) / 1e9)
