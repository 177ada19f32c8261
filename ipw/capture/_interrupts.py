"""Ctrl-C and SIGTERM while a capture's queries run: a stop is asked for, never raised mid-step.

Left to Python, a signal raises ``KeyboardInterrupt`` in the main thread at
whatever bytecode it happens to be running, ``threading``'s own code included.
Raised inside ``Condition.wait`` after it let go of its lock but before its
``try``, the ``with`` around it then releases that lock a second time
(``RuntimeError: release unlocked lock``: the run is recorded as ``failed``
and the command exits 70, waiting at exit for any query thread still blocked
on a silent server); raised inside ``Condition.__enter__`` after the lock was
taken, the lock is never released and the next thread to want it waits for
good. While the queries run, :class:`StopOnSignal` takes SIGINT and SIGTERM
instead. Its handler only notes the signal and writes one byte to a pipe (no
lock, nothing the interrupted code could be holding); a helper thread reads
it and calls ``on_signal`` once, which asks the run to stop (the runner's:
set the stop event, close the client so that requests blocked on a silent
server wake now, wake the scheduler, which raises ``KeyboardInterrupt``
itself at a point of its choosing). Later signals are noted and change
nothing, so a second Ctrl-C cannot cut the ledger's closing short.

Outside the main thread (an API caller running a capture in a thread) no
signal reaches Python code there, and this does nothing. A signal that is
ignored (``SIG_IGN``, as under ``nohup``) stays ignored.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any, Callable

__all__ = ["StopOnSignal"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    """Between :meth:`start` and :meth:`stop`, SIGINT and SIGTERM call ``on_signal`` (once) on a helper thread."""

    def __init__(self, on_signal: Callable[[], None]) -> None:
        self._on_signal = on_signal
        self.signalled: int | None = None  # the first signal taken, if any
        self._previous: dict[int, Any] = {}
        self._write_fd: int | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "StopOnSignal":
        if threading.current_thread() is not threading.main_thread():
            return self
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)  # a handler must never wait: a full pipe already says "stop"
        self._write_fd = write_fd
        for sig in _SIGNALS:  # before the thread starts: a signal during its start waits in the pipe
            if signal.getsignal(sig) is not signal.SIG_IGN:
                self._previous[sig] = signal.signal(sig, self._handle)
        thread = threading.Thread(target=self._wait, args=(read_fd,), name="ipw-stop-on-signal", daemon=True)
        thread.start()
        self._thread = thread
        return self

    def stop(self) -> None:
        """Give the signals back to the handlers they had; a stop already asked for still runs to its end."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}
        if self._write_fd is not None:
            os.close(self._write_fd)  # the helper thread reads the end of the pipe and ends
            self._write_fd = None
        if self._thread is not None:
            self._thread.join(timeout=5)  # on_signal, if it runs, closes sockets: short
            self._thread = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # runs in the main thread between two bytecodes of whatever it was doing: no locks, no raising
        if self.signalled is None:
            self.signalled = signum
        fd = self._write_fd
        if fd is not None:
            try:
                os.write(fd, b"\0")
            except OSError:  # full (a stop is on its way already) or closed (the run has ended)
                pass

    def _wait(self, read_fd: int) -> None:
        try:
            while True:
                data = os.read(read_fd, 64)
                if not data:
                    return  # stop(): nothing was asked for
                if self.signalled is not None:
                    self._on_signal()
                    return
        finally:
            os.close(read_fd)
