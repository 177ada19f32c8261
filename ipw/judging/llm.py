"""An LLM judge over any OpenAI-compatible ``/chat/completions`` endpoint, through the ``openai`` SDK.

The judge renders the versioned template its prompt set gives each record
(:mod:`ipw.judging.family_prompts`: ``ipw-judge/v1``, or ``ipw-judge/v2``
where an ``llm:<family>`` record gets its family's prompt), asks the
endpoint with ``openai.OpenAI``, and parses the answer strictly. Its spec
(``llm:openai:gpt-5-nano-2025-08-07:ipw-judge/v1``) names the client, the
model and the prompt set; the base URL is left out (the same model behind a
proxy is the same judge) and goes into each verdict's metadata instead,
without credentials. Each verdict's metadata names its ``template`` and, for
a family's prompt, the ``grader`` spec (``llm:simpleqa/v1``) and ``grade``. The API key is only ever sent as the
``Authorization`` header: it is in no spec, repr, message or metadata. A
``user:password@`` in the base URL is sent as HTTP Basic (httpx does that for
a URL with userinfo). The key, that userinfo and every credential-named param
are registered with :mod:`ipw.secrets`, so an endpoint that quotes them back
in an error body or an answer is scrubbed too.

Retrying is the SDK's: 408, 409, 429, 5xx, timeouts and dropped connections
are retried at most ``max_retries`` times with exponential backoff and jitter,
and a ``Retry-After`` header (seconds or an HTTP date, up to the SDK's limit)
is obeyed. This module only decides what a failure that is left means:

    429, 5xx, timeouts, dropped connections (after the retries), a 200 that is
    not a chat completion
        that one query gets ``is_correct=None`` with ``outcome="error"`` in its
        metadata and judging goes on (a later pass asks it again).
    400, 413, 422 (this request cannot be answered)
        the same, at once: the SDK does not retry them.
    401, 403 (the key), 404 (the model or the URL), a refused connection
        after the retries: nothing else can succeed either, so
        :class:`ipw.errors.JudgeError` is raised with what to do.
    an answer that breaks the template's format
        ``is_correct=None`` with ``outcome="unparsed"`` and the raw answer kept:
        unevaluated, never counted as wrong.
    SimpleQA's ``GRADE: NOT_ATTEMPTED`` (the response never committed to an answer)
        ``is_correct=None`` with ``outcome="not_attempted"`` and
        ``grade="NOT_ATTEMPTED"``: unevaluated, not wrong. An empty response to a
        SimpleQA question is graded so without asking; an empty response to any
        other prompt is incorrect (``outcome="empty_answer"``).
"""

from __future__ import annotations

import re
import threading
from typing import Any, Mapping

import httpx
import openai

from .. import secrets
from .._endpoints import excerpt, normalise_base_url
from ..errors import ConfigError, JudgeError
from ..secrets import redact
from .keys import MISSING_KEY_HINT
from .family_prompts import PROMPT_SETS, refusal, template_for
from .prompts import FAMILY_REF, JudgeItem
from .scorers import ScoreResult

