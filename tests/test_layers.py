"""The package's layers, as documented in ``ipw/__init__.py``: each imports only the layers above it.

Every module's imports are read with ``ast`` (top-level and deferred ones,
``TYPE_CHECKING`` ones too) and checked against that order, so an upward
import fails here instead of growing into a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ipw

PACKAGE = Path(ipw.__file__).resolve().parent

# The documented order, top first; a module may import its own layer and any above it.
LAYERS = ["foundations", "events", "ledger", "replay", "capture", "agent", "proxy", "judging", "analyses", "reports", "plugins", "api",
          "studies", "cli"]
FOUNDATIONS = {"ipw", "errors", "secrets", "_untrusted", "_sandbox", "_atomic", "_endpoints", "registry"}

# Known upward imports, each deferred inside a function and each with its reason. Add none lightly.
# None is left: move the code to the layer it belongs to instead (select_judge went down to replay).
EXCEPTIONS: set[tuple[str, str]] = set()


def module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "ipw"
    return "foundations" if top in FOUNDATIONS else top


def imports_of(path: Path, root: Path = PACKAGE.parent) -> list[tuple[str, int, bool]]:
    """(imported ipw module, line, at module level) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in top_level) for a in node.names if a.name.split(".")[0] == "ipw"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "ipw":
                continue
            if target == "ipw" or (node.module is None and node.level):
                # ``from .. import secrets``: the names are modules where such a module exists
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    exists = (root / Path(*sub.split("."))).with_suffix(".py").exists() or \
                        (root / Path(*sub.split("."))).is_dir()
                    out.append((sub if exists else target, node.lineno, id(node) in top_level))
            else:
                out.append((target, node.lineno, id(node) in top_level))
    return out


def violations(files: list[Path], root: Path = PACKAGE.parent) -> list[str]:
    found = []
    for path in files:
        me = module_name(path, root)
        mine = LAYERS.index(layer_of(me))
        for target, line, _ in imports_of(path, root):
            theirs = LAYERS.index(layer_of(target))
            if theirs > mine and (me, target) not in EXCEPTIONS:
                found.append(f"{path.relative_to(root)}:{line}: {layer_of(me)} imports {target} ({layer_of(target)}, below it)")
    return found


def command_violations(cli_dir: Path, root: Path = PACKAGE.parent) -> list[str]:
    """Imports of one ``ipw/cli/*_cmd.py`` module by another ``ipw/cli`` module."""
    commands = {p.stem for p in cli_dir.glob("*_cmd.py")}
    found = []
    for path in sorted(cli_dir.glob("*.py")):
        for target, line, _ in imports_of(path, root):
            name = target.rpartition(".")[2]
            if target.startswith("ipw.cli.") and name in commands and name != path.stem:
                found.append(f"ipw/cli/{path.name}:{line} imports the command module {target}")
    return found


def all_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_documented_order_is_the_one_checked() -> None:
    doc = ipw.__doc__ or ""
    positions = [doc.find(f"\n  {name} ") for name in LAYERS if name != "foundations"]
    assert all(p >= 0 for p in positions), "a layer is missing from the order in ipw/__init__.py"
    assert positions == sorted(positions), "ipw/__init__.py lists the layers in another order than this test checks"
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()} | {"api"}
    assert packages <= set(LAYERS), f"packages without a layer: {packages - set(LAYERS)}"


def test_every_module_imports_only_layers_above_it() -> None:
    assert not violations(all_modules()), "\n".join(violations(all_modules()))


def test_the_exceptions_are_still_needed() -> None:
    """An exception whose import is gone is removed from the list, so the list only shrinks."""
    seen = {(module_name(p), t) for p in all_modules() for t, _, _ in imports_of(p)}
    assert EXCEPTIONS <= seen, f"no longer imported: {EXCEPTIONS - seen}"
    for p in all_modules():
        for target, _, top in imports_of(p):
            if (module_name(p), target) in EXCEPTIONS:
                assert not top, f"{module_name(p)} imports {target} at module level: a cycle waits there"


def test_replay_needs_only_events_and_the_ledger() -> None:
    replay = [p for p in all_modules() if module_name(p).startswith("ipw.replay")]
    layers = {layer_of(t) for p in replay for t, _, _ in imports_of(p)}
    assert layers <= {"foundations", "events", "ledger", "replay"}, layers


def test_judging_needs_neither_capture_nor_analyses() -> None:
    """Judges read a run view and talk to services through foundations, never through a client or an analysis."""
    judging = [p for p in all_modules() if module_name(p).startswith("ipw.judging")]
    layers = {layer_of(t) for p in judging for t, _, _ in imports_of(p)}
    assert layers <= {"foundations", "events", "ledger", "replay", "judging"}, layers


def test_no_command_module_imports_another() -> None:
    found = command_violations(PACKAGE / "cli")
    assert not found, "\n".join(found) + "\nshare option bundles and helpers through ipw/cli/_options.py"


def test_the_checks_fail_on_an_upward_import(tmp_path: Path) -> None:
    """The checkers themselves, on a small tree: a ledger module importing replay, a command importing a command."""
    for folder in ("ipw/ledger", "ipw/replay", "ipw/cli"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "ipw" / "__init__.py").write_text("")
    probe = tmp_path / "ipw" / "ledger" / "probe.py"
    probe.write_text("from ..replay import load_run\nfrom .. import errors\n")
    (tmp_path / "ipw" / "replay" / "engine.py").write_text("from ..ledger import probe\n")
    (tmp_path / "ipw" / "cli" / "capture_cmd.py").write_text("")
    (tmp_path / "ipw" / "cli" / "replay_cmd.py").write_text("def f():\n    from .capture_cmd import record\n")
    found = violations(sorted((tmp_path / "ipw").rglob("*.py")), tmp_path)
    assert found == ["ipw/ledger/probe.py:1: ledger imports ipw.replay (replay, below it)"]
    assert command_violations(tmp_path / "ipw" / "cli", tmp_path) == [
        "ipw/cli/replay_cmd.py:2 imports the command module ipw.cli.capture_cmd"]
