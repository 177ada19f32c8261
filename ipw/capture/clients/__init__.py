"""Inference clients: one module per backend, all keeping the ``InferenceClient`` contract.

    openai     any OpenAI-compatible HTTP server (httpx, streaming SSE)
    ollama     an Ollama server through the ``ollama`` package     (extra: ollama)
    vllm       vLLM's offline engine in process, not streaming      (extra: vllm)
    llamacpp   llama.cpp in process through llama-cpp-python        (extra: llamacpp)

Each backend module imports its optional package only when a client is made,
so ``import ipw.capture.clients`` never needs one. Look clients up by id
through ``ipw.registry.REGISTRY``.
"""

from __future__ import annotations

from .base import Chunk, ChunkRun, Completion, InferenceClient
from .llamacpp import LlamaCppClient
from .ollama import OllamaClient
from .openai import OpenAIClient
from .vllm import VLLMClient

__all__ = [
    "Chunk",
    "ChunkRun",
    "Completion",
    "InferenceClient",
    "OpenAIClient",
    "OllamaClient",
    "VLLMClient",
    "LlamaCppClient",
]
