"""One reader of a split's questions with their golds (lamp/core/splits.py), for every verb."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamp.core.errors import LampDataError, LampError
from lamp.core.splits import read_split

DEMO3 = Path(__file__).resolve().parents[2] / "data" / "demo" / "LaMP_3"


def test_a_plain_questions_file_finds_the_outputs_beside_it_as_an_official_folder_does():
    by_file = read_split(DEMO3 / "dev" / "dev_questions.json", "LaMP-3", require_outputs=False, limit=3)
    by_folder = read_split(DEMO3, "LaMP-3", split="dev", require_outputs=False, limit=3)
    assert by_file.golds == by_folder.golds and len(by_file.golds) == 3
    assert Path(by_file.golds_source).name == Path(by_folder.golds_source).name == "dev_outputs.json"


def test_limit_keeps_the_first_questions_and_only_their_golds():
    split = read_split(DEMO3 / "dev" / "dev_questions.json", "LaMP-3", limit=2)
    assert [q.id for q in split.questions] == list(split.golds) and len(split.golds) == 2


def test_no_golds_anywhere_gives_an_empty_split_of_golds_without_a_source(tmp_path):
    path = tmp_path / "dev_questions.json"
    path.write_text((DEMO3 / "dev" / "dev_questions.json").read_text(encoding="utf-8"), encoding="utf-8")
    split = read_split(path, "LaMP-3", require_outputs=False)
    assert split.golds == {} and split.golds_source is None and split.questions


def test_the_task_comes_from_the_outputs_file_when_not_given(tmp_path):
    split = read_split(DEMO3 / "dev" / "dev_questions.json", None, DEMO3 / "dev" / "dev_outputs.json")
    assert split.task == "LaMP-3" and len(split.golds) == len(split.questions)
    bare = tmp_path / "bare_outputs.json"
    bare.write_text(json.dumps([{"id": q.id, "output": "3"} for q in split.questions]))
    with pytest.raises(LampDataError, match="pass --task") as err:
        read_split(DEMO3 / "dev" / "dev_questions.json", None, bare)
    assert err.value.file == str(bare) and err.value.field == "task"
    with pytest.raises(LampError, match="pass --task"):
        read_split(DEMO3 / "dev" / "dev_questions.json", None)


def test_the_transform_is_applied_to_the_questions_it_reads():
    def shout(q, state):
        q.input = q.input.upper()
        return q

    split = read_split(DEMO3 / "dev" / "dev_questions.json", "LaMP-3", limit=2, transform=shout)
    assert all(q.input == q.input.upper() for q in split.questions)
    assert split.pair() == (split.questions, split.golds)
