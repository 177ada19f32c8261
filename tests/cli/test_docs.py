"""The documentation is tested: every command has help with an example, and the README names it.

Commands are enumerated from the click group itself (the lazily registered
ones included), so a new command or ``ipw ledger`` subcommand without an
``Example:`` in its help, or without a mention in README.md, fails here.
The examples themselves must parse with the command they document.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from ipw.cli import cli as ipw_group

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(group, info_name=path[-1])
    names = sorted(set(group.list_commands(ctx)) | set(group.commands))
    out = []
    for name in names:
        command = group.get_command(ctx, name) or group.commands.get(name)
        assert command is not None, f"{' '.join(path)} lists {name!r} but cannot load it"
        out.append(((*path, name), command))
        if isinstance(command, click.Group):
            out.extend(_commands(command, (*path, name)))
    return out


COMMANDS = _commands(ipw_group, ("ipw",))
IDS = [" ".join(path) for path, _ in COMMANDS]


def _example_lines(help_text: str) -> list[str]:
    """The command lines of the help's ``Example:`` block (``\\b`` markers and blank lines dropped)."""
    _, found, block = help_text.partition("Example:")
    assert found
    lines = []
    for line in block.splitlines():
        text = line.strip()
        if text and text != "\b":
            lines.append(text)
    return lines


def test_the_enumeration_finds_the_commands() -> None:
    """The walk above really reaches the lazily registered commands and the ledger subcommands."""
    assert {"ipw profile", "ipw record", "ipw replay", "ipw diff", "ipw query", "ipw ledger",
            "ipw ledger pack", "ipw ledger unpack", "ipw ledger import-power"} <= set(IDS)


@pytest.mark.parametrize(("path", "command"), [(("ipw",), ipw_group), *COMMANDS], ids=["ipw", *IDS])
def test_help_has_a_runnable_example(path: tuple[str, ...], command: click.Command) -> None:
    help_text = command.help or ""
    assert help_text.strip(), f"{' '.join(path)} has no help text"
    assert "Example:" in help_text, f"{' '.join(path)}: its help has no 'Example:' block"
    examples = _example_lines(help_text)
    assert examples, f"{' '.join(path)}: the 'Example:' block is empty"
    for line in examples:
        words = shlex.split(line)
        assert tuple(words[: len(path)]) == path, f"{' '.join(path)}: example {line!r} runs another command"
        if isinstance(command, click.Group):
            continue  # a group's example names one of its subcommands, checked on its own
        # the example's options and arguments are ones the command accepts
        command.make_context(path[-1], words[len(path):], resilient_parsing=False)


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=IDS)
def test_help_is_shown_through_the_error_boundary(path: tuple[str, ...], cli) -> None:
    result = cli(*path[1:], "--help")
    assert result.exit_code == 0, result.stderr
    assert "Example:" in result.stdout and result.stdout.startswith("Usage: ipw")


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=IDS)
def test_readme_documents_the_command(path: tuple[str, ...]) -> None:
    name = " ".join(path)
    # "ipw ledger import" must not be satisfied by "ipw ledger import-power"
    assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", README), f"README.md never mentions '{name}'"


def _bash_blocks(text: str) -> list[list[str]]:
    return [block.splitlines() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_test_command_is_what_ci_runs() -> None:
    command = "pip install -e '.[dev]' && python -m pytest -q"
    quick_start = README.split("## Quick start", 1)[1]
    first_block = _bash_blocks(quick_start)[0]
    assert command in [line.strip() for line in first_block]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines, ".ci/run no longer runs the README's test command verbatim"


def test_quick_start_begins_with_the_embedded_profile() -> None:
    quick_start = README.split("## Quick start", 1)[1]
    first_command = _bash_blocks(quick_start)[0][0]
    assert "ipw profile --client llamacpp --model gemma-3-270m" in first_command


def _readme_ipw_lines() -> list[str]:
    lines = []
    for block in _bash_blocks(README):
        joined = "\n".join(block).replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            for part in line.split("&&"):
                if part.strip().startswith("ipw "):
                    lines.append(part.strip())
    return lines


@pytest.mark.parametrize("line", _readme_ipw_lines())
def test_readme_examples_parse(line: str) -> None:
    """Every ``ipw …`` line in the README's shell blocks names a real command with options it accepts."""
    words = shlex.split(line)[1:]
    command: click.Command = ipw_group
    path = ["ipw"]
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        ctx = click.Context(command, info_name=path[-1])
        sub = command.get_command(ctx, words[0])
        assert sub is not None, f"README: {line!r}: no command {' '.join([*path, words[0]])!r}"
        command, path, words = sub, [*path, words[0]], words[1:]
    assert not isinstance(command, click.Group), f"README: {line!r} stops at a group"
    command.make_context(path[-1], words, resilient_parsing=False)
