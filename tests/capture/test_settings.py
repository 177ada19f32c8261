"""Each capture setting is declared once: the CLI and a study file take exactly the Structs' fields, with one
set of constraint messages (only the name is spelt as each source spells it)."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import msgspec
import pytest

from ipw.capture.config import CaptureConfig, EvalSettings
from ipw.capture.settings import FLAG, KEY, SettingField, settings_fields
from ipw.cli.capture_cmd import profile, record
from ipw.errors import UsageError
from ipw.studies.keys import SCALAR_KEYS, TABLE_KEYS
from ipw.studies.spec import parse_spec
from tests.conftest import run_cli

# how this run is done, not what it is: options of the commands that no Struct holds
RUN_OPTIONS = {"power_trace", "resume", "server_cmd", "server_health_url", "server_startup_timeout_s", "workload",
               "agent_tasks", "max_turns", "task_budget_s", "metrics_port", "metrics_host", "as_json",
               "wait_for_writer", "slo"}
SETTINGS = [f for struct in (CaptureConfig, EvalSettings) for f in settings_fields(struct)]


def test_every_setting_has_words_and_every_other_field_is_ipws_own() -> None:
    fields = {f.name for f in msgspec.structs.fields(CaptureConfig)}
    assert fields - {f.name for f in settings_fields(CaptureConfig)} == {"retry_backoff_s", "seed", "eval"}
    assert all(f.description for f in SETTINGS)


def test_the_cli_takes_exactly_the_settings() -> None:
    for command, structs in ((record, (CaptureConfig,)), (profile, (CaptureConfig, EvalSettings))):
        options = {p.name for p in command.params} - RUN_OPTIONS
        assert options == {f.option for s in structs for f in settings_fields(s) if f.cli}
        flags = {o for p in command.params for o in p.opts}
        assert {FLAG(f.option) for s in structs for f in settings_fields(s) if f.cli} <= flags


def test_a_study_takes_exactly_the_settings() -> None:
    assert set(SCALAR_KEYS) | set(TABLE_KEYS) == {f.option for f in SETTINGS if f.study} | {"resources"}
    assert {f.option for f in SETTINGS if f.base is dict} | {"resources"} == set(TABLE_KEYS)


def _constraints(field: SettingField) -> list[msgspec.Meta]:
    metas, stack = [], [field.annotation]
    while stack:
        annotation = stack.pop()
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is typing.Annotated:
            metas += [m for m in args[1:] if isinstance(m, msgspec.Meta) and m.description is None]
            stack.append(args[0])
        else:
            stack.extend(args)
    return metas


def _out_of_range(field: SettingField) -> list[object]:
    """A value just past each bound the field's Meta declares."""
    values: list[object] = []
    for meta in _constraints(field):
        if meta.ge is not None:
            values.append(meta.ge - 1 if field.base is int else meta.ge / 2 if meta.ge > 0 else -1.0)
        if meta.gt is not None:
            values.append(meta.gt)
        if meta.le is not None:
            values.append(meta.le * 10)
    return values


BOUNDED = [(f, v) for f in SETTINGS for v in _out_of_range(f)]


def test_the_constrained_settings_are_the_numbers_people_give() -> None:
    assert {f.option for f, _ in BOUNDED} == {"max_queries", "max_concurrency", "request_rate", "burstiness",
                                              "ramp_up_s", "warmup_queries", "sample_interval_ms", "cpu_tdp_w",
                                              "max_retries"}


def _study_error(tmp_path: Path, key: str, value: object) -> str:
    text = f'[base]\nclient = "openai"\nmodel = "m"\n{key} = {json.dumps(value)}\n'
    with pytest.raises(UsageError) as caught:
        parse_spec(text, where="study.toml")
    return caught.value.message


@pytest.mark.parametrize(("field", "value"), BOUNDED, ids=[f"{f.option}={v}" for f, v in BOUNDED])
def test_one_constraint_message_from_the_cli_the_study_and_python(tmp_path: Path, field: SettingField,
                                                                 value: object) -> None:
    words = _study_error(tmp_path, field.option, value)
    assert words.startswith(f"study.toml [base] {KEY(field.option)}: must be ")
    said = words.removeprefix(f"study.toml [base] {field.option}: ")
    result = run_cli("record", "--client", "openai", "--model", "m", "--energy", "none", "--output-dir",
                     str(tmp_path / "runs"), FLAG(field.option), str(value))
    assert result.exit_code == 2, result.stderr
    assert f"ipw: error: {FLAG(field.option)}: {said}" in result.stderr
    assert not (tmp_path / "runs").exists()
    with pytest.raises(UsageError) as caught:
        CaptureConfig(client="openai", model="m", **{field.name: value}).validate()
    assert caught.value.message == f"{field.option}: {said}"


@pytest.mark.parametrize(("key", "value", "words"), [
    ("max_queries", "abc", 'expected an integer, got "abc"'),
    ("request_rate", "fast", 'expected a number, got "fast"'),
    ("no_eval", 1, "expected true or false, got 1"),
    ("eval_model", 3, "expected a string, got 3"),
])
def test_a_value_of_the_wrong_type_is_named_as_the_study_names_it(tmp_path: Path, key: str, value: object,
                                                                   words: str) -> None:
    assert _study_error(tmp_path, key, value) == f"study.toml [base] {key}: {words}"


def test_a_swept_value_out_of_range_fails_its_cell_alone_with_the_same_words(tmp_path: Path) -> None:
    spec = parse_spec('[base]\nclient = "openai"\nmodel = "m"\n[matrix]\nmax_concurrency = [0, 2]\n')
    bad, good = spec.cells()
    with pytest.raises(UsageError, match=r"^max_concurrency: must be >= 1, got 0$"):
        bad.capture_config(tmp_path)
    assert good.capture_config(tmp_path).max_concurrency == 2


def test_eval_settings_convert_from_a_study_cell() -> None:
    spec = parse_spec('[base]\nclient = "openai"\nmodel = "m"\neval_client = "exact"\neval_param = { a = 1 }\n')
    assert spec.cells()[0].eval_settings() == EvalSettings(client="exact", params={"a": 1})
