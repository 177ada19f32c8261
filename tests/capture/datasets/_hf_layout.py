"""Write datasets exactly as HF ``datasets`` ``save_to_disk`` lays them out, with pyarrow only.

``datasets`` itself is not installed here (it pulls a large dependency tree);
these writers reproduce its on-disk format: an Arrow IPC *stream* named
``data-00000-of-00001.arrow`` with the ``huggingface`` schema metadata,
``dataset_info.json``, ``state.json`` listing ``_data_files``, and for a
DatasetDict a ``dataset_dict.json`` with one sub-folder per split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

_DTYPES = {pa.string(): "string", pa.int64(): "int64", pa.float64(): "float64", pa.bool_(): "bool"}


def _features(schema: pa.Schema) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for field in schema:
        if pa.types.is_list(field.type):
            inner = _DTYPES.get(field.type.value_type, "string")
            features[field.name] = {"feature": {"dtype": inner, "_type": "Value"}, "_type": "Sequence"}
        else:
            features[field.name] = {"dtype": _DTYPES.get(field.type, "string"), "_type": "Value"}
    return features


def save_dataset(folder: Path, rows: list[dict[str, Any]], *, shards: int = 1) -> Path:
    """One Dataset as ``Dataset.save_to_disk(folder)`` writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows)
    info = {"citation": "", "description": "", "features": _features(table.schema), "homepage": "", "license": ""}
    table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": info["features"]}})})
    per_shard = -(-len(rows) // shards)
    names = []
    for index in range(shards):
        name = f"data-{index:05d}-of-{shards:05d}.arrow"
        part = table.slice(index * per_shard, per_shard)
        with pa.OSFile(str(folder / name), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(part)
        names.append(name)
    (folder / "dataset_info.json").write_text(json.dumps(info, indent=2))
    state = {
        "_data_files": [{"filename": name} for name in names],
        "_fingerprint": "0123456789abcdef",
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": None,
    }
    (folder / "state.json").write_text(json.dumps(state, indent=2))
    return folder


def save_dataset_dict(folder: Path, splits: dict[str, list[dict[str, Any]]]) -> Path:
    """A DatasetDict as ``DatasetDict.save_to_disk(folder)`` writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": list(splits)}))
    for name, rows in splits.items():
        save_dataset(folder / name, rows)
    return folder
