"""The built-in dataset: its invariants, and an independent check of its computed answers."""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction
from importlib import resources

import pytest

from ipw.capture.datasets import BuiltinDataset, DatasetRecord, FileDataset, validate_record
from ipw.capture.datasets.builtin import DATA_FILE
from ipw.errors import DatasetError
from ipw.judging import AutoScorer, NumericScorer
from ipw.registry import REGISTRY


@pytest.fixture(scope="module")
def records() -> list[DatasetRecord]:
    return BuiltinDataset().records()


def test_size_subjects_and_ids(records: list[DatasetRecord]) -> None:
    assert len(records) >= 240
    subjects = Counter(r.subject for r in records)
    assert len(subjects) >= 6 and min(subjects.values()) >= 20
    assert len({r.record_id for r in records}) == len(records)


def test_every_record_is_deterministically_scored_and_well_formed(records: list[DatasetRecord]) -> None:
    scorers = Counter(r.scorer for r in records)
    assert set(scorers) == {"letter", "numeric", "exact"}
    assert min(scorers.values()) >= len(records) // 6
    for record in records:
        assert validate_record(record) is None, record
        assert len(record.problem) <= 300, record.record_id
        assert record.problem == record.problem.strip()


def test_every_reference_passes_its_own_scorer(records: list[DatasetRecord]) -> None:
    auto = AutoScorer()
    for record in records:
        result = auto.score(record.answer, record.answer, scorer=record.scorer, choices=record.choices)
        assert result.is_correct is True, (record.record_id, result)


def test_letter_items_have_four_lettered_choices_and_balanced_answers(records: list[DatasetRecord]) -> None:
    letter_items = [r for r in records if r.scorer == "letter"]
    assert len(letter_items) >= 60
    for record in letter_items:
        assert record.choices is not None and len(record.choices) == 4
        assert len(set(record.choices)) == 4
        assert record.answer in "ABCD" and len(record.answer) == 1
        for letter, text in zip("ABCD", record.choices):
            assert f"\n{letter}. {text}" in record.problem, record.record_id
    by_letter = Counter(r.answer for r in letter_items)
    assert set(by_letter) == set("ABCD") and min(by_letter.values()) >= len(letter_items) // 6


def test_other_items_have_no_choices_and_parse(records: list[DatasetRecord]) -> None:
    numeric = NumericScorer()
    for record in records:
        if record.scorer != "letter":
            assert record.choices is None
        if record.scorer == "numeric":
            assert numeric.score(record.answer, record.answer).metadata["extracted"] is not None


_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "×": lambda a, b: a * b, "÷": lambda a, b: a / b}


def _expected(problem: str) -> Fraction | None:
    """The answer to a computed question, worked out here independently of the generator."""
    if m := re.fullmatch(r"What is (-?[\d.]+) ([-+×÷]) (-?[\d.]+)\?", problem):
        return _OPS[m[2]](Fraction(m[1]), Fraction(m[3]))
    if m := re.fullmatch(r"What is (\d+) \+ (\d+) × (\d+)\?", problem):
        return int(m[1]) + int(m[2]) * int(m[3])
    if m := re.fullmatch(r"What is (\d+)% of (\d+)\?", problem):
        return Fraction(int(m[1]) * int(m[2]), 100)
    if m := re.fullmatch(r"Solve for x: (\d+)x \+ (\d+) = (-?\d+)", problem):
        return Fraction(int(m[3]) - int(m[2]), int(m[1]))
    if m := re.fullmatch(r"What is the binary number ([01]+) in decimal\?", problem):
        return int(m[1], 2)
    if m := re.fullmatch(r"What is the hexadecimal number ([0-9A-F]+) in decimal\?", problem):
        return int(m[1], 16)
    if m := re.fullmatch(r"What is (-?\d+) °C in degrees Fahrenheit\?", problem):
        return Fraction(9, 5) * int(m[1]) + 32
    if m := re.fullmatch(r"What number comes next: ([\d, ]+), \?", problem):
        seq = [int(x) for x in m[1].split(", ")]
        if seq[1] - seq[0] == seq[2] - seq[1]:
            return seq[-1] + (seq[1] - seq[0])
        return seq[-1] * (seq[1] // seq[0])
    return None


def test_computed_answers_are_right(records: list[DatasetRecord]) -> None:
    checked = 0
    for record in records:
        expected = _expected(record.problem)
        if expected is None:
            continue
        assert Fraction(record.answer) == expected, record.record_id
        checked += 1
    assert checked >= 60
    binary = [r for r in records if r.problem.startswith("What is the decimal number")]
    for record in binary:
        number = int(re.search(r"number (\d+) written", record.problem)[1])  # type: ignore[index]
        assert record.answer == format(number, "b")


def test_selection_params() -> None:
    science = BuiltinDataset(subjects="science,geography").records()
    assert {r.subject for r in science} == {"science", "geography"}
    first = [r.record_id for r in BuiltinDataset(shuffle_seed=1, limit=5).iter_records()]
    assert first == [r.record_id for r in BuiltinDataset(shuffle_seed="1", limit="5").iter_records()]
    assert first != [r.record_id for r in BuiltinDataset(limit=5).iter_records()]
    assert BuiltinDataset(limit=12).size() == 12
    with pytest.raises(DatasetError, match="astrology") as caught:
        BuiltinDataset(subjects="astrology").records()
    assert "arithmetic" in (caught.value.hint or "")


def test_packaged_file_reads_the_same_through_the_file_dataset(tmp_path) -> None:
    data = resources.files("ipw.capture.datasets").joinpath("data", DATA_FILE).read_bytes()
    (tmp_path / DATA_FILE).write_bytes(data)
    assert FileDataset(path=str(tmp_path / DATA_FILE)).records() == BuiltinDataset().records()


def test_licence_is_stated_and_describe_is_complete() -> None:
    licence = resources.files("ipw.capture.datasets").joinpath("data", "LICENSE").read_text()
    assert "CC0-1.0" in licence and "ipw authors" in licence
    assert "CC0-1.0" in (BuiltinDataset.__doc__ or "")
    info = BuiltinDataset().describe()
    assert info["id"] == "builtin" and info["license"] == "CC0-1.0" and info["requires_judge"] is False
    assert info["judged_by_llm"] == 0 and info["size"] == sum(info["subjects"].values())
    assert info["sha256"] == BuiltinDataset().describe()["sha256"]


def test_registry_loads_the_providers() -> None:
    assert REGISTRY.load("datasets", "builtin") is BuiltinDataset
    assert REGISTRY.load("datasets", "file") is FileDataset
    assert REGISTRY.load("datasets", "ipw").requires_judge is True
