"""The contract every inference client keeps, and the helpers they share.

A client turns one rendered prompt into a stream: ``Chunk`` after ``Chunk`` as
the service produces text, then exactly one ``Completion`` with the token
usage and why generation stopped. The runner timestamps each item as it
arrives, so a client yields as soon as it has something, never later.

The runner reads ``stream_runs``, which is ``stream`` unless a client offers a
faster form: a ``ChunkRun`` in place of the ``Chunk``s that arrived together
(one socket read of an HTTP stream holds many), each text one model token.
The runner stamps a run with one arrival time, the time it was read.

Failures leave a client as one of the ``ipw.errors.ClientError`` types, with a
``retryable`` attribute the runner reads to decide whether to try again:

    ClientError
    ├── ServerUnreachableError   connection refused                 retryable
    ├── ServerTimeoutError       connect or read timed out          retryable
    │                            the answer's deadline passed       not retryable
    └── ServerResponseError      HTTP 5xx, 408, 429                 retryable
        │                        other HTTP 4xx                     not retryable
        │                        garbage, truncated or dropped      retryable
        │                        an in-process engine refused       not retryable
        └── AnswerTooLongError   past the token or byte cap         not retryable

An answer that never ends is cut off, and recorded as a failed query: the
runner stops a stream at :func:`token_cap` tokens (4 × ``max_tokens`` + 64),
and an HTTP client stops reading at :func:`answer_byte_cap` bytes and at its
``deadline_s`` (see the OpenAI client). Neither is retried: a server that does
not stop at ``max_tokens`` once does not stop the next time either.

A setting that cannot work (an unknown client param, a generation param the
backend does not take, a model file that will not load) is a ``ConfigError``
instead, raised before or at the first query, so the run stops at once.
"""

from __future__ import annotations

import abc
import datetime
import email.utils
import json
import math
import time
from typing import Any, Iterator, Mapping, NamedTuple, TypeVar

from ... import secrets
from ..._endpoints import excerpt
from ...errors import ClientError, ConfigError
from ...secrets import REDACTED, redact

__all__ = [
    "Chunk",
    "ChunkRun",
    "Completion",
    "InferenceClient",
    "USAGE_SOURCES",
    "answer_byte_cap",
    "client_error",
    "excerpt",
    "finish_reason_text",
    "package_version",
    "param",
    "redact",
    "REDACTED",
    "retry_after_s",
    "token_cap",
]

USAGE_SOURCES = ("server", "counted", "tokenizer")

# How far an answer may run past its max_tokens before it is cut off: far enough for a server that
# counts a little differently (or streams a token in pieces), near enough that a runaway stays small.
_TOKEN_CAP_FACTOR = 4
_TOKEN_CAP_EXTRA = 64
_MAX_TOKENS_UNSET = 32_768  # the max_tokens assumed when none is sent (the server's own default applies)
# Bytes per allowed token: a chunk with logprobs is a few KiB. The extra is room for the largest JSON
# answer and the largest single event a client accepts (16 MiB each), so those keep their own refusals.
_BYTES_PER_TOKEN = 16 * 1024
_BYTES_EXTRA = 32 * 1024 * 1024

E = TypeVar("E", bound=ClientError)


class Chunk(NamedTuple):
    """One streamed piece of output: its text and how many model tokens it holds."""

    text: str
    n_tokens: int = 1


class ChunkRun(list):
    """Texts that arrived together, each one model token: ``ChunkRun(["a", "b"])`` stands for
    ``Chunk("a")`` then ``Chunk("b")``, with one arrival time (see ``InferenceClient.stream_runs``)."""

    __slots__ = ()


class Completion(NamedTuple):
    """The last item of a stream: usage and the reason generation stopped.

    ``usage_source`` says where the token counts come from: ``server`` when the
    service reported them, ``tokenizer`` when ipw counted with the model's own
    tokenizer, ``counted`` when ipw could only count the streamed chunks.
    """

    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None
    usage_source: str


def client_error(
    cls: type[E], message: str, *, retryable: bool, hint: str | None = None, retry_after_s: float | None = None
) -> E:
    """Build a client error carrying what the runner reads: ``retryable``, and the
    server's ``Retry-After`` in seconds when it sent one."""
    return cls(message, hint=hint, retryable=retryable, retry_after_s=retry_after_s)


def token_cap(gen: Mapping[str, Any]) -> int:
    """The most tokens one answer may stream: 4 × ``max_tokens`` + 64 (``max_tokens`` 32,768 when unset)."""
    max_tokens = gen.get("max_tokens")
    if type(max_tokens) is not int or max_tokens < 1:
        max_tokens = _MAX_TOKENS_UNSET
    return _TOKEN_CAP_FACTOR * max_tokens + _TOKEN_CAP_EXTRA


def answer_byte_cap(gen: Mapping[str, Any]) -> int:
    """The most bytes an HTTP client reads of one answer: 16 KiB per token of :func:`token_cap`, plus 32 MiB."""
    return token_cap(gen) * _BYTES_PER_TOKEN + _BYTES_EXTRA


