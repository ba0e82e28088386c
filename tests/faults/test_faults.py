"""The planted-fault corpus of issue 14: every bad input is a clean refusal.

One table: each row plants one fault in fresh copies of valid files, runs the verb in-process
(``lamp.cli.main.main`` or the official-style script entry), and asserts exit code 2, a message on
stderr that names the file (and the record/field where there is one), no traceback, and that
every input file is byte-for-byte unchanged and no output or ``*.partial.jsonl`` was left behind.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from lamp.cli.main import main

PREFIX = ("What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
          "without further explanation. review: ")


def questions(date: str = "2020-01-02", score: object = "2") -> list[dict]:
    return [{"id": "300", "input": PREFIX + "great kit", "user_id": "u1",
             "profile": [{"id": "3000", "text": "broke fast", "score": score, "date": date},
                         {"id": "3001", "text": "lovely book", "score": "5", "date": "2021-05-06"}]},
            {"id": "301", "input": PREFIX + "meh", "user_id": "u2",
             "profile": [{"id": "3010", "text": "okay", "score": "3", "date": "2019-07-08"}]}]


GOLDS = {"task": "LaMP_3", "golds": [{"id": "300", "output": "4"}, {"id": "301", "output": "3"}]}


@dataclass
class Files:
    root: Path
    q: Path = field(init=False)
    golds: Path = field(init=False)
    preds: Path = field(init=False)
    zip: Path = field(init=False)

    def __post_init__(self) -> None:
        self.q = self.write("data/LaMP_3/dev/dev_questions.json", questions())
        self.golds = self.write("data/LaMP_3/dev/dev_outputs.json", GOLDS)
        self.preds = self.write("preds/LaMP_3.json", GOLDS)
        self.zip = self.root / "sub.zip"
        with zipfile.ZipFile(self.zip, "w") as zf:
            zf.writestr("LaMP_3.json", json.dumps(GOLDS))

    def write(self, rel: str, obj: object) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obj), encoding="utf-8")
        return path

    def raw(self, rel: str, data: bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


def rank(inp, out) -> list[str]:
    return ["rank", "--input", str(inp), "--output", str(out), "--task", "LaMP-3", "--ranker", "bm25",
            "--workers", "1", "--no_progress"]


def evaluate(golds, preds, out) -> list[str]:
    return ["eval", "--golds", str(golds), "--preds", str(preds), "--task", "LaMP-3", "--output_file", str(out)]


def merge(q, out, ranking=None) -> list[str]:
    return ["merge", "--lamp_questions_addr", str(q), "--merged_output_addr", str(out)] + \
        (["--profile_ranking_addr", str(ranking)] if ranking else [])


def submit(preds, q_root, out, force=True) -> list[str]:
    return ["submit", str(preds), "--questions", str(q_root), "--split", "dev", "--output", str(out),
            "--allow-incomplete"] + (["--force"] if force else [])


def nested(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


NOT_UTF8 = b'[{"id": "300", "input": "caf\xe9 \xff\xfe", "profile": []}]'


def bomb_zip(path: Path, inflated: int) -> Path:
    """A small zip whose one JSON member inflates to ``inflated`` bytes."""
    body = b'{"task": "LaMP_3", "golds": [' + b" " * inflated + b"]}"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("LaMP_3.json", body)
    return path


def train_config(f: Files, **overrides) -> list[str]:
    cfg = {"train_data": str(f.q), "validation_data": str(f.q), "model_name": "SmolLM2-135M-Instruct",
           "task": "LaMP-3", "output_dir": str(f.root / "train_out"), **overrides}
    path = f.write("train.json", cfg)
    return ["train", "--config", str(path)]


#: (row id, setup(files) -> argv, fragments the message must contain, extra env)
Row = tuple[str, Callable[[Files], list[str]], tuple[str, ...]]

ROWS: list[Row] = [
    # --- an output that is an input destroys it
    ("rank output is its input", lambda f: rank(f.q, f.q), ("same file as the input",)),
    ("rank output is a link to its input", lambda f: rank(f.q, _link(f.q, f.root / "link.json")),
     ("same file as the input",)),
    ("rank output is a hard link to its input", lambda f: rank(f.q, _hardlink(f.q, f.root / "hard.json")),
     ("same file as the input",)),
    ("merge output is its questions", lambda f: merge(f.q, f.q), ("same file as the input",)),
    ("merge output is its ranking", lambda f: merge(f.q, f.write("r.json", {"300": ["3000", "3001"], "301": ["3010"]}),
                                                    f.root / "r.json"), ("same file as the input",)),
    ("eval output is the predictions", lambda f: evaluate(f.golds, f.preds, f.preds), ("same file as the input",)),
    ("eval output is the golds", lambda f: evaluate(f.golds, f.preds, f.golds), ("same file as the input",)),
    ("eval output is the golds through ..", lambda f: evaluate(f.golds, f.preds,
                                                              f.golds.parent / ".." / "dev" / f.golds.name),
     ("same file as the input",)),
    ("submit --force output is its input zip", lambda f: submit(f.zip, f.root / "data", f.zip),
     ("same file as the input",)),
    # --- non-UTF-8 input
    ("validate non-UTF-8", lambda f: ["validate", str(f.raw("LaMP_3/dev/dev_questions.json", NOT_UTF8))],
     ("not UTF-8",)),
    ("rank non-UTF-8", lambda f: rank(f.raw("bad.json", NOT_UTF8), f.root / "r.json"), ("bad.json", "not UTF-8")),
    ("merge non-UTF-8", lambda f: merge(f.raw("bad.json", NOT_UTF8), f.root / "m.json"), ("bad.json", "not UTF-8")),
    ("merge non-UTF-8 ranking", lambda f: merge(f.q, f.root / "m.json", f.raw("r.json", b'{"300": ["\xff"]}')),
     ("r.json", "not UTF-8")),
    ("train non-UTF-8 config", lambda f: ["train", "--config", str(f.raw("cfg.json", b'{"task": "\xff"}'))],
     ("cfg.json",)),
    # --- deeply nested JSON
    ("validate 100k nested brackets", lambda f: ["validate", str(f.raw("LaMP_3/dev/dev_questions.json", nested()))],
     ("dev_questions.json", "nested too deeply")),
    ("validate 100k nested outputs", lambda f: ["validate", str(f.raw("LaMP_3/dev/dev_outputs.json",
                                                                         b'{"golds": ' + nested() + b"}"))],
     ("dev_outputs.json", "nested too deeply")),
    ("eval 100k nested predictions", lambda f: evaluate(f.golds, f.raw("p.json", nested()), f.root / "s.json"),
     ("p.json", "nested too deeply")),
    ("rank 100k nested questions", lambda f: rank(f.raw("n.json", b"[" + nested() + b"]"), f.root / "r.json"),
     ("n.json", "nested too deeply")),
    # --- unusable output paths
    ("rank output is a folder", lambda f: rank(f.q, _mkdir(f.root / "outdir")), ("is a folder",)),
    ("eval output is a folder", lambda f: evaluate(f.golds, f.preds, _mkdir(f.root / "outdir")), ("is a folder",)),
    ("submit output is a folder", lambda f: submit(f.zip, f.root / "data", _mkdir(f.root / "outdir")),
     ("is a folder",)),
    ("merge output is a folder", lambda f: merge(f.q, _mkdir(f.root / "outdir")), ("is a folder",)),
    ("rank output under a regular file", lambda f: rank(f.q, f.write("afile", {}) / "r.json"), ("is a file",)),
    ("eval output under a regular file", lambda f: evaluate(f.golds, f.preds, f.write("afile", {}) / "s.json"),
     ("is a file",)),
    ("submit output under a regular file", lambda f: submit(f.zip, f.root / "data", f.write("afile", {}) / "s.zip"),
     ("is a file",)),
    ("train output_dir is a file", lambda f: train_config(f, output_dir=str(f.write("afile", {}))), ("is a file",)),
    ("rank output in a read-only folder", lambda f: rank(f.q, _readonly(f.root / "ro") / "r.json"),
     ("permission denied",)),
    ("eval output in a read-only folder", lambda f: evaluate(f.golds, f.preds, _readonly(f.root / "ro") / "s.json"),
     ("permission denied",)),
    # --- config values of the wrong type or range, refused before any model loads
    ("train config k is 'two'", lambda f: train_config(f, use_profile=True, num_retrieved="two"),
     ("num_retrieved", "'two'")),
    ("train negative k", lambda f: train_config(f, use_profile=True, num_retrieved=-1), ("num_retrieved", "-1")),
    ("train zero batch size", lambda f: train_config(f, per_device_batch_size=0), ("per_device_batch_size",)),
    ("train predictions over its own input", lambda f: train_config(
        f, validation_data=str(f.write("train_out/dev_predictions.json", questions()))), ("same file as the input",)),
    # --- accepted though wrong
    ("impossible date (validate)", lambda f: ["validate", str(f.write("LaMP_3/dev/dev_questions.json",
                                                                     questions(date="2020-13-45")))],
     ("record '3000'", "date", "impossible date '2020-13-45'")),
    ("impossible date (rank)", lambda f: rank(f.write("q.json", questions(date="2021-02-30")), f.root / "r.json"),
     ("q.json", "'3000'", "date")),
    ("NaN rating (rank)", lambda f: rank(f.raw("q.json", json.dumps(questions(score=float("nan"))).encode()),
                                         f.root / "r.json"), ("q.json", "'3000'", "score", "finite")),
    ("NaN rating string (validate)", lambda f: ["validate", str(f.write("LaMP_3/dev/dev_questions.json",
                                                                       questions(score="NaN")))],
     ("'3000'", "score")),
    ("rating out of range", lambda f: rank(f.write("q.json", questions(score="9")), f.root / "r.json"),
     ("'3000'", "score", "1 to 5")),
    ("infinite rating", lambda f: rank(f.raw("q.json", json.dumps(questions(score="inf")).encode()),
                                       f.root / "r.json"), ("'3000'", "score")),
    ("rank negative workers", lambda f: rank(f.q, f.root / "r.json") + ["--workers", "-1"], ("--workers",)),
    ("rank zero batch size", lambda f: rank(f.q, f.root / "r.json") + ["--batch_size", "0"], ("--batch_size",)),
    ("validate a folder without JSON", lambda f: ["validate", str(_mkdir(f.root / "empty"))], ("no JSON files",)),
    ("validate a zip without JSON", lambda f: ["validate", str(_zip_of(f.root / "e.zip", {"a.txt": b"x"}))],
     ("no JSON files",)),
    # --- zips read in bounded memory
    ("eval zip member inflating past the limit", lambda f: evaluate(f.golds, bomb_zip(f.root / "bomb.zip", 3 << 20),
                                                                   f.root / "s.json"),
     ("bomb.zip!LaMP_3.json", "limit")),
    ("submit zip member inflating past the limit", lambda f: submit(bomb_zip(f.root / "bomb.zip", 3 << 20),
                                                                    f.root / "data", f.root / "s.zip", force=False),
     ("bomb.zip!LaMP_3.json", "limit")),
    ("scrub output is its input", lambda f: ["scrub", str(f.q), "--output", str(f.q)], ("same file as the input",)),
    ("run negative k", lambda f: run_config(f, k=-1), ("k",)),
    ("run config k is 'two'", lambda f: run_config(f, k="two"), ("k", "'two'")),
    ("validate zip member inflating past the limit", lambda f: ["validate", str(bomb_zip(f.root / "bomb.zip", 3 << 20))],
     ("bomb.zip!LaMP_3.json", "limit")),
    ("eval_task.py output is the predictions", lambda f: ["@eval_task", "--golds_json", str(f.golds), "--preds_json",
                                                          str(f.preds), "--task_name", "LaMP_3", "--output_file",
                                                          str(f.preds)], ("same file as the input",)),
    ("eval_all.py output is the golds zip", lambda f: ["@eval_all", "--golds_zip", str(f.zip), "--preds_zip",
                                                       str(f.zip), "--output_file", str(f.zip), "--tasks_present"],
     ("same file as the input",)),
    ("eval_task.py 100k nested golds", lambda f: ["@eval_task", "--golds_json", str(f.raw("g.json", nested())),
                                                  "--preds_json", str(f.preds), "--task_name", "LaMP_3",
                                                  "--output_file", str(f.root / "s.json")],
     ("g.json", "nested too deeply")),
]


def run_argv(argv: list[str]) -> int:
    """``lamp VERB ...``, or an official-style script (``@eval_task``, ``@eval_all``) by its entry point."""
    from lamp.cli.main import script_main

    if argv[0] == "@eval_task":
        from eval.cli import configure_task, run_task

        return script_main(configure_task, run_task, argv[1:], prog="eval_task.py")
    if argv[0] == "@eval_all":
        from eval.cli import configure_all, run_all

        return script_main(configure_all, run_all, argv[1:], prog="eval_all.py")
    return main(argv)


def run_config(f: Files, **overrides) -> list[str]:
    cfg = {"data": str(f.root / "data"), "split": "dev", "tasks": ["LaMP-3"], "retrievers": ["bm25"], "k": 1,
           "backend": "dummy", "baselines": False, "output_dir": str(f.root / "run"), **overrides}
    return ["run", "--config", str(f.write("run.json", cfg))]


#: ``lamp run`` config validation before anything is written is issue 13's (lamp/pipeline/run.py RunConfig);
#: these rows are part of the corpus and pass once it lands.
RUN_ROWS: list[Row] = [
    ("run unknown retriever leaves no run folder", lambda f: run_config(f, retrievers=["bm52"]), ("bm52",)),
    ("run bad data leaves no run folder", lambda f: run_config(
        f, data=str(f.write("bad/LaMP_3/dev/dev_questions.json", questions(date="2020-13-45")).parents[2])),
     ("impossible date",)),
    ("run non-UTF-8 config", lambda f: ["run", "--config", str(f.raw("run.json", b'{"k": "\xff"}'))], ("run.json",)),
]


def _link(target: Path, link: Path) -> Path:
    link.symlink_to(target)
    return link


def _hardlink(target: Path, link: Path) -> Path:
    os.link(target, link)
    return link


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _readonly(path: Path) -> Path:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; this row needs an unprivileged user")
    path.mkdir()
    path.chmod(0o555)
    return path


def _zip_of(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("row_id,setup,fragments",
                         [pytest.param(*r, id=r[0]) for r in ROWS + RUN_ROWS])
def test_planted_fault_is_a_clean_refusal(row_id, setup, fragments, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LAMP_MAX_MEMBER_MB", "1")
    files = Files(tmp_path)
    argv = setup(files)
    before = _snapshot(tmp_path)
    code = run_argv(argv)
    captured = capsys.readouterr()
    err = captured.err + captured.out          # validate reports on stdout, the other verbs on stderr
    assert code == 2, f"{row_id}: exit {code}, output {err!r}"
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, f"{row_id}: {fragment!r} not in {err!r}"
    after = _snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before, f"{row_id}: an input changed"
    new = sorted(set(after) - set(before))
    assert new == [], f"{row_id}: left behind {new}"


def test_validate_reports_the_planted_faults_on_stdout(tmp_path, capsys):
    """``validate`` lists problems on stdout (its report), still exit 2: the rows above check stderr
    for the other verbs; here the report must name record and field."""
    f = Files(tmp_path)
    bad = f.write("LaMP_3/dev/dev_questions.json", questions(date="2020-13-45", score="NaN"))
    assert main(["validate", str(bad)]) == 2
    out = capsys.readouterr().out
    assert "'3000'" in out and "date" in out and "score" in out


def test_zip_member_is_read_in_bounded_memory(tmp_path, monkeypatch):
    """A 1 MB-limit read of a member inflating to 40 MB stops early: peak memory stays far below 40 MB."""
    import tracemalloc

    from lamp.core.errors import LampError
    from lamp.core.sources import read_zip_member

    path = bomb_zip(tmp_path / "b.zip", 40 << 20)
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    with zipfile.ZipFile(path) as zf, pytest.raises(LampError, match="limit"):
        read_zip_member(zf, "LaMP_3.json", "b.zip!LaMP_3.json", limit=1 << 20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20


def test_rank_leaves_no_partial_file_after_an_error(tmp_path, capsys):
    f = Files(tmp_path)
    undated = questions()
    for q in undated:
        for item in q["profile"]:
            del item["date"]
    bad = f.write("undated.json", undated)
    out = tmp_path / "r.json"
    assert main(rank(bad, out) + ["--ranker", "recency"]) == 2      # recency needs dates: fails while ranking
    assert "date" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("*.partial.jsonl"))


def test_an_impossible_date_names_its_field_and_value():
    from lamp.core.questions import parse_date

    with pytest.raises(ValueError, match="impossible date '2020-13-45'"):
        parse_date("2020-13-45")
    with pytest.raises(ValueError, match="impossible"):
        parse_date("2021-02-29")
    assert parse_date("2020-02-29") == (2020, 2, 29) and parse_date("2020") == (2020,)


def test_final_model_save_is_atomic(tmp_path):
    """A save that fails halfway leaves the previous final model's files as they were, and no temp folder."""
    from lamp.training.llm import save_final

    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text("old")
    (out / "model.safetensors").write_text("old weights")

    class HalfSaving:
        def save_pretrained(self, folder):
            Path(folder, "model.safetensors").write_text("new weights, cut")
            raise OSError("disk full")

    with pytest.raises(OSError):
        save_final(HalfSaving(), HalfSaving(), out)
    assert (out / "config.json").read_text() == "old" and (out / "model.safetensors").read_text() == "old weights"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]

    class Saving:
        def save_pretrained(self, folder):
            Path(folder, "model.safetensors").write_text("new weights")
            Path(folder, "config.json").write_text("new")

    save_final(Saving(), Saving(), out)
    assert (out / "config.json").read_text() == "new" and (out / "model.safetensors").read_text() == "new weights"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]


