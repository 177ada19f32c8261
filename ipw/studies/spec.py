"""A study file (TOML) and the cells its matrix expands into.

Keys are ``ipw profile`` option names with underscores. ``client_param``,
``dataset_param``, ``gen_param``, ``eval_param`` and ``resources`` (what a
Ray task asks for, e.g. ``{GPU = 1}``) are tables; a matrix key may name one
entry as ``"gen_param.max_tokens"``. Every combination of the ``[matrix]``
lists is one cell, each cell one ordinary run named after its parameters
(``max_concurrency=4, gen_param.max_tokens=16`` is ``mc4-max_tokens16``), so
the name is the same on every rerun and safe in any file system. A swept
credential is named by a digest of its value, never by the value.

The file is untrusted input: it is read as a regular file of at most
:data:`MAX_STUDY_BYTES`, its values are type-checked (:mod:`.keys`), its
credentials registered (:mod:`.redaction`), and a matrix of more than
:data:`MAX_CELLS` cells is refused before anything is expanded or created.

A ``[server]`` table starts an inference server for each cell (see
:mod:`ipw.capture.server_process`): ``command``, ``health_url``,
``startup_timeout_s``, ``cooldown_s``, ``idle_within_pct``, ``idle_timeout_s``,
and any other entry ``NAME`` fills ``{NAME}`` in the command; a matrix key
``"server.NAME"`` sweeps it. Every placeholder must be filled and every such
entry used, so a misspelt key is refused rather than ignored.

``repeats = "auto"`` (with ``max_repeats``, ``min_repeats``, ``repeat_target``
and ``repeat_metric``) repeats each cell until the interval of its figure is
tight (see :mod:`.repeats`); its cells are each combination × ``max_repeats``.

``search = "goodput"`` (with ``slo``, ``search_high``, ``search_low``,
``target_attainment``, ``search_axis``) searches each cell for the highest
concurrency (or request rate) whose SLO attainment meets the target (see
:mod:`.goodput`); the axis it varies is the search's, so [base] and [matrix]
may not set it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._untrusted import InputRefused, read_regular
from ..capture.config import CaptureConfig, EvalSettings
from ..capture.settings import KEY, convert_settings
from ..errors import UsageError
from .goodput import SEARCH_KEYS, SearchSettings, search_settings
from .keys import CAPTURE_KEYS, EVAL_KEYS, SCALAR_KEYS, SERVER_KEYS, TABLE_KEYS, check_server_value, check_value
from .redaction import is_secret_key, register_secrets, scrub_text
from .repeats import DEFAULT_METRIC, RepeatRule

_AUTO_KEYS = ("max_repeats", "min_repeats", "repeat_target", "repeat_metric")

if TYPE_CHECKING:
    from ..capture.server_process import ServerSpec

__all__ = ["StudySpec", "Cell", "load_spec", "parse_spec", "cell_name", "TABLE_KEYS", "SCALAR_KEYS",
           "MAX_CELLS", "MAX_STUDY_BYTES"]

# one study is one folder of runs a person compares; past this it is a mistake (two 1,000-value axes)
MAX_CELLS = 10_000
MAX_STUDY_BYTES = 1024**2
_TOP_KEYS = ("name", "output_dir", "staging_dir", "base", "matrix", "repeats", "server", *_AUTO_KEYS, *SEARCH_KEYS)
_FILLED_BY_IPW = frozenset({"port", "model", "model_path", "python"})
# short names for the settings most often swept; any other key is named by its last dotted part
_SHORT = {"max_concurrency": "mc", "request_rate": "rate", "max_queries": "n", "warmup_queries": "warmup",
          "sample_interval_ms": "interval_ms", "client_base_url": "url", "max_retries": "retries"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 96


@dataclass(frozen=True)
class Cell:
    """One combination of matrix values: one ordinary run."""

    name: str
    params: dict[str, Any]      # the matrix values that define it (dotted keys), plus ``repeat`` when repeated
    settings: dict[str, Any]    # [base] with the params applied: profile option names, tables nested

    @property
    def resources(self) -> dict[str, float]:
        return dict(self.settings.get("resources") or {})

    def capture_config(self, runs_dir: Path) -> CaptureConfig:
        """The run's settings, converted into their Struct: a value out of range (a swept
        ``max_concurrency = 0``) fails this cell alone, named as the study file names it."""
        values = {k: v for k, v in self.settings.items() if k in CAPTURE_KEYS}
        return convert_settings(CaptureConfig, values, spell=KEY, output_dir=str(runs_dir), run_name=self.name)

    def server_spec(self) -> ServerSpec | None:
        """How to start this cell's server ([server] with its swept values), or None without one."""
        table = self.settings.get("server")
        if not table:
            return None
        from ..capture.server_process import ServerSpec

        known = {k: table[k] for k in SERVER_KEYS if k in table}
        values = {k: v for k, v in table.items() if k not in SERVER_KEYS}
        return ServerSpec(values=values, **known)

    def eval_settings(self) -> EvalSettings:
        """How this cell's answers are judged (``eval_*``, ``eval_param``, ``no_eval``)."""
        return convert_settings(EvalSettings, {k: v for k, v in self.settings.items() if k in EVAL_KEYS}, spell=KEY)