__all__ = ["LLMJudge", "DEFAULT_BASE_URL", "DEFAULT_MODEL", "RAW_EXCERPT_CHARS"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-5-nano-2025-08-07"
RAW_EXCERPT_CHARS = 2000
_RESERVED = frozenset({"model", "messages", "stream"})
_KEYISH = re.compile(r"sk-[A-Za-z0-9_*\-]{4,}")
# The SDK insists on a key; a keyless (loopback) judge gives it this one and
# omits the Authorization header from every request, so it is never sent.
_NO_KEY = "ipw-no-key"


class _ItemFailure(Exception):
    """Asking about one query failed; the others may still succeed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMJudge:
    """Judges answers by asking a chat model; one instance is safe to share between threads.

    ``prompts`` is the prompt set (``ipw-judge/v1``, the default, or
    ``ipw-judge/v2`` with each benchmark family's prompt); it ends the spec.
    """

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
        http_client: httpx.Client | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        prompts: str = FAMILY_REF,
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
        if prompts not in PROMPT_SETS:
            raise ConfigError(f"unknown judge prompt set {prompts!r}", hint=f"use one of: {', '.join(PROMPT_SETS)}")
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
        self.prompts = prompts
        self._key = api_key or None
        self._lock = threading.Lock()
        self.requests_sent = 0
        if http_client is None:
            http_client = httpx.Client(
                limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
            )
        # every HTTP request the SDK sends, its retries included, passes this hook
        http_client.event_hooks["request"] = [*http_client.event_hooks["request"], self._count_request]
        self._sdk = openai.OpenAI(
            api_key=self._key or _NO_KEY,
            # the userinfo stays in the URL: httpx sends it as Basic auth, as it did before the SDK
            base_url=self.base_url,
            organization=None,
            project=None,
            timeout=httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 10.0)),
            max_retries=self.max_retries,
            http_client=http_client,
        )
        self._headers: dict[str, Any] = {} if self._key else {"Authorization": openai.Omit()}

    # -- identity ----------------------------------------------------------------
    @property
    def spec(self) -> str:
        """``llm:<client>:<model>:<prompt set>``; stable, and never holds the key or URL."""
        return f"llm:{self.client}:{self.model}:{self.prompts}"

    def describe(self) -> dict[str, Any]:
        """What this judge is, for a run's config or ``ipw list``; never holds a secret."""
        return {
            "spec": self.spec,
            "client": self.client,
            "model": self.model,
            "base_url": _public_url(self.base_url),
            "templates": self.prompts,
            "params": redact(dict(self.params)),
            "auth": "bearer" if self._key else None,
        }

    def __repr__(self) -> str:
        return f"LLMJudge(spec={self.spec!r}, base_url={_public_url(self.base_url)!r})"

    # -- judging -----------------------------------------------------------------
    def unjudgeable(self, item: JudgeItem) -> str | None:
        """Why this judge cannot judge ``item`` (then it is left unjudged), or None."""
        return refusal(self.prompts, item)

    def judge(self, item: JudgeItem) -> ScoreResult:
        """Ask the judge about one answer. Raises :class:`JudgeError` only when no query can succeed."""
        template = template_for(self.prompts, item)
        meta: dict[str, Any] = {"template": template.ref, "judge_base_url": _public_url(self.base_url)}
        if template.grader is not None:
            meta["grader"] = template.grader
        if not item.answer_text.strip():
            meta["reason"] = "the model's answer is empty"
            if template.if_empty is None:
                meta["outcome"] = "empty_answer"
                return ScoreResult(False, 0.0, meta)
            # read as if the judge had answered the template's line, so outcome and grade match an asked verdict
            parsed = template.parse(f"{template.label}: {template.if_empty}", item)
            meta.update(outcome=parsed.outcome, grade=parsed.value)
            return ScoreResult(parsed.is_correct, None if parsed.is_correct is None else float(parsed.is_correct), meta)
        try:
            content, info = self._ask(template.render(item))
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
            if template.grader is not None:
                meta["grade"] = parsed.value
        if parsed.reason is not None:
            meta["reason"] = parsed.reason
        score = None if parsed.is_correct is None else float(parsed.is_correct)
        return ScoreResult(parsed.is_correct, score, meta)

    def close(self) -> None:
        self._sdk.close()

    def __enter__(self) -> LLMJudge:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the request --------------------------------------------------------------
    def _count_request(self, request: httpx.Request) -> None:
        with self._lock:
            self.requests_sent += 1

    def _ask(self, messages: list[dict[str, str]]) -> tuple[str, dict[str, Any]]:
        try:
            raw = self._sdk.chat.completions.with_raw_response.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                extra_body=self.params or None,
                extra_headers=self._headers or None,
            )
        except openai.APIError as exc:
            raise self._failure(exc) from exc
        attempts = raw.retries_taken + 1
        completion = raw.parse()
        # a proxy's HTML page or an error object sent with 200: no answer to this query
        choices = getattr(completion, "choices", None)
        if isinstance(completion, str):
            raise _ItemFailure(f"the judge's answer is not JSON: {excerpt(self._scrub(completion))}")
        if not choices:
            error = getattr(completion, "error", None)
            what = f"reported an error: {error}" if error else "has no choices"
            raise _ItemFailure(f"the judge's answer {what}: {excerpt(self._scrub(raw.http_response.text))}")
        choice = choices[0]
        # null content (a refusal, or all tokens spent on reasoning) is an answer that cannot be parsed
        content = choice.message.content if choice.message is not None else None
        info: dict[str, Any] = {"attempts": attempts}
        if choice.finish_reason:
            info["finish_reason"] = str(choice.finish_reason)
        if isinstance(completion.model, str):
            info["judge_model"] = completion.model
        usage = completion.usage
        if usage is not None:
            counts = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
            info["usage"] = {k: v for k, v in counts.items() if isinstance(v, int)}
        return (content if isinstance(content, str) else ""), info

    def _failure(self, exc: openai.APIError) -> JudgeError | _ItemFailure:
        """What an SDK error, left after its retries, means for this pass."""
        url = f"{_public_url(self.base_url)}/chat/completions"
        tries = self.max_retries + 1
        if isinstance(exc, openai.APITimeoutError):
            return _ItemFailure(f"{url} did not answer within {self.timeout_s:g} s (gave up after {tries} tries)")
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            reason = self._scrub(str(cause)) if cause is not None else ""
            reason = reason or (type(cause).__name__ if cause is not None else self._scrub(exc.message))
            if isinstance(cause, httpx.ConnectError):
                return JudgeError(
                    f"cannot reach the judge at {url} after {tries} tries ({reason})",
                    hint="check --eval-base-url, or start the server it names",
                )
            return _ItemFailure(f"the connection to {url} failed (gave up after {tries} tries): {reason}")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = self._detail(exc)
            if status in (401, 403):
                return JudgeError(
                    f"the judge at {url} rejected the API key (HTTP {status})",
                    hint=f"check the key: {MISSING_KEY_HINT}",
                )
            if status == 404:
                return JudgeError(
                    f"the judge at {url} answered HTTP 404: {detail}",
                    hint=f"check --eval-base-url and that the model {self.model!r} exists there",
                )
            return _ItemFailure(f"{url} answered HTTP {status}: {detail}", status=status)
        return _ItemFailure(f"the judge's answer could not be read: {self._scrub(str(exc))}")

    def _detail(self, exc: openai.APIStatusError) -> str:
        """The error's message, from the body the SDK parsed (``error.message``, ``detail``) or its text."""
        body = exc.body
        if isinstance(body, dict):
            body = body.get("message") or body.get("detail") or body
        text = body if isinstance(body, str) else exc.response.text
        return excerpt(self._scrub(str(text))) or "(empty body)"

    def _scrub(self, text: str) -> str:
        if self._key:
            text = text.replace(self._key, "<redacted>")  # a key too short for the registry still goes
        return _KEYISH.sub("<redacted>", secrets.scrub(text))


def _public_url(url: str) -> str:
    """The URL without user:password, so it can be written down."""
    parsed = httpx.URL(url)
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    return str(parsed).rstrip("/")