# --------------------------------------------------------------------------- lamp run resume

class _Cfg:
    """The RunConfig fields ranking_for reads."""

    def __init__(self, use_date: bool = False, scrub: bool = False) -> None:
        self.use_date, self.seed, self.contriever_checkpoint, self.retriever_options = use_date, 0, None, {}
        self.scrub = scrub


def test_run_resume_recomputes_a_ranking_made_with_other_settings(tmp_path, capsys):
    from lamp.core.questions import load_questions
    from lamp.pipeline.run import ranking_for

    f = Files(tmp_path)
    qs = load_questions(f.q, task="LaMP-3")
    run_dir = tmp_path / "run"
    first = ranking_for(_Cfg(use_date=False), run_dir, "LaMP-3", "bm25", qs)
    path = run_dir / "rankings" / "LaMP_3" / "bm25.json"
    stamp = path.stat().st_mtime_ns
    assert ranking_for(_Cfg(use_date=False), run_dir, "LaMP-3", "bm25", qs) == first
    assert path.stat().st_mtime_ns == stamp                      # same settings: reused
    capsys.readouterr()
    ranking_for(_Cfg(use_date=True), run_dir, "LaMP-3", "bm25", qs)
    assert "other settings" in capsys.readouterr().err
    assert json.loads(path.with_name("bm25.settings.json").read_text())["use_date"] is True


