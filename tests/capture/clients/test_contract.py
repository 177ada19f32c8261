"""The contract every client keeps, run against each of them, plus the package's public surface.

Each registered client is driven by the same stand-in its own tests use: OpenAI and
the plugin client ``echo`` (an OpenAI client shipped by the throwaway distribution
of :mod:`tests._plugins`, built by its registry id) and Ollama by MockTransport (no server can run for them here without a model
download or an Ollama binary), vLLM by the fake engine module, llama.cpp by the
real packaged model.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

import ipw.capture.clients as clients_pkg
from ipw.capture.clients import Chunk, ChunkRun, Completion, InferenceClient
from ipw.capture.clients.base import REDACTED, USAGE_SOURCES, param, redact
from ipw.errors import ConfigError
from ipw.registry import REGISTRY

from tests._plugins import PLUGIN_IDS, installed, write_contract_plugin
from tests.capture.clients._fake_vllm import install as install_fake_vllm

SECRET = "sk-contract-secret-0001"
_OLLAMA = Path(__file__).parent / "fixtures" / "ollama"


PLUGIN = PLUGIN_IDS["clients"]


def _openai(client_id: str = "openai") -> InferenceClient:
    body = (
        'data: {"choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n'
        'data: {"choices":[{"index":0,"delta":{"content":"4"},"finish_reason":"stop"}]}\n\n'
        'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n'
        "data: [DONE]\n\n"
    )
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=body.encode()))
    return REGISTRY.create("clients", client_id, "http://127.0.0.1:9/v1", api_key=SECRET, transport=transport)


def _ollama() -> InferenceClient:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=(_OLLAMA / "chat_stream.ndjson").read_bytes()))
    return REGISTRY.load("clients", "ollama")(headers={"Authorization": f"Bearer {SECRET}"}, transport=transport)


def _vllm(monkeypatch) -> InferenceClient:
    install_fake_vllm(monkeypatch)
    return REGISTRY.load("clients", "vllm")(engine_args={"hf_token": SECRET})


def _llamacpp() -> InferenceClient:
    return REGISTRY.load("clients", "llamacpp")(n_threads=1, n_ctx=256)


@pytest.fixture(params=["openai", "ollama", "vllm", "llamacpp", PLUGIN])
def client(request, monkeypatch, tmp_path):
    makers = {"openai": _openai, "ollama": _ollama, "llamacpp": _llamacpp, PLUGIN: lambda: _openai(PLUGIN)}
    with installed(write_contract_plugin(tmp_path / "site")):
        made = _vllm(monkeypatch) if request.param == "vllm" else makers[request.param]()
        assert made.client_id == request.param
        yield made
        made.close()


def test_stream_yields_chunks_then_exactly_one_completion(client):
    items = list(client.stream("default" if client.client_id == "llamacpp" else "m", "2+2=", {"max_tokens": 4, "temperature": 0}))
    *chunks, last = items
    assert isinstance(last, Completion)
    assert all(isinstance(c, Chunk) and isinstance(c.text, str) and c.n_tokens >= 1 for c in chunks)
    assert last.usage_source in USAGE_SOURCES
    assert last.completion_tokens is None or last.completion_tokens >= 0
    assert last.prompt_tokens is None or last.prompt_tokens > 0


def test_stream_runs_is_the_stream_with_chunks_read_together_as_runs(client):
    """What the runner reads (``stream_runs``) holds exactly what ``stream`` gives, runs flattened."""
    model = "default" if client.client_id == "llamacpp" else "m"
    gen = {"max_tokens": 4, "temperature": 0, "seed": 1}
    flat = []
    for item in client.stream_runs(model, "2+2=", dict(gen)):
        assert isinstance(item, (Chunk, ChunkRun, Completion))
        flat.extend(Chunk(t) for t in item) if type(item) is ChunkRun else flat.append(item)
    assert flat == list(client.stream(model, "2+2=", dict(gen)))


def test_complete_joins_the_stream(client):
    model = "default" if client.client_id == "llamacpp" else "m"
    text, done = client.complete(model, "2+2=", {"max_tokens": 4, "temperature": 0})
    assert isinstance(text, str) and isinstance(done, Completion)


def test_describe_is_json_and_holds_no_secret(client):
    described = client.describe()
    assert described["id"] == client.client_id and "streaming" in described
    text = json.dumps(described)
    assert SECRET not in text


def test_every_registered_client_loads_with_its_id():
    for component in REGISTRY.components("clients"):
        cls = component.load() if component.available else None
        if cls is not None:
            assert issubclass(cls, InferenceClient) and cls.client_id == component.id and cls.client_name


def test_public_surface_is_curated():
    assert sorted(clients_pkg.__all__) == sorted(
        ["Chunk", "ChunkRun", "Completion", "InferenceClient", "OpenAIClient", "OllamaClient", "VLLMClient", "LlamaCppClient"]
    )
    for name in clients_pkg.__all__:
        assert getattr(clients_pkg, name) is not None
    public = {n for n in vars(clients_pkg) if not n.startswith("_")}
    modules = {"base", "openai", "ollama", "vllm", "llamacpp", "annotations"}
    assert public - modules == set(clients_pkg.__all__)


def test_redact_hides_secret_looking_values_at_any_depth():
    given = {"api_key": "a", "headers": {"Authorization": "Bearer b", "X-Trace": "keep"},
             "nested": [{"refresh_token": "c"}], "model": "m", "empty_key": "", "Client-Secret": None}
    # v2 (SPEC §8): every header value is a credential, whatever the header is called
    assert redact(given) == {"api_key": REDACTED, "headers": {"Authorization": REDACTED, "X-Trace": REDACTED},
                             "nested": [{"refresh_token": REDACTED}], "model": "m", "empty_key": "",
                             "Client-Secret": None}


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [("30", float, 30.0), (30, float, 30.0), ("7", int, 7), ("yes", bool, True), ("false", bool, False),
     (True, bool, True), (None, int, None), ("chat", str, "chat")],
)
def test_param_coercion(raw, kind, expected):
    assert param({"p": raw}, "p", kind, 1, "x") == expected


@pytest.mark.parametrize(("raw", "kind"), [("many", int), (True, int), ("maybe", bool), ([1], float)])
def test_param_rejects_what_it_cannot_read(raw, kind):
    with pytest.raises(ConfigError, match="parameter p="):
        param({"p": raw}, "p", kind, None, "x")
