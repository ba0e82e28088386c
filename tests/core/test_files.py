"""The data layer: loading questions/outputs from files, folders and zips, with clear errors."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from lamp.core.errors import LampDataError, LampError
from lamp.core.jsonio import iter_json_list
from lamp.core.outputs import load_outputs
from lamp.core.questions import load_questions, parse_date
from lamp.core.sources import find_file
from lamp.core.writing import atomic_write, write_outputs
from tiny_lamp3 import write


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
    import lamp.core.jsonio as jsonio
    monkeypatch.setattr(jsonio, "_CHUNK", 7)
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


# --------------------------------------------------------------------------- one loader per kind: fast path, forms

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


def _demo_questions() -> list[Path]:
    """The LaMP-layout demo files (the LongLaMP and LaMP-QA demo is in its datasets' own layout,
    which the detailed loader reads: tests/core/test_family_loading.py)."""
    return sorted(DEMO.glob("LaMP_[0-9]*/*/*_questions.json"))


@pytest.mark.skipif(not _demo_questions(), reason="no bundled demo data")
def test_fast_path_and_detailed_loader_give_identical_records_on_every_demo_file():
    from lamp.core.questions import fast_questions, iter_questions
    from lamp.core.sources import _file, task_from_path

    for path in _demo_questions():
        task = task_from_path(str(path))
        fast = fast_questions(_file(path), task)
        assert fast is not None, path                      # valid files take the fast path
        assert fast == list(iter_questions(path, task=task)), path
        assert load_questions(path, task=task) == fast


VALID = [{"id": "1", "input": "x: a b", "user_id": None, "profile": [
             {"id": "10", "text": "t é \u2028", "score": "4", "date": "2020-02-29"},
             {"id": "11", "title": "", "text": "u", "score": "1.5", "date": "2019"}]},
         {"id": "2", "input": "x: c", "user_id": "u9", "profile": [{"id": "10", "text": "v", "date": "2020-1-2"}]}]


@pytest.mark.parametrize("change", [
    None,
    lambda q: q[0]["profile"][0].update(rating="5"),          # a field of no task: kept in extra
    lambda q: q[0].update(split="dev"),                        # a question key of no field: extra
    lambda q: q[0]["profile"][0].update(extra={"a": 1}),       # a key named "extra" is nested, not taken
    lambda q: q[0]["profile"][0].update(extra=None),
    lambda q: q[1].update(extra={"b": 2}),
    lambda q: q[0].update(id=1),                               # integer ids and numeric ratings: strings
    lambda q: q[0]["profile"][0].update(score=4),
    lambda q: q[0].update(user_id=7),
    lambda q: q[0]["profile"][1].update(date=2019),
], ids=["valid", "item-extra", "question-extra", "extra-key", "extra-null", "question-extra-key", "int-id",
        "int-score", "int-user", "int-date"])
def test_load_questions_equals_the_detailed_loader_whichever_path_it_takes(tmp_path, change):
    from lamp.core.questions import fast_questions, iter_questions
    from lamp.core.sources import _file

    data = json.loads(json.dumps(VALID))
    if change:
        change(data)
    path = write(tmp_path / "q.json", data)
    fast = fast_questions(_file(path))
    assert (fast is not None) == (change is None)             # anything unusual goes the detailed way
    assert load_questions(path) == list(iter_questions(path))
    if change is None:
        assert fast == list(iter_questions(path))


@pytest.mark.parametrize("bad, record, field, reason", [
    ([{"id": "1", "input": "x", "profile": [{"id": "a", "title": None}]}], "a", "title", "expected a string"),
    ([{"id": "1", "input": "x", "profile": [{"id": "a", "date": "2021-02-30"}]}], "a", "date", "impossible date"),
    ([{"id": "1", "input": "x", "profile": [{"id": "a", "score": "NaN"}]}], "a", "score", "finite"),
    ([{"id": "1", "input": None, "profile": [{"id": "a"}]}], "1", "input", "missing"),
    ([{"id": "1", "input": "x", "profile": [{"id": "a", "text": 3}]}], "a", "text", "expected a string"),
])
def test_a_bad_record_gets_the_detailed_error_naming_file_record_and_field(tmp_path, bad, record, field, reason):
    path = write(tmp_path / "q.json", bad)
    with pytest.raises(LampDataError) as err:
        load_questions(path)
    assert (err.value.file, err.value.record_id, err.value.field) == (str(path), record, field)
    assert reason in err.value.reason


def test_fast_path_checks_the_task_fields_and_ratings(tmp_path):
    path = write(tmp_path / "q.json", [{"id": "1", "input": "x", "profile": [{"id": "10", "text": "t", "score": "9"}]}])
    assert load_questions(path)[0].profile[0].score == "9"            # a rating is checked only for LaMP-3
    with pytest.raises(LampDataError, match="rating from 1 to 5") as err:
        load_questions(path, task="LaMP-3")
    assert err.value.record_id == "10" and err.value.field == "score"


def test_a_transform_is_applied_alike_on_both_paths_with_state_per_user(tmp_path):
    from lamp.core.questions import iter_questions

    def count(q, state):
        state["n"] = state.get("n", 0) + 1
        q.input = f"{q.input} #{state['n']}"
        return q

    path = write(tmp_path / "q.json", VALID + [{**VALID[1], "id": "3"}])
    fast, slow = load_questions(path, transform=count), list(iter_questions(path, transform=count))
    assert fast == slow and [q.input[-2:] for q in fast] == ["#1", "#1", "#2"]
    assert [q.input for q in load_questions(path)] == ["x: a b", "x: c", "x: c"]    # nothing stays applied


@pytest.mark.parametrize("name, task", [
    ("LaMP_2/dev_questions.json", "LaMP-2"),                  # both rules took an official folder
    ("data/LaMP_2/new/dev/dev_questions.json", "LaMP-2"),
    ("golds.zip!LaMP_3/dev_outputs.json", "LaMP-3"),
    ("lamp_2/x.json", "LaMP-2"),
    ("LaMP-2-old", "LaMP-2-old"),                             # lamp validate's rule: any task spelling...
    ("runs/LaMP_2_old/preds.json", "LaMP-2-old"),
    ("runs/lamp-4/preds.json", "LaMP-4"),
    ("LaMP_1/LaMP_2/x.json", "LaMP-2"),                       # ...the nearest folder first
    ("lamp-2-dev.json", None),                                # neither rule read a task inside a longer name
    ("preds_LaMP_7.json", None),
    ("runs/dev/preds.json", None),
])
def test_one_rule_reads_the_task_from_a_path_for_validate_and_eval(name, task):
    from lamp.core.sources import task_from_path

    assert task_from_path(name) == task


def _jsonl(path: Path, records: list, bom: bool = False) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


@pytest.mark.parametrize("bom", [False, True], ids=["plain", "bom"])
@pytest.mark.parametrize("form", ["json", "jsonl"])
def test_every_loader_accepts_a_bom_and_json_lines(tmp_path, bom, form):
    from lamp.core.outputs import load_rankings
    from lamp.core.questions import iter_questions

    def save(name: str, obj, lines: list) -> Path:
        if form == "jsonl":
            return _jsonl(tmp_path / f"{name}.jsonl", lines, bom)
        path = tmp_path / f"{name}.json"
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + json.dumps(obj).encode())
        return path

    q = save("dev_questions", VALID, VALID)
    expected = list(iter_questions(write(tmp_path / "ref.json", VALID)))
    assert load_questions(q) == list(iter_questions(q)) == expected
    zpath = tmp_path / "data.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(q, f"LaMP_3/dev/{q.name}")
    assert load_questions(zpath, split="dev") == expected                 # a zip member: the streaming path
    golds = [{"id": "1", "output": "4"}, {"id": "2", "output": "5"}]
    o = save("dev_outputs", {"task": "LaMP_3", "golds": golds}, [{"task": "LaMP_3"}, *golds])
    assert load_outputs(o).task == "LaMP_3" and load_outputs(o).by_id() == {"1": "4", "2": "5"}
    r = save("ranking", {"1": ["11", "10"], "2": ["10"]},
             [{"id": "1", "ranking": ["11", "10"]}, {"id": "2", "ranking": ["10"]}])
    assert load_rankings(r) == {"1": ["11", "10"], "2": ["10"]}


def test_one_line_json_lines_files_are_one_record(tmp_path):
    from lamp.core.outputs import load_rankings

    assert [q.id for q in load_questions(_jsonl(tmp_path / "q.jsonl", VALID[:1]))] == ["1"]
    assert load_outputs(_jsonl(tmp_path / "o.jsonl", [{"id": "1", "output": "4"}])).by_id() == {"1": "4"}
    assert load_rankings(_jsonl(tmp_path / "r.jsonl", [{"id": "1", "ranking": ["10"]}])) == {"1": ["10"]}
    assert load_rankings(write(tmp_path / "r.json", {"1": ["10"]})) == {"1": ["10"]}


def test_bare_outputs_lines_and_their_errors_name_the_line_or_record(tmp_path):
    from lamp.core.outputs import load_rankings

    bare = _jsonl(tmp_path / "o.jsonl", [{"id": "1", "output": "4"}, {"id": "2", "output": "3"}])
    assert load_outputs(bare).task is None and load_outputs(bare).by_id() == {"1": "4", "2": "3"}
    broken = tmp_path / "b.jsonl"
    broken.write_text('{"id": "1", "output": "4"}\n{"id": "2", "output": \n')
    with pytest.raises(LampDataError, match="line 2: not valid JSON Lines"):
        load_outputs(broken)
    with pytest.raises(LampDataError) as err:
        load_outputs(_jsonl(tmp_path / "m.jsonl", [{"id": "1", "output": "4"}, {"id": "2"}]))
    assert err.value.record_id == "2" and err.value.field == "output"
    with pytest.raises(LampDataError, match="ranked twice"):
        load_rankings(_jsonl(tmp_path / "r.jsonl", [{"id": "1", "ranking": []}, {"id": "1", "ranking": []}]))
    bad_q = _jsonl(tmp_path / "q.jsonl", [VALID[0], {**VALID[1], "profile": []}])
    with pytest.raises(LampDataError) as err:
        load_questions(bad_q)
    assert err.value.record_id == "2" and err.value.field == "profile"


def test_eval_reads_outputs_with_a_bom_and_as_json_lines(tmp_path):
    from eval.loading import read_outputs_set

    golds = [{"id": "1", "output": "4"}]
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "dev_outputs.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"task": "LaMP_3", "golds": golds}).encode())
    (tmp_path / "b" / "LaMP_3").mkdir(parents=True)
    _jsonl(tmp_path / "b" / "LaMP_3" / "dev_outputs.jsonl", [{"task": "LaMP_3"}, *golds])
    for folder in ("a", "b"):
        found = read_outputs_set(tmp_path / folder, role="golds")
        assert list(found) == ["LaMP-3"] and found["LaMP-3"].outputs == {"1": "4"}