def test_run_resume_recomputes_a_truncated_ranking(tmp_path, capsys):
    from lamp.core.questions import load_questions
    from lamp.pipeline.run import ranking_for

    f = Files(tmp_path)
    qs = load_questions(f.q, task="LaMP-3")
    run_dir = tmp_path / "run"
    good = ranking_for(_Cfg(), run_dir, "LaMP-3", "bm25", qs)
    path = run_dir / "rankings" / "LaMP_3" / "bm25.json"
    path.write_text(path.read_text()[:15])
    capsys.readouterr()
    assert ranking_for(_Cfg(), run_dir, "LaMP-3", "bm25", qs) == good
    assert "damaged" in capsys.readouterr().err
    path.write_text(json.dumps({"300": ["3000", "9999"], "301": ["3010"]}))   # names an item not in the profile
    assert ranking_for(_Cfg(), run_dir, "LaMP-3", "bm25", qs) == good


def test_run_resume_recomputes_when_scrubbing_changes(tmp_path, capsys):
    from lamp.core.questions import load_questions
    from lamp.pipeline.run import ranking_for
    from lamp.privacy.scrub import scrub_transform

    f = Files(tmp_path)
    run_dir = tmp_path / "run"
    ranking_for(_Cfg(), run_dir, "LaMP-3", "bm25", load_questions(f.q, task="LaMP-3"))
    qs = load_questions(f.q, task="LaMP-3", transform=scrub_transform(True))
    capsys.readouterr()
    ranking_for(_Cfg(scrub=True), run_dir, "LaMP-3", "bm25", qs)
    assert "other settings" in capsys.readouterr().err


def test_fault_corpus_covers_every_kind_the_issue_lists():
    text = " ".join(r[0] for r in ROWS + RUN_ROWS)
    for kind in ("rank output is its input", "merge output", "eval output is the predictions", "eval output is the golds",
                 "submit --force", "non-UTF-8", "nested", "folder", "regular file", "read-only", "'two'",
                 "impossible date", "NaN", "negative k", "without JSON", "inflating"):
        assert kind in text, kind
    assert len(ROWS) >= 40
