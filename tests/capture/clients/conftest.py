"""Shared fixtures for the client tests: the packaged GGUF and a copy of it with a chat template.

The real server fixture, ``llama_server_url``, lives in tests/conftest.py so the
whole session shares one ``llama_cpp.server``.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path
import pytest

from tests._servers import packaged_model

# A small Gemma-style chat template, written for these tests.
CHAT_TEMPLATE = (
    "{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
    "{{ m['content'] }}<end_of_turn>\n{% endfor %}<start_of_turn>model\n"
)
_GGUF_STRING = 8
_GGUF_DEFAULT_ALIGNMENT = 32


def add_chat_template(src: Path, dst: Path, template: str, alignment: int = _GGUF_DEFAULT_ALIGNMENT) -> Path:
    """Copy a GGUF file with a ``tokenizer.chat_template`` key added to its metadata.

    GGUF is: magic, version (u32), tensor count (u64), key/value count (u64),
    the key/value pairs, the tensor infos, padding to ``alignment``, then the
    tensor data, whose offsets are relative to its own start. The new pair goes
    first, and a Jinja comment pads it to a multiple of ``alignment`` bytes, so
    everything after it moves by whole alignment units and stays valid.
    """

    def encode(value: str) -> bytes:
        key = b"tokenizer.chat_template"
        raw = value.encode()
        return struct.pack("<Q", len(key)) + key + struct.pack("<I", _GGUF_STRING) + struct.pack("<Q", len(raw)) + raw

    entry = encode(template)
    if len(entry) % alignment:
        pad = -(len(entry) + len("{##}")) % alignment
        entry = encode(template + "{#" + " " * pad + "#}")
    assert len(entry) % alignment == 0
    with src.open("rb") as fin, dst.open("wb") as fout:
        header = fin.read(24)
        magic, (version, n_tensors, n_kv) = header[:4], struct.unpack("<IQQ", header[4:])
        assert magic == b"GGUF" and version >= 2, "not a GGUF v2+ file"
        fout.write(magic + struct.pack("<IQQ", version, n_tensors, n_kv + 1))
        fout.write(entry)
        shutil.copyfileobj(fin, fout, 1 << 20)
    return dst


@pytest.fixture(scope="session")
def gemma_gguf() -> Path:
    """The real gemma-3-270m base model (no chat template) from its PyPI package."""
    return packaged_model()


@pytest.fixture(scope="session")
def templated_gguf(gemma_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same model with a chat template in its metadata, to drive the chat path for real."""
    return add_chat_template(gemma_gguf, tmp_path_factory.mktemp("gguf") / "gemma-3-270m-chat.gguf", CHAT_TEMPLATE)
