"""An LLM judge over any OpenAI-compatible ``/chat/completions`` endpoint, with httpx.

The judge renders one of the versioned templates of :mod:`ipw.judging.prompts`,
asks the endpoint, and parses the answer strictly. Its spec
(``llm:openai:gpt-5-nano-2025-08-07:ipw-judge/v1``) names the client, the
model and the template family; the base URL is left out (the same model
behind a proxy is the same judge) and goes into each verdict's metadata
instead, without credentials. The API key is only ever sent as the
``Authorization`` header: it is in no spec, repr, message or metadata. The
key, the base URL's userinfo (sent as HTTP Basic) and every credential-named
param are registered with :mod:`ipw.secrets`, so an endpoint that quotes them
back in an error body or an answer is scrubbed too.

What happens when asking fails:

    429, 5xx, timeouts, dropped connections, a 200 that is not JSON
        retried with exponential backoff and jitter (``Retry-After`` is obeyed,
        up to ``max_backoff_s``), at most ``max_retries`` times; then that one
        query gets ``is_correct=None`` with ``outcome="error"`` in its metadata
        and judging goes on (a later pass retries it).
    400, 413, 422 (this request cannot be answered)
        that query gets ``outcome="error"`` at once, without retries.
    401, 403 (the key), 404 (the model or the URL), a refused connection
        after the retries: nothing else can succeed either, so
        :class:`ipw.errors.JudgeError` is raised with what to do.
    an answer that breaks the template's format
        ``is_correct=None`` with ``outcome="unparsed"`` and the raw answer kept:
        unevaluated, never counted as wrong.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import threading
import time
from typing import Any, Callable, Mapping

import httpx

from .. import secrets
from ..capture.clients.base import excerpt
from ..capture.clients.openai import normalise_base_url
from ..capture.redact import redact
from ..errors import ConfigError, JudgeError
from .keys import MISSING_KEY_HINT
from .prompts import FAMILY_REF, JudgeItem, select_template
from .scorers import ScoreResult

__all__ = ["LLMJudge", "DEFAULT_BASE_URL", "DEFAULT_MODEL", "RAW_EXCERPT_CHARS"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-5-nano-2025-08-07"
RAW_EXCERPT_CHARS = 2000
_RESERVED = frozenset({"model", "messages", "stream"})
_KEYISH = re.compile(r"sk-[A-Za-z0-9_*\-]{4,}")


class _ItemFailure(Exception):
    """Asking about one query failed; the others may still succeed."""

    def __init__(self, message: str, *, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class LLMJudge:
    """Judges answers by asking a chat model; one instance is safe to share between threads."""

    kind = "llm"

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        model: str = DEFAULT_MODEL,
        client: str = "openai",
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        concurrency: int = 4,
        transport: httpx.BaseTransport | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        # first, so that even a refusal below cannot quote a credential unregistered
        secrets.register_env()
        secrets.register(api_key)  # it may come from a .env file, which is not the environment
        secrets.register_url(base_url)
        secrets.register_params(params)
        if client != "openai":
            raise ConfigError(
                f"the judge client {client!r} is not supported",
                hint="use --eval-client openai (it speaks to any OpenAI-compatible endpoint)",
            )
        if not model or not model.strip():
            raise ConfigError("the judge needs a model name", hint="pass --eval-model, e.g. gpt-5-nano-2025-08-07")
        if max_retries < 0 or concurrency < 1 or timeout_s <= 0:
            raise ConfigError(
                "the judge needs max_retries >= 0, concurrency >= 1 and timeout_s > 0",
                hint="check the judge options",
            )
        clash = sorted(_RESERVED & set(params or {}))
        if clash:
            raise ConfigError(f"judge parameter(s) {', '.join(clash)} are set by the judge", hint="drop them")
        self.client = client
        self.model = model.strip()
        self.base_url = normalise_base_url(base_url)
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.concurrency = int(concurrency)
        self.params = dict(params or {})
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._key = api_key or None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 10.0)),
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
            transport=transport,
        )
        self._lock = threading.Lock()
        self.requests_sent = 0

    # -- identity ----------------------------------------------------------------
    @property
    def spec(self) -> str:
        """``llm:<client>:<model>:<template family>``; stable, and never holds the key or URL."""
        return f"llm:{self.client}:{self.model}:{FAMILY_REF}"

    def describe(self) -> dict[str, Any]:
        """What this judge is, for a run's config or ``ipw list``; never holds a secret."""
        return {
            "spec": self.spec,
            "client": self.client,
            "model": self.model,
            "base_url": _public_url(self.base_url),
            "templates": FAMILY_REF,
            "params": redact(dict(self.params)),
            "auth": "bearer" if self._key else None,
        }

    def __repr__(self) -> str:
        return f"LLMJudge(spec={self.spec!r}, base_url={_public_url(self.base_url)!r})"

    # -- judging -----------------------------------------------------------------
    def unjudgeable(self, item: JudgeItem) -> str | None:
        """Why this judge cannot judge ``item`` (then it is left unjudged), or None."""
        if item.reference is None or not str(item.reference).strip():
            return "the record has no reference answer to compare with"
        return None

    def judge(self, item: JudgeItem) -> ScoreResult:
        """Ask the judge about one answer. Raises :class:`JudgeError` only when no query can succeed."""
        template = select_template(item)
        meta: dict[str, Any] = {"template": template.ref, "judge_base_url": _public_url(self.base_url)}
        if not item.answer_text.strip():
            meta.update(outcome="empty_answer", reason="the model's answer is empty")
            return ScoreResult(False, 0.0, meta)
        body = {"model": self.model, "messages": template.render(item), **self.params}
        try:
            content, info = self._ask(body)
        except _ItemFailure as exc:
            meta.update(outcome="error", error=self._scrub(str(exc)))
            if exc.status is not None:
                meta["status"] = exc.status
            return ScoreResult(None, None, meta)
        meta.update(info)
        parsed = template.parse(content, item)
        raw = self._scrub(content)
        meta["raw"] = raw if len(raw) <= RAW_EXCERPT_CHARS else raw[: RAW_EXCERPT_CHARS - 1] + "…"
        meta["outcome"] = parsed.outcome
        if parsed.value is not None:
            meta["extracted"] = parsed.value
        if parsed.reason is not None:
            meta["reason"] = parsed.reason
        score = None if parsed.is_correct is None else float(parsed.is_correct)
        return ScoreResult(parsed.is_correct, score, meta)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LLMJudge:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the request and its retries -------------------------------------------
    def _ask(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        url = f"{_public_url(self.base_url)}/chat/completions"
        last: _ItemFailure | None = None
        refused: str | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._sleep(self._delay(attempt, last))
            with self._lock:
                self.requests_sent += 1
            try:
                response = self._http.post("/chat/completions", json=body)
            except httpx.ConnectError as exc:
                refused = self._scrub(str(exc)) or type(exc).__name__
                last = _ItemFailure(f"could not connect to {url}: {refused}")
                continue
            except httpx.TimeoutException as exc:
                refused = None
                last = _ItemFailure(f"{url} did not answer within {self.timeout_s:g} s ({type(exc).__name__})")
                continue
            except httpx.HTTPError as exc:
                refused = None
                last = _ItemFailure(f"the connection to {url} failed: {type(exc).__name__}: {self._scrub(str(exc))}")
                continue
            refused = None
            status = response.status_code
            if status in (401, 403):
                raise JudgeError(
                    f"the judge at {url} rejected the API key (HTTP {status})",
                    hint=f"check the key: {MISSING_KEY_HINT}",
                )
            if status == 404:
                raise JudgeError(
                    f"the judge at {url} answered HTTP 404: {self._detail(response)}",
                    hint=f"check --eval-base-url and that the model {self.model!r} exists there",
                )
            if status == 429 or status >= 500 or status == 408:
                last = _ItemFailure(
                    f"{url} answered HTTP {status}: {self._detail(response)}",
                    status=status,
                    retry_after_s=_retry_after_s(response),
                )
                continue
            if status >= 400:
                raise _ItemFailure(f"{url} answered HTTP {status}: {self._detail(response)}", status=status)
            try:
                return _content(response), {"attempts": attempt + 1, **_usage_info(response)}
            except _ItemFailure as exc:
                last = exc
                continue
        assert last is not None
        if refused is not None:
            raise JudgeError(
                f"cannot reach the judge at {url} after {self.max_retries + 1} tries ({refused})",
                hint="check --eval-base-url, or start the server it names",
            )
        raise _ItemFailure(f"{last} (gave up after {self.max_retries + 1} tries)", status=last.status)

    def _delay(self, attempt: int, last: _ItemFailure | None) -> float:
        if last is not None and last.retry_after_s is not None:
            return min(last.retry_after_s, self.max_backoff_s)
        ceiling = min(self.max_backoff_s, self.backoff_s * (2 ** (attempt - 1)))
        # "equal jitter": at least half the step, so retries never bunch up at zero
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _detail(self, response: httpx.Response) -> str:
        text = response.text
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            err = obj.get("error", obj.get("detail"))
            if isinstance(err, dict):
                text = str(err.get("message") or err)
            elif err:
                text = str(err)
        return excerpt(self._scrub(text)) or "(empty body)"

    def _scrub(self, text: str) -> str:
        if self._key:
            text = text.replace(self._key, "<redacted>")  # a key too short for the registry still goes
        return _KEYISH.sub("<redacted>", secrets.scrub(text))


def _content(response: httpx.Response) -> str:
    try:
        obj = response.json()
    except ValueError as exc:
        raise _ItemFailure(f"the judge's answer is not JSON: {excerpt(response.text)}") from exc
    if not isinstance(obj, dict):
        raise _ItemFailure(f"the judge's answer is not a JSON object: {excerpt(response.text)}")
    if "error" in obj:
        raise _ItemFailure(f"the judge reported an error: {excerpt(str(obj['error']))}")
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _ItemFailure(f"the judge's answer has no choices: {excerpt(response.text)}")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    # null content (a refusal, or all tokens spent on reasoning) is an answer that cannot be parsed
    return content if isinstance(content, str) else ""


def _usage_info(response: httpx.Response) -> dict[str, Any]:
    obj = response.json()
    out: dict[str, Any] = {}
    choice = obj["choices"][0]
    if choice.get("finish_reason"):
        out["finish_reason"] = str(choice["finish_reason"])
    if isinstance(obj.get("model"), str):
        out["judge_model"] = obj["model"]
    usage = obj.get("usage")
    if isinstance(usage, dict):
        out["usage"] = {k: usage[k] for k in ("prompt_tokens", "completion_tokens") if isinstance(usage.get(k), int)}
    return out


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _public_url(url: str) -> str:
    """The URL without user:password, so it can be written down."""
    parsed = httpx.URL(url)
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    return str(parsed).rstrip("/")
