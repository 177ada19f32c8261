"""The typed errors ipw raises, and the exit code each one maps to at the CLI.

The library never prints or exits; it raises one of these. The CLI's single
error boundary turns each into one line (what failed, why, what to do) and the
exit code written next to its class.

    IpwError                      exit 1   anything ipw knows how to explain
    ├── UsageError                exit 2   bad flag, bad ``k=v``, unknown id
    ├── ConfigError               exit 2   a setting that cannot work (missing key, bad path)
    ├── LedgerError               exit 3   a ledger cannot be read or written
    │   ├── LedgerCorruptError    exit 3   checksum, hash chain or framing broken at a known place
    │   ├── LedgerExistsError     exit 2   the run directory already holds a ledger
    │   ├── LedgerLockedError     exit 3   another process is writing the run (one writer per run)
    │   └── PackError             exit 3   a pack file is unsafe or does not verify
    ├── DatasetError              exit 4   a dataset cannot be found or parsed
    ├── ClientError               exit 5   the inference service failed
    │   ├── ServerUnreachableError         the service refused the connection
    │   ├── ServerTimeoutError             the service did not answer in time
    │   ├── ServerResponseError            the service answered with an error or garbage
    │   │   └── AnswerTooLongError         an answer went on past its token or byte cap
    │   └── AllQueriesFailedError          a run finished, and every one of its queries failed
    ├── JudgeError                exit 6   the judge could not be asked
    ├── TelemetryError            exit 7   the energy monitor cannot be started or reached
    │   └── CollectorError                 a power collector cannot read its device
    ├── BackendMissingError       exit 8   an optional backend is not installed (names the extra)
    ├── PluginError               exit 10  an installed plugin failed to load, to start or while used
    └── SomeQueriesFailedError    exit 11  a run finished, but some of its queries failed

A run whose queries failed (exit 5 or 11) is still whole: its folder is
printed, its ledger verifies, each failure is a ``query_failed`` event with
its message, and ``--resume`` runs the failed queries again. Exit 0 from
``ipw record`` or ``ipw profile`` means every query was answered.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "IpwError",
    "UsageError",
    "ConfigError",
    "LedgerError",
    "LedgerCorruptError",
    "LedgerExistsError",
    "LedgerLockedError",
    "PackError",
    "DatasetError",
    "ClientError",
    "ServerUnreachableError",
    "ServerTimeoutError",
    "ServerResponseError",
    "AnswerTooLongError",
    "AllQueriesFailedError",
    "JudgeError",
    "TelemetryError",
    "CollectorError",
    "BackendMissingError",
    "PluginError",
    "SomeQueriesFailedError",
]


class IpwError(Exception):
    """Base of every error ipw explains to its user.

    ``hint`` is the "what to do" part of the one-line message.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message.rstrip(". ")
        if self.hint:
            text += f"; {self.hint.rstrip('.')}"
        return " ".join(text.split())


class UsageError(IpwError):
    exit_code = 2


class ConfigError(IpwError):
    exit_code = 2


class LedgerError(IpwError):
    exit_code = 3


class LedgerCorruptError(LedgerError):
    """A ledger is damaged at a known segment and byte offset."""

    def __init__(self, message: str, *, segment: str, offset: int, hint: str | None = None) -> None:
        super().__init__(f"{segment} at byte {offset}: {message}", hint=hint)
        self.segment = segment
        self.offset = offset


class LedgerExistsError(LedgerError):
    exit_code = 2


class LedgerLockedError(LedgerError):
    """Another process holds the run's writer lock; the message names it."""


class PackError(LedgerError):
    pass


class DatasetError(IpwError):
    exit_code = 4


class ClientError(IpwError):
    """The inference service failed; ``retryable`` says whether asking again may succeed, and
    ``retry_after_s`` how long the server asked us to wait first (the runner reads both)."""

    exit_code = 5

    def __init__(self, message: str, *, hint: str | None = None, retryable: bool = False,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class ServerUnreachableError(ClientError):
    pass


class ServerTimeoutError(ClientError):
    pass


class ServerResponseError(ClientError):
    pass


class AnswerTooLongError(ServerResponseError):
    """An answer streamed past the token cap (4 × max_tokens + 64) or the byte cap: a server that does not stop."""


class AllQueriesFailedError(ClientError):
    """A run finished and every one of its measured queries failed; the run folder is kept and named."""


class JudgeError(IpwError):
    exit_code = 6


class TelemetryError(IpwError):
    exit_code = 7


class CollectorError(TelemetryError):
    pass


class BackendMissingError(IpwError):
    exit_code = 8

    def __init__(self, backend: str, extra: str, *, module: str | None = None) -> None:
        what = module or backend
        super().__init__(
            f"{backend} is not available: the Python module '{what}' is not installed",
            hint=f"install it with: pip install 'ipw[{extra}]'",
        )
        self.backend = backend
        self.extra = extra

    @classmethod
    def require(cls, module: str, backend: str, extra: str) -> Any:
        """Import an optional backend's ``module``, or raise this error naming the extra that installs it."""
        import importlib

        try:
            return importlib.import_module(module)
        except ImportError as exc:
            raise cls(backend, extra, module=module.partition(".")[0]) from exc


class PluginError(IpwError):
    """A plugin (foreign code from another distribution) failed; the message names it and its distribution."""

    exit_code = 10


class SomeQueriesFailedError(IpwError):
    """A run finished, but some of its measured queries failed; the run folder is kept and named."""

    exit_code = 11
