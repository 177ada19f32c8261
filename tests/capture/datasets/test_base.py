"""The record type, the selection parameters, describe() and the base-model prompt."""

from __future__ import annotations

from typing import Iterable

import msgspec
import pytest

from ipw.capture.datasets import DatasetProvider, DatasetRecord, format_choices, prompt_for, validate_record
from ipw.capture.datasets.base import has_lettered_choices
from ipw.errors import DatasetError, UsageError


class ListDataset(DatasetProvider):
    """A provider over an in-memory list, to test the base class on its own."""

    dataset_id = "list"
    dataset_name = "in-memory list"
    params_accepted = ("tag",)

    def __init__(self, records: list[DatasetRecord], **params: object) -> None:
        super().__init__(**params)
        self._source = records

    def _load(self) -> Iterable[DatasetRecord]:
        return list(self._source)


def _records(n: int = 10) -> list[DatasetRecord]:
    subjects = ["alpha", "beta"]
    return [DatasetRecord(f"r{i}", f"What is {i} + 1?", str(i + 1), subjects[i % 2], "numeric") for i in range(n)]


def test_record_is_frozen_and_round_trips_through_json() -> None:
    record = DatasetRecord("r1", "Q?", "B", "s", "letter", ["w", "x", "y", "z"], {"k": 1})
    with pytest.raises(AttributeError):
        record.answer = "C"  # type: ignore[misc]
    assert msgspec.json.decode(msgspec.json.encode(record), type=DatasetRecord) == record
    assert DatasetRecord("r2", "Q?", "A", "s").scorer is None
    assert DatasetRecord("r2", "Q?", "A", "s").metadata == {}


def test_prompt_for_letter_item_has_instruction_example_choices_and_answer_cue() -> None:
    record = DatasetRecord("r1", "Which is a colour?", "B", "s", "letter", ["dog", "red", "car", "sky"])
    prompt = prompt_for(record)
    assert prompt.startswith("Answer with the letter of the correct choice.\n\nQuestion: ")
    assert prompt.endswith("\n\nQuestion: Which is a colour?\nA. dog\nB. red\nC. car\nD. sky\nAnswer:")
    example = prompt.split("\n\n")[1]
    assert example.startswith("Question: ") and example.splitlines()[-1] == "Answer: B"
    assert len(prompt) < 250


def test_prompt_for_other_scorers() -> None:
    numeric = prompt_for(DatasetRecord("r", "What is 2 + 2?", "4", "s", "numeric"))
    assert numeric.startswith("Answer with a number.\n\n") and numeric.endswith("Question: What is 2 + 2?\nAnswer:")
    exact = prompt_for(DatasetRecord("r", "Capital of Peru?", "Lima", "s", "exact"))
    assert exact.startswith("Answer with a word") and exact.count("Question: ") == 2
    assert prompt_for(DatasetRecord("r", "  Explain tides.  ", "...", "s", None)) == "Question: Explain tides.\nAnswer:"


def test_format_choices_does_not_list_choices_twice() -> None:
    listed = "Pick one:\nA. x\nB. y"
    assert has_lettered_choices(listed)
    assert format_choices(listed, ["x", "y"]) == listed
    assert format_choices("Pick one:", ["x", "y"]) == listed
    assert format_choices("Pick one:", None) == "Pick one:"
    assert has_lettered_choices("(A) x\n(B) y")
    assert not has_lettered_choices("A. single line only")


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        (DatasetRecord("r", " ", "1", "s", "numeric"), "problem is empty"),
        (DatasetRecord("r", "Q", "", "s", "numeric"), "answer is empty"),
        (DatasetRecord("r", "Q", "1", "s", "fuzzy"), "unknown scorer"),
        (DatasetRecord("r", "Q", "E", "s", "letter", ["a", "b", "c", "d"]), "not one of A–D"),
        (DatasetRecord("r", "Q", "AB", "s", "letter"), "not one of A–J"),
        (DatasetRecord("r", "Q", "A", "s", "letter", ["only"]), "2 to 10"),
    ],
)
def test_validate_record_names_the_problem(record: DatasetRecord, fragment: str) -> None:
    reason = validate_record(record)
    assert reason is not None and fragment in reason


def test_validate_record_accepts_good_records() -> None:
    assert validate_record(DatasetRecord("r", "Q", "c", "s", "letter", ["a", "b", "c"])) is None
    assert validate_record(DatasetRecord("r", "Q", "free text", "s", None)) is None


def test_selection_filters_shuffles_and_limits() -> None:
    records = _records(10)
    assert [r.record_id for r in ListDataset(records).iter_records()] == [f"r{i}" for i in range(10)]
    beta = ListDataset(records, subjects="beta").records()
    assert {r.subject for r in beta} == {"beta"} and len(beta) == 5
    shuffled = [r.record_id for r in ListDataset(records, shuffle_seed="7").iter_records()]
    again = [r.record_id for r in ListDataset(records, shuffle_seed=7).iter_records()]
    assert shuffled == again and shuffled != [f"r{i}" for i in range(10)] and sorted(shuffled) == sorted(again)
    limited = ListDataset(records, shuffle_seed=7, limit="3")
    assert [r.record_id for r in limited.iter_records()] == shuffled[:3]
    assert limited.size() == 3


def test_unknown_subject_lists_the_available_ones() -> None:
    with pytest.raises(DatasetError, match="subjects gamma") as caught:
        ListDataset(_records(), subjects="gamma").records()
    assert caught.value.hint is not None and "alpha, beta" in caught.value.hint


@pytest.mark.parametrize("params", [{"limit": "many"}, {"limit": "0"}, {"shuffle_seed": "x"}, {"colour": "red"}])
def test_bad_parameters_are_usage_errors(params: dict[str, str]) -> None:
    with pytest.raises(UsageError):
        ListDataset(_records(), **params)


def test_empty_source_and_duplicate_ids_are_dataset_errors() -> None:
    with pytest.raises(DatasetError, match="no records"):
        ListDataset([]).records()
    twice = [_records(1)[0], _records(1)[0]]
    with pytest.raises(DatasetError, match="appears twice"):
        ListDataset(twice).records()


def test_describe_carries_counts_and_a_hash_of_the_selected_records() -> None:
    records = _records(6)
    info = ListDataset(records, tag="t").describe()
    assert info["id"] == "list" and info["params"] == {"tag": "t"}
    assert info["size"] == 6 and info["subjects"] == {"alpha": 3, "beta": 3} and info["scorers"] == {"numeric": 6}
    assert info["judged_by_llm"] == 0 and len(info["sha256"]) == 64
    assert ListDataset(list(records)).content_sha256() == info["sha256"]
    assert ListDataset(records, limit=5).content_sha256() != info["sha256"]
    assert ListDataset(records[::-1]).content_sha256() != info["sha256"]
    changed = records[:5] + [DatasetRecord("r5", "What is 5 + 1?", "7", "beta", "numeric")]
    assert ListDataset(changed).content_sha256() != info["sha256"]
