"""The run directory type (lamp.core.rundir): one layout read and written by run, report, rspg and compare."""

from __future__ import annotations

import json

import pytest

from lamp.core.errors import LampError
from lamp.core.rundir import GOLDS_KEY, RunDir


def test_paths_follow_the_documented_layout(tmp_path):
    run = RunDir(str(tmp_path))
    assert run.root == tmp_path
    assert run.ranking("LaMP-3", "bm25") == tmp_path / "rankings" / "LaMP_3" / "bm25.json"
    assert run.ranking_settings("LaMP_3", "bm25") == tmp_path / "rankings" / "LaMP_3" / "bm25.settings.json"
    assert run.prompts("LaMP-3", "bm25") == tmp_path / "prompts" / "LaMP_3" / "bm25.jsonl"
    assert run.predictions("none", "LaMP-3") == tmp_path / "predictions" / "none" / "LaMP_3.json"
    assert (run.config.name, run.manifest.name, run.scores.name) == ("config.json", "manifest.json", "scores.json")
    assert (run.report_md.name, run.report_html.name) == ("report.md", "report.html")


def test_what_is_written_reads_back(tmp_path):
    run = RunDir.create(tmp_path / "run")
    run.write_config({"k": 2})
    run.write_manifest({"timings_s": {"total": 1.0}})
    run.write_scores({"none": {"LaMP_3": {"MAE": 0.5}}, GOLDS_KEY: {"LaMP_3": "golds.json"}})
    run.write_prompts("LaMP-3", "bm25", [("300", "prompt ä"), ("301", "second")])
    run.write_predictions("bm25", "LaMP-3", {"300": "4", "301": "3"})
    run.write_report("# table\n", "<html></html>\n")
    assert run.read_config() == {"k": 2} and run.read_manifest()["timings_s"] == {"total": 1.0}
    assert run.read_scores()["none"] == {"LaMP_3": {"MAE": 0.5}}
    assert run.golds_path("golds.json") == run.root / "golds.json"
    assert run.golds_path(str(tmp_path / "abs.json")) == tmp_path / "abs.json"
    assert run.read_prompts("LaMP-3", "bm25") == {"300": "prompt ä", "301": "second"}
    assert run.read_predictions("bm25", "LaMP-3") == {"300": "4", "301": "3"}
    assert json.loads(run.predictions("bm25", "LaMP-3").read_text())["task"] == "LaMP_3"
    assert run.predicted_methods() == ["bm25"] and run.predicted_tasks("bm25") == ["LaMP-3"]
    assert run.report_md.read_text() == "# table\n"
    assert RunDir.create(run.root) == run                  # a lamp run directory is reopened (resume)


def test_a_folder_without_a_run_reads_as_empty(tmp_path):
    run = RunDir(tmp_path)
    assert run.read_config() == {} and run.predicted_methods() == [] and run.predicted_tasks("x") == []
    with pytest.raises(LampError, match="no scores.json"):
        run.read_scores()
    with pytest.raises(LampError, match="no manifest.json"):
        run.read_manifest()


def test_broken_json_is_a_user_error_naming_the_file(tmp_path):
    (tmp_path / "scores.json").write_text("[1, 2]")
    with pytest.raises(LampError, match="scores.json: expected an object keyed by method name"):
        RunDir(tmp_path).read_scores()
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(LampError, match="config.json: not valid JSON"):
        RunDir(tmp_path).read_config()


def test_create_never_clobbers_a_user_folder_or_file(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(LampError, match="not a lamp run directory"):
        RunDir.create(tmp_path / "mine")
    (tmp_path / "file").write_text("x")
    with pytest.raises(LampError, match="existing file"):
        RunDir.create(tmp_path / "file")
    with pytest.raises(LampError, match="cannot create"):
        RunDir.create(tmp_path / "file" / "below")
