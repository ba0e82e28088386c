"""`lamp validate`: every planted problem is reported with its record id; exit 2 on errors only."""

from __future__ import annotations

import json
import shutil

from lamp.cli.main import main
from tiny_lamp3 import write


def test_valid_files_pass(lamp3_files, tmp_path, capsys):
    assert main(["validate", str(tmp_path)]) == 0
    assert "0 errors" in capsys.readouterr().out


def test_broken_copy_reports_each_planted_problem(lamp3_files, tmp_path, capsys):
    q, o = lamp3_files
    data = json.loads(q.read_text())
    data[0]["profile"][0]["date"] = "last tuesday"          # unparseable date
    data[0]["profile"][1]["id"] = "3000"                    # duplicate item id
    data[1]["profile"][0].pop("score")                      # missing task field
    data.append({"id": "300", "input": "x", "profile": []})  # duplicate id + empty profile
    data.append({"id": "302", "input": data[1]["input"], "profile": [{"id": "9", "text": " ", "score": "1"}]})
    q.write_text(json.dumps(data))
    write(o, {"task": "LaMP_3", "golds": [{"id": "300", "output": "4"}, {"id": "999", "output": "1"}]})
    assert main(["validate", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    for expected in ["record '3000': expected a date", "record '3000': duplicate profile item id",
                     "record '3010': missing", "record '300': duplicate question id",
                     "warning: text", "2 missing", "1 extra"]:
        assert expected in out, expected


def test_warnings_alone_do_not_fail(lamp3_files, capsys):
    q, _ = lamp3_files
    data = json.loads(q.read_text())
    data[0]["profile"][0]["text"] = ""
    q.write_text(json.dumps(data))
    assert main(["validate", str(q), "--task", "LaMP-3"]) == 0
    assert "1 warnings" in capsys.readouterr().out


def test_wrong_task_in_outputs_is_an_error(lamp3_files, capsys):
    _, o = lamp3_files
    write(o, {"task": "LaMP_5", "golds": [{"id": "300", "output": "4"}, {"id": "301", "output": "3"}]})
    assert main(["validate", str(o)]) == 2
    assert "the file is for LaMP_5, expected LaMP_3" in capsys.readouterr().out


def test_zip_is_validated(lamp3_files, tmp_path, capsys):
    archive = shutil.make_archive(str(tmp_path / "all"), "zip", tmp_path / "LaMP_3")
    assert main(["validate", archive, "--task", "LaMP-3"]) == 0


def test_bundled_demo_data_is_valid(demo_dir, capsys):
    assert main(["validate", str(demo_dir)]) == 0, capsys.readouterr().out


def test_json_lines_files_with_a_bom_are_validated_and_paired(lamp3_files, tmp_path, capsys):
    q, o = lamp3_files
    questions, golds = json.loads(q.read_text()), json.loads(o.read_text())["golds"]
    q.unlink()
    o.unlink()
    lines = lambda records: b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\n" for r in records).encode()  # noqa: E731
    q.with_suffix(".jsonl").write_bytes(lines(questions))
    o.with_suffix(".jsonl").write_bytes(lines([{"task": "LaMP_3"}, *golds]))
    assert main(["validate", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "dev_outputs.jsonl (outputs, LaMP-3, 2 records" in out and "dev_questions.jsonl (questions" in out
    o.with_suffix(".jsonl").write_bytes(lines([{"task": "LaMP_3"}, golds[0]]))
    assert main(["validate", str(tmp_path)]) == 2
    assert "ids do not match dev_questions.jsonl" in capsys.readouterr().out
