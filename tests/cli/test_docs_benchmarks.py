"""The README's Benchmarks section is tested: its catalogue table, its plugin dataset and its worked study.

The table must list exactly the catalogue's entries, in order, with their
Hub id, config, split, grader and size, so adding or changing an entry
without the README fails here. The plugin example is run as written, and
the worked study is parsed by the real study parser, its cells named as the
README's ``--cascade`` line and routing excerpt name them.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from ipw.capture.datasets.base import SCORER_NAMES, DatasetProvider, validate_record
from ipw.capture.datasets.catalogue import CATALOGUE
from ipw.studies.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    level = len(heading.split(" ", 1)[0])
    _, found, rest = text.partition(f"\n{heading}\n")
    assert found, f"README.md has no {heading!r} section"
    out, fenced = [], False
    for line in rest.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,%d} " % level, line):  # a '# comment' in a code block is no heading
            break
        out.append(line)
    return "".join(out)


BENCHMARKS = _section(README, "## Benchmarks")


def _block(text: str, lang: str) -> str:
    found = re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)
    assert found, f"no ```{lang} block"
    return found[0]


def _catalogue_rows() -> list[list[str]]:
    table = BENCHMARKS.split("| id | what it is | Hub id | config | split | grader | size |", 1)[1]
    rows = []
    for line in table.strip().splitlines()[1:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _code(cell: str) -> str:
    assert cell.startswith("`") and cell.endswith("`"), f"{cell!r} is not written as code"
    return cell[1:-1]


def test_the_table_lists_exactly_the_catalogue_in_order() -> None:
    assert [_code(row[0]) for row in _catalogue_rows()] == list(CATALOGUE)


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_each_row_says_what_the_catalogue_says(name: str) -> None:
    entry = CATALOGUE[name]
    row = next(r for r in _catalogue_rows() if _code(r[0]) == name)
    _, what, repo, config, split, grader, size = row
    assert what.startswith(entry.title), f"{name}: 'what it is' should start with {entry.title!r}"
    assert ("gated" in what.lower()) == entry.gated
    assert _code(repo) == entry.repo
    assert (None if config == "—" else _code(config)) == entry.config
    assert split == entry.split
    assert _code(grader) == entry.grader and entry.grader in SCORER_NAMES
    assert int(size.replace(",", "")) == entry.size


def test_every_grader_of_the_catalogue_is_explained() -> None:
    graders = _section(BENCHMARKS, "### Graders")
    for name in {e.grader for e in CATALOGUE.values()}:  # each LLM-judged family has a prompt of its own
        assert f"| `{name}` |" in graders, f"the Graders table does not explain {name}"


def test_the_plugin_dataset_example_runs_as_written() -> None:
    adding = _section(BENCHMARKS, "### Adding a benchmark")
    namespace: dict[str, object] = {}
    exec(compile(_block(adding, "python"), "README:riddles.py", "exec"), namespace)  # noqa: S102 - our own README
    entry_point = re.search(r'\[project\.entry-points\."ipw\.datasets"\]\n(\S+) = "[\w.]+:(\w+)"',
                            _block(adding, "toml"))
    assert entry_point, "the example must declare its class in the ipw.datasets group"
    dataset_id, attribute = entry_point.groups()
    cls = namespace[attribute]
    assert isinstance(cls, type) and issubclass(cls, DatasetProvider) and cls.dataset_id == dataset_id
    records = cls().records()
    assert records and all(validate_record(r) is None for r in records)
    assert all(r.scorer in SCORER_NAMES for r in records)
    assert f"--dataset {dataset_id}" in _block(adding, "bash")


def test_the_worked_study_parses_into_one_server_per_model() -> None:
    worked = _section(BENCHMARKS, "### Worked example: two models, and routing between them")
    spec = parse_spec(_block(worked, "toml"))
    cells = spec.cells()
    models = [c.params["model"] for c in cells]
    assert len(cells) == 2 and all(m.endswith(".gguf") for m in models)
    for cell in cells:
        server = cell.server_spec()
        assert server is not None and "{model_path}" in server.command
        config = cell.capture_config(Path("runs"))
        assert (config.dataset, config.dataset_params["seed"]) == ("mix", 1)
    names = [c.name for c in cells]
    commands = _block(worked, "bash")
    study_dir = f"studies/{spec.name}"
    assert f"ipw study report {study_dir} --routing" in commands
    cascade = next(line for line in commands.splitlines() if "--cascade" in line)
    assert shlex.split(cascade)[-1].split(",") == names
    excerpt = _block(worked, "text")
    for name in names:  # the excerpt's cells are the study's, and it shows every strategy
        assert re.search(rf"^{re.escape(name)}\s+\d+", excerpt, flags=re.M)
    for strategy in ("oracle", "cascade"):
        assert re.search(rf"^{strategy}\s+\d+", excerpt, flags=re.M)
    assert "coverage:" in excerpt and "illustrative" in worked
