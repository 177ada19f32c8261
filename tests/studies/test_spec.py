"""The study file: its checks, the cells its matrix expands into, and their stable names."""

from __future__ import annotations

import pytest

from ipw.errors import UsageError
from ipw.studies import cell_name, parse_spec

BASE = """
[base]
client = "openai"
model = "gemma"
max_queries = 3
gen_param = { temperature = 0 }
"""


def test_cells_are_the_product_of_the_matrix_in_order() -> None:
    spec = parse_spec(BASE + '[matrix]\nmax_concurrency = [1, 4]\n"gen_param.max_tokens" = [16, 64]\n',
                      default_name="s")
    cells = spec.cells()
    assert [c.name for c in cells] == ["mc1-max_tokens16", "mc1-max_tokens64", "mc4-max_tokens16", "mc4-max_tokens64"]
    assert cells[2].params == {"max_concurrency": 4, "gen_param.max_tokens": 16}
    config = cells[2].capture_config(spec.study_dir / "runs")
    # a matrix entry of a table joins the [base] table rather than replacing it
    assert config.gen_params == {"temperature": 0, "max_tokens": 16}
    assert config.max_concurrency == 4 and config.max_queries == 3 and config.run_name == "mc4-max_tokens16"


def test_names_are_stable_readable_and_safe() -> None:
    params = {"max_concurrency": 4, "gen_param.max_tokens": 16}
    assert cell_name(params) == "mc4-max_tokens16" == cell_name(dict(params))
    assert cell_name({"model": "org/gemma 3:Q4"}) == "model_org_gemma_3_Q4"
    assert cell_name({"gen_param.temperature": 0.5}) == "temperature0.5"
    assert cell_name({}) == "base"
    long = cell_name({"model": "x" * 300})
    assert len(long) <= 96 and long == cell_name({"model": "x" * 300})


def test_names_that_would_clash_are_kept_apart() -> None:
    spec = parse_spec(BASE + '[matrix]\nmodel = ["a/b", "a:b"]\n"gen_param.seed" = [1]\n"dataset_param.seed" = [2]\n')
    names = [c.name for c in spec.cells()]
    assert len(set(names)) == 2
    assert all("gen_param_seed1" in n and "dataset_param_seed2" in n for n in names)


def test_repeats_make_one_cell_each() -> None:
    spec = parse_spec(BASE + "[matrix]\nmax_concurrency = [2]\nrepeats = 3\n")
    assert [c.name for c in spec.cells()] == ["mc2-r1", "mc2-r2", "mc2-r3"]


@pytest.mark.parametrize(("text", "words"), [
    (BASE + "[matrix]\nmax_concurency = [1]\n", "unknown key 'max_concurency'"),
    (BASE + "[matrix]\nmax_concurrency = 4\n", "must be a non-empty list"),
    (BASE + "[matrix]\nmax_concurrency = []\n", "must be a non-empty list"),
    (BASE + "[matrix]\nmax_concurrency = [1, 1]\n", "lists a value twice"),
    ("[base]\nmodel = 'm'\n", "no client"),
    ("name = '../x'\n" + BASE, "not a plain folder name"),
    ("colour = 1\n" + BASE, "unknown top-level key"),
    (BASE + "[matrix\n", "not valid TOML"),
])
def test_bad_study_files_are_refused_with_one_line(text: str, words: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_spec(text, where="s.toml")
    assert words in info.value.one_line() and "\n" not in info.value.one_line()
