"""The [server] table of a study: typed, every placeholder filled, every entry used, swept per cell."""

from __future__ import annotations

import pytest

from ipw.errors import UsageError
from ipw.studies.spec import parse_spec

BASE = '[base]\nclient = "openai"\nmodel = "gemma-3-270m"\n'
CMD = '{python} -m llama_cpp.server --model {model_path} --port {port} --n_ctx {n_ctx}'


def test_server_table_and_swept_flag_give_each_cell_its_server() -> None:
    spec = parse_spec(f'[server]\ncommand = "{CMD}"\nstartup_timeout_s = 60\ncooldown_s = 1.5\nn_ctx = 256\n'
                      f'{BASE}[matrix]\n"server.n_ctx" = [512, 1024]\n')
    cells = spec.cells()
    assert [c.name for c in cells] == ["n_ctx512", "n_ctx1024"]
    servers = [c.server_spec() for c in cells]
    assert [s.values for s in servers] == [{"n_ctx": 512}, {"n_ctx": 1024}]  # type: ignore[union-attr]
    assert {(s.command, s.startup_timeout_s, s.cooldown_s) for s in servers} == {(CMD, 60, 1.5)}  # type: ignore[union-attr]


def test_no_server_table_means_no_server() -> None:
    assert parse_spec(BASE).cells()[0].server_spec() is None


@pytest.mark.parametrize(("toml", "words"), [
    (f'[server]\ncommand = "{CMD}"\n', r"names \{n_ctx\}, which nothing fills"),
    (f'[server]\ncommand = "{CMD}"\nn_ctx = 1\nstartup_timeout = 5\n', "startup_timeout is not a setting"),
    (f'[server]\ncommand = "{CMD}"\nn_ctx = 1\nport = 8000\n', "sets port, which ipw fills itself"),
    ('[server]\nhealth_url = "http://x"\n', "has no command"),
    (f'[server]\ncommand = "{CMD}"\nn_ctx = 1\nstartup_timeout_s = "soon"\n', "startup_timeout_s: expected a number"),
    (f'[server]\ncommand = "{CMD}"\nn_ctx = [1]\n', "server.n_ctx: expected a string, number or boolean"),
    ('server = 3\n', "server must be a table"),
])
def test_a_server_table_that_cannot_work_is_refused(toml: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        parse_spec(toml + BASE)


def test_a_swept_server_flag_needs_a_server_table() -> None:
    with pytest.raises(UsageError, match="unknown key 'server.n_ctx'"):
        parse_spec(f'{BASE}[matrix]\n"server.n_ctx" = [1, 2]\n')


def test_a_swept_server_credential_is_named_by_digest_never_by_value() -> None:
    spec = parse_spec('[server]\ncommand = "serve --port {port} --api-key {api_key}"\n'
                      f'{BASE}[matrix]\n"server.api_key" = ["sk-verysecret-one", "sk-verysecret-two"]\n')
    assert all("verysecret" not in c.name for c in spec.cells())


def test_the_readme_server_study_parses_into_one_server_per_n_ctx() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("### A server per cell", 1)[1].split("```toml", 1)[1].split("```", 1)[0]
    cells = parse_spec(block).cells()
    assert [c.server_spec().values for c in cells] == [{"n_ctx": 512}, {"n_ctx": 1024}, {"n_ctx": 2048}]  # type: ignore[union-attr]
    assert cells[0].server_spec().idle_within_pct == 5  # type: ignore[union-attr]