@dataclass(frozen=True)
class StudySpec:
    """A parsed study file."""

    name: str
    output_dir: str
    base: dict[str, Any]
    matrix: dict[str, list[Any]]
    repeats: int = 1
    staging_dir: str | None = None
    server: dict[str, Any] | None = None  # the [server] table as written
    repeat_rule: RepeatRule | None = None  # repeats = "auto": when a cell's repeats stop (repeats is max_repeats)
    search: SearchSettings | None = None  # search = "goodput": each cell searched for its goodput level
    text: str = field(default="", repr=False)  # the TOML as written, credentials cut out: saved as study.toml

    @property
    def study_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    def cells(self) -> list[Cell]:
        """Every cell, in matrix order (the first key varies slowest)."""
        keys = list(self.matrix)
        combos = list(itertools.product(*(self.matrix[k] for k in keys))) or [()]
        out = []
        for combo in combos:
            for repeat in range(1, self.repeats + 1):
                params = dict(zip(keys, combo))
                if self.repeats > 1:
                    params["repeat"] = repeat
                base = {**self.base, "server": dict(self.server)} if self.server else self.base
                out.append(Cell(name="", params=params, settings=_apply(base, params)))
        names = _unique_names([p.params for p in out])
        return [Cell(name=n, params=c.params, settings=c.settings) for n, c in zip(names, out)]