def retry_after_s(value: str | None, *, now_s: float | None = None) -> float | None:
    """An HTTP ``Retry-After`` value in seconds from now: delay-seconds or an HTTP-date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP-date is GMT by definition
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = when.timestamp() - (time.time() if now_s is None else now_s)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def finish_reason_text(value: Any) -> str | None:
    """A server's finish reason as a plain string, or None when it gave none.

    Most servers send a string. Some send an object (``{"type": "stop", …}``):
    its ``type`` or ``reason`` is the reason; any other value becomes compact
    JSON, so a ledger never holds a Python repr.
    """
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        for key in ("type", "reason"):
            if isinstance(value.get(key), str) and value[key]:
                return value[key]
        if not value:
            return None
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # a cycle or a key JSON cannot hold
        return type(value).__name__


def package_version(distribution: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


class InferenceClient(abc.ABC):
    """Base of every inference client: holds the base URL and the client params.

    Subclasses set ``client_id`` and ``client_name``, list the params they
    accept in ``accepted_params`` (anything else is a ``ConfigError``, so a
    typo in ``--client-param`` is caught before a run starts), and implement
    ``stream``. ``thread_safe = False`` makes the runner serialise calls.
    """

    client_id: str = ""
    client_name: str = ""
    thread_safe: bool = True
    default_base_url: str | None = None
    accepted_params: frozenset[str] = frozenset()

    def __init__(self, base_url: str | None = None, **params: Any) -> None:
        # first, so that even a refusal below cannot quote a credential unregistered
        secrets.register_env()  # a client may take its key from there (IPW_API_KEY …)
        secrets.register_params(params)
        secrets.register_url(base_url)
        unknown = sorted(set(params) - set(self.accepted_params))
        if unknown:
            accepted = ", ".join(sorted(self.accepted_params)) or "none"
            raise ConfigError(
                f"client '{self.client_id}' does not take the parameter(s) {', '.join(unknown)}",
                hint=f"it accepts: {accepted}",
            )
        self.base_url = base_url or self.default_base_url
        self.params: dict[str, Any] = dict(params)

    # -- the contract --------------------------------------------------------
    @abc.abstractmethod
    def stream(self, model: str, prompt: str, gen: dict[str, Any]) -> Iterator[Chunk | Completion]:
        """Yield ``Chunk``s as they arrive, then exactly one ``Completion``.

        ``gen`` holds generation params: temperature, max_tokens, seed, top_p,
        stop, and whatever else the backend understands.
        """

    def stream_runs(self, model: str, prompt: str, gen: dict[str, Any]) -> Iterator[Chunk | ChunkRun | Completion]:
        """``stream``, where a client may give the ``Chunk``s that arrived together as one ``ChunkRun``.

        What the runner calls. Base: ``stream`` itself; a client that reads
        many tokens per socket read overrides it, so those tokens cost one
        item rather than one each.
        """
        return self.stream(model, prompt, gen)

    def prepare(self, model: str, gen: dict[str, Any]) -> None:
        """Refuse, with a ``ConfigError``, what would fail every query (a generation param the
        backend does not take, a model that will not load), before a run folder exists.
        Base: nothing to check ahead; ``stream`` still refuses at the first query."""
        return None

    def health(self) -> bool:
        """Whether the service answers now. Never raises."""
        try:
            self.list_models()
        except ClientError:
            return False
        return True

    def list_models(self) -> list[str]:
        """Names of the models the service can serve now."""
        return []

    def describe(self, model: str | None = None) -> dict[str, Any]:
        """What this client is, for ``run_started.config``; never holds a secret."""
        return {
            "id": self.client_id,
            "name": self.client_name,
            "base_url": self.base_url,
            "thread_safe": self.thread_safe,
            "params": redact(self.params),
        }

    def close(self) -> None:
        """Release connections or engines the client holds (base: holds none)."""
        return None

    # -- conveniences --------------------------------------------------------
    def complete(self, model: str, prompt: str, gen: dict[str, Any] | None = None) -> tuple[str, Completion]:
        """Run ``stream`` to the end: the whole text and its ``Completion``."""
        parts: list[str] = []
        completion: Completion | None = None
        for item in self.stream(model, prompt, dict(gen or {})):
            if isinstance(item, Completion):
                completion = item
            else:
                parts.append(item.text)
        if completion is None:
            raise client_error(
                ClientError,
                f"client '{self.client_id}' ended its stream without a completion",
                retryable=False,
            )
        return "".join(parts), completion

    def __enter__(self) -> InferenceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"


def param(params: Mapping[str, Any], name: str, kind: type, default: Any, client_id: str) -> Any:
    """Read one client param, coerced to ``kind``, or raise a ``ConfigError`` naming it.

    Values from ``--client-param k=v`` arrive JSON-decoded or as strings, so
    ``"30"`` becomes 30 and ``"yes"`` True; a bool is never taken for a number.
    """
    value = params.get(name, default)
    if value is None:
        return None
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(value, bool):
            raise TypeError("bool")
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"client '{client_id}' parameter {name}={value!r} is not a valid {kind.__name__}",
            hint=f"pass it as --client-param {name}=<{kind.__name__}>",
        ) from None
