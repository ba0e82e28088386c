"""The data layer: loading questions/outputs from files, folders and zips, with clear errors."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from lamp.errors import LampDataError, LampError
from lamp.files import (atomic_write, find_file, iter_json_list, load_outputs, load_questions, parse_date,
                        write_outputs)
from tests.conftest import write


def test_questions_load_from_file_folder_and_zip(lamp3_files, tmp_path):
    q, o = lamp3_files
    by_file = load_questions(q)
    by_folder = load_questions(tmp_path, split="dev", task="LaMP-3")
    zpath = tmp_path / "data.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(q, "LaMP_3/dev/dev_questions.json")
    by_zip = load_questions(zpath, split="dev")
    assert [x.id for x in by_file] == [x.id for x in by_folder] == [x.id for x in by_zip] == ["300", "301"]
    assert by_file[0].profile[1].score == "5" and by_file[0].profile[1].date == "2021-05-06"
    assert by_file[0].user_id == "u1"


def test_integer_ids_become_strings(tmp_path):
    path = write(tmp_path / "q.json", [{"id": 7, "input": "x: y", "profile": [{"id": 70, "text": "a", "score": 4}]}])
    q = load_questions(path)[0]
    assert q.id == "7" and q.profile[0].id == "70" and q.profile[0].score == "4"


def test_outputs_accept_wrapped_and_bare_lists(tmp_path):
    wrapped = load_outputs(write(tmp_path / "a.json", {"task": "LaMP_3", "golds": [{"id": 1, "output": "4"}]}))
    bare = load_outputs(write(tmp_path / "b.json", [{"id": "1", "output": "4"}]))
    assert wrapped.task == "LaMP_3" and bare.task is None
    assert wrapped.by_id() == bare.by_id() == {"1": "4"}


def test_outputs_with_another_task_are_refused(tmp_path):
    path = write(tmp_path / "a.json", {"task": "LaMP_4", "golds": []})
    with pytest.raises(LampDataError, match="for LaMP_4, expected LaMP_3"):
        load_outputs(path, task="LaMP-3")


@pytest.mark.parametrize("bad, field, reason", [
    ([{"input": "x", "profile": []}], "id", "no 'id'"),
    ([{"id": "1", "profile": [{"id": "a", "text": "t"}]}], "input", "missing"),
    ([{"id": "1", "input": "x", "profile": "nope"}], "profile", "expected a list"),
    ([{"id": "1", "input": "x", "profile": []}], "profile", "empty"),
    ([{"id": "1", "input": "x", "profile": [{"id": "a"}, {"id": "a"}]}], "profile[].id", "duplicate"),
    ([{"id": "1", "input": "x", "profile": [{"id": "a", "date": "May 2020"}]}], "date", "YYYY-MM-DD"),
    ([{"id": "1", "input": "x", "profile": [{"id": "a"}]}, {"id": "1", "input": "x", "profile": [{"id": "b"}]}],
     "id", "duplicate question id"),
])
def test_bad_questions_name_file_record_and_field(tmp_path, bad, field, reason):
    path = write(tmp_path / "q.json", bad)
    with pytest.raises(LampDataError) as err:
        load_questions(path)
    assert err.value.field == field and reason in str(err.value) and str(path) in str(err.value)


def test_missing_task_field_names_the_item(tmp_path):
    path = write(tmp_path / "q.json", [{"id": "1", "input": "x", "profile": [{"id": "10", "text": "t"}]}])
    with pytest.raises(LampDataError) as err:
        load_questions(path, task="LaMP-3")
    assert err.value.record_id == "10" and err.value.field == "score"


def test_streaming_parser_handles_elements_across_chunk_boundaries(monkeypatch):
    import lamp.files as files
    monkeypatch.setattr(files, "_CHUNK", 7)
    data = [{"id": str(i), "input": "é" * i + ' "q" ', "profile": [{"id": "x", "text": "[1, 2]"}]} for i in range(30)]
    got = list(iter_json_list(io.StringIO(json.dumps(data, ensure_ascii=False, indent=2)), "mem"))
    assert got == data


@pytest.mark.parametrize("text, message", [("", "empty"), ("[{\"a\": 1},", "not closed"),
                                           ("[{\"a\": 1} {\"b\": 2}]", "expected ','"), ("42", "expected a JSON list")])
def test_streaming_parser_reports_broken_json(text, message):
    with pytest.raises(LampDataError, match=message):
        list(iter_json_list(io.StringIO(text), "mem"))


def test_wrapped_lamp6_test_questions_are_read(tmp_path):
    """The official Avocado script wraps LaMP-6 test questions as {"task","golds"}: we read them anyway."""
    path = write(tmp_path / "test_questions.json",
                 {"task": "LaMP_6", "golds": [{"id": "1", "input": "Generate a subject for the following email: hi",
                                               "profile": [{"id": "10", "text": "b", "title": "s"}]}]})
    assert load_questions(path)[0].profile[0].title == "s"


def test_find_file_is_explicit_about_ambiguity(tmp_path, lamp3_files):
    write(tmp_path / "LaMP_3" / "train" / "train_questions.json", [])
    with pytest.raises(LampError, match="found 2"):
        find_file(tmp_path, "questions")
    assert find_file(tmp_path, "questions", split="dev").name.endswith("dev_questions.json")


def test_parse_date_matches_official_tuple_order():
    assert parse_date("2020-03-01") == (2020, 3, 1)
    assert parse_date(2019) == (2019,)
    assert parse_date("2020-3-1") < parse_date("2020-10-01")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_write_outputs_uses_official_format(tmp_path):
    write_outputs(tmp_path / "p.json", "LaMP-3", {"1": "4"})
    assert json.loads((tmp_path / "p.json").read_text()) == {"task": "LaMP_3", "golds": [{"id": "1", "output": "4"}]}