def load_spec(path: Path) -> StudySpec:
    """Read and check a study file; its name defaults to the file's stem."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"study file {path} does not exist", hint="pass a TOML file like examples/study.toml")
    try:
        text = read_regular(path, MAX_STUDY_BYTES).decode("utf-8")
    except InputRefused as exc:
        raise UsageError(f"study file refused: {exc}",
                         hint=f"pass a regular UTF-8 TOML file of at most {MAX_STUDY_BYTES} bytes") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read study file {path}: {exc}", hint="pass a readable UTF-8 TOML file") from None
    return parse_spec(text, default_name=path.stem, where=str(path))


def parse_spec(text: str, *, default_name: str = "study", where: str = "study file") -> StudySpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where} is not valid TOML: {exc}", hint="fix the file; see examples/study.toml") from exc
    except RecursionError:
        raise UsageError(f"{where} nests arrays or tables too deeply to be read",
                         hint="a study file holds plain values, lists and small tables") from None
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise UsageError(f"{where}: unknown top-level key(s) {', '.join(unknown)}",
                         hint=f"top-level keys are {', '.join(_TOP_KEYS)}; run settings go in [base] or [matrix]")
    base = data.get("base", {})
    matrix = dict(data.get("matrix", {}))
    if not isinstance(base, dict) or not isinstance(matrix, dict):
        raise UsageError(f"{where}: [base] and [matrix] must be tables", hint="see examples/study.toml")
    repeats = matrix.pop("repeats", data.get("repeats", 1))
    rule = _repeat_rule(data, repeats, where)
    if rule is not None:
        repeats = rule.max_repeats
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= 1000:
        raise UsageError(f"{where}: repeats must be a whole number from 1 to 1000, got {repeats!r}")
    for key, value in base.items():
        _check_key(key, where, "[base]")
        check_value(where, "[base]", key, value, ranges=True)  # a [base] value is every cell's
    server = _check_server(data.get("server"), matrix, where)
    search = search_settings(data, where)
    if search is not None and (search.search_axis in base or search.search_axis in matrix):
        table = "[base]" if search.search_axis in base else "[matrix]"
        raise UsageError(f"{where}: {table} sets {search.search_axis}, which the goodput search varies",
                         hint="remove it; search_low and search_high bound the search")
    for key, values in matrix.items():
        _check_key(key, where, "[matrix]", server=server is not None)
        if not isinstance(values, list) or not values:
            raise UsageError(f"{where}: [matrix] {key} must be a non-empty list of values",
                             hint=f'e.g. "{key}" = [1, 4]')
        for value in values:
            if key.startswith("server."):
                check_server_value(where, "[matrix]", key.partition(".")[2], value)
            else:
                check_value(where, "[matrix]", key, value)
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise UsageError(f"{where}: [matrix] {key} lists a value twice", hint="each value once; use repeats")
    n_cells = math.prod(len(v) for v in matrix.values()) * repeats
    if n_cells > MAX_CELLS:
        sizes = " x ".join(str(len(v)) for v in matrix.values()) + (f" x {repeats} repeats" if repeats > 1 else "")
        raise UsageError(f"{where}: the matrix has {n_cells} cells ({sizes}), more than the {MAX_CELLS} allowed",
                         hint="sweep fewer values, or split it into several studies")
    merged = _apply(base, {k: v[0] for k, v in matrix.items()})
    missing = [k for k in ("client", "model") if k not in merged]
    if missing:
        raise UsageError(f"{where}: no {' or '.join(missing)} given", hint="set them in [base] (or sweep them in [matrix])")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name or _UNSAFE.sub("", name) != name or name in (".", ".."):
        raise UsageError(f"{where}: study name {name!r} is not a plain folder name",
                         hint="use letters, digits, '.', '_' and '-'")
    output_dir = data.get("output_dir", "studies")
    staging = data.get("staging_dir")
    if not isinstance(output_dir, str) or (staging is not None and not isinstance(staging, str)):
        raise UsageError(f"{where}: output_dir and staging_dir must be strings (folder paths)")
    credentials = register_secrets(base, matrix) + _server_secrets(server, matrix)
    return StudySpec(name=name, output_dir=output_dir, base=base, matrix=matrix, repeats=repeats,
                     staging_dir=staging, server=server, repeat_rule=rule, search=search, text=scrub_text(text, credentials))


def _repeat_rule(data: dict[str, Any], repeats: Any, where: str) -> RepeatRule | None:
    """``repeats = "auto"`` and its settings, checked; None for a fixed count (whose settings are refused)."""
    given = [k for k in _AUTO_KEYS if k in data]
    if repeats != "auto":
        if given:
            raise UsageError(f"{where}: {given[0]} only applies with repeats = \"auto\"",
                             hint='add repeats = "auto", or remove it')
        return None
    max_repeats = data.get("max_repeats", 10)
    if isinstance(max_repeats, bool) or not isinstance(max_repeats, int) or not 2 <= max_repeats <= 1000:
        raise UsageError(f"{where}: max_repeats must be a whole number from 2 to 1000, got {max_repeats!r}")
    min_repeats = data.get("min_repeats", min(3, max_repeats))
    if isinstance(min_repeats, bool) or not isinstance(min_repeats, int) or not 2 <= min_repeats <= max_repeats:
        raise UsageError(f"{where}: min_repeats must be a whole number from 2 to max_repeats ({max_repeats}), "
                         f"got {min_repeats!r}")
    target = data.get("repeat_target", 0.05)
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not (0 < target <= 10):
        raise UsageError(f"{where}: repeat_target must be a share of the mean above 0 (0.05: ±5 %), got {target!r}")
    metric = data.get("repeat_metric", DEFAULT_METRIC)
    from ..reports.study_table import COLUMNS

    numeric = [c.name for c in COLUMNS if c.kind != "text" and not c.name.startswith("accuracy_ci")]
    if metric not in numeric:
        raise UsageError(f"{where}: repeat_metric {str(metric)[:60]!r} is not a figure of the study report",
                         hint=f"use one of: {', '.join(numeric)}")
    return RepeatRule(target=float(target), max_repeats=max_repeats, min_repeats=min_repeats, metric=metric)


def _check_server(table: Any, matrix: dict[str, Any], where: str) -> dict[str, Any] | None:
    """The [server] table, checked: typed entries, a command, every {NAME} filled and every NAME used."""
    swept = {k.partition(".")[2] for k in matrix if k.startswith("server.")}
    if table is None:
        return None
    if not isinstance(table, dict):
        raise UsageError(f"{where}: server must be a table", hint='write [server] with command = "..."')
    for key, value in table.items():
        check_server_value(where, "[server]", key, value)
    if "command" not in table and "command" not in swept:
        raise UsageError(f"{where}: [server] has no command",
                         hint='e.g. command = "{python} -m llama_cpp.server --model {model_path} --port {port}"')
    given = (set(table) | swept) - set(SERVER_KEYS)
    reserved = sorted(given & _FILLED_BY_IPW)
    if reserved:
        raise UsageError(f"{where}: [server] sets {reserved[0]}, which ipw fills itself",
                         hint="ipw picks the port and fills {model}, {model_path} and {python}; remove it")
    templates = [str(table.get("command", "")), str(table.get("health_url", ""))]
    templates += [str(v) for k in ("server.command", "server.health_url") for v in matrix.get(k, [])]
    named = {m for t in templates for m in re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", t)}
    unfilled = sorted(named - given - _FILLED_BY_IPW)
    if unfilled:
        raise UsageError(f"{where}: the server command names {{{unfilled[0]}}}, which nothing fills",
                         hint=f'set {unfilled[0]} in [server] or sweep "server.{unfilled[0]}"; ipw fills '
                              f"{{port}}, {{model}}, {{model_path}} and {{python}}")
    unused = sorted(given - named)
    if unused:
        raise UsageError(f"{where}: [server] {unused[0]} is not a setting and the command never uses {{{unused[0]}}}",
                         hint=f"settings are {', '.join(SERVER_KEYS)}; any other entry fills its placeholder")
    return table


def _server_secrets(server: dict[str, Any] | None, matrix: dict[str, Any]) -> list[str]:
    """Register the [server] values named like credentials (``api_key``), swept or not; returns them."""
    if server is None:
        return []
    from .. import secrets

    found = [str(v) for k, v in server.items() if secrets.is_secret_name(k)]
    found += [str(v) for k, vs in matrix.items() if k.startswith("server.") and secrets.is_secret_name(k[7:])
              for v in vs]
    for value in found:
        secrets.register(value)
    return sorted(found, key=len, reverse=True)


def _check_key(key: str, where: str, table: str, *, server: bool = False) -> None:
    head, dot, entry = key.partition(".")
    if (dot and head in TABLE_KEYS and entry) or (not dot and key in (*SCALAR_KEYS, *TABLE_KEYS)):
        return
    if server and head == "server" and entry:
        return
    raise UsageError(f"{where}: {table} has an unknown key {key!r}",
                     hint=f"keys are ipw profile's options with underscores ({', '.join(SCALAR_KEYS)}), "
                          f"the tables {', '.join(TABLE_KEYS)}, or one table entry like \"gen_param.max_tokens\"")


def _apply(base: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    settings = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in params.items():
        if key == "repeat":
            continue
        head, dot, entry = key.partition(".")
        if dot:
            settings[head] = {**(settings.get(head) or {}), entry: value}
        else:
            settings[key] = dict(value) if isinstance(value, dict) else value
    return settings


def _label(key: str) -> str:
    return _SHORT.get(key, key.rpartition(".")[2])


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def cell_name(params: dict[str, Any], labels: dict[str, str] | None = None) -> str:
    """The readable run name of a cell: ``mc4-max_tokens16``; ``base`` for a study with no matrix."""
    if not params:
        return "base"
    parts = []
    for key, value in params.items():
        label = "r" if key == "repeat" else (labels or {}).get(key) or _label(key)
        raw = f"h{_digest(value)}" if is_secret_key(key) else _value_text(value)
        text = _UNSAFE.sub("_", raw).strip("_.") or "_"
        parts.append(f"{label}{text}" if text[0].isdigit() or text[0] == "-" else f"{label}_{text}")
    name = "-".join(parts)
    if len(name) > MAX_NAME:
        name = name[: MAX_NAME - 9].rstrip("-_.") + "-" + _digest(params)
    return name


def _digest(params: Any) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _unique_names(all_params: list[dict[str, Any]]) -> list[str]:
    keys = list(all_params[0]) if all_params else []
    short = [_label(k) for k in keys]
    # two keys with one short name (gen_param.seed, dataset_param.seed) are spelled out in full
    labels = {k: (k.replace(".", "_") if short.count(s) > 1 else s) for k, s in zip(keys, short)}
    names = [cell_name(p, labels) for p in all_params]
    clashes = {n for n, times in Counter(names).items() if times > 1}  # one pass: a 10,000-cell study stays linear
    # values that only differ in unsafe characters: a digest of the parameters keeps the names apart
    return [f"{n}-{_digest(p)}" if n in clashes else n for n, p in zip(names, all_params)]
