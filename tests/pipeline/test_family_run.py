"""`lamp run` over the LaMP family: LaMP-QA answers scored by the LLM judge (named in the manifest,
cached so a rerun judges nothing twice), and per-task overrides that cut the long tasks' lengths."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eval.judge import PROMPT_HASH, PROMPT_VERSION, REASK
from lamp.cli.main import main
from lamp.core.errors import LampError
from lamp.core.tasks import get_task
from lamp.generation.backends.base import GenerationSettings
from lamp.generation.backends.dummy import DummyBackend
from lamp.pipeline.run import RunConfig, run_pipeline
from lamp.pipeline.run_judge import parse_judge

QA = "LaMP-QA-Lifestyle_and_Personal_Development"
QA_FILE = "LaMP_QA_Lifestyle_and_Personal_Development"
REVIEW = "LongLaMP-product_review"
_ASPECT = re.compile(r"-aspect: (.*)")
#: The first line of the judge's re-ask, which only a retried prompt holds.
_REASKED = REASK.strip().splitlines()[0]


class RubricJudge(DummyBackend):
    """A scripted judge: an aspect whose title starts with a vowel gets an unreadable answer first
    and 2 when re-asked; every other aspect gets 1 at once."""

    identity = "test:rubric-judge-v1"

    def generate(self, prompts: list[str], settings: GenerationSettings) -> list[str]:
        self.calls += 1
        out = []
        for prompt in prompts:
            title = _ASPECT.search(prompt).group(1)
            if title[0].lower() not in "aeiou":
                out.append('```json\n{"match_score": 1}\n```')
            else:
                out.append('{"match_score": 2}' if _REASKED in prompt else "I think it does.")
        return out


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / "cache"))


def qa_config(data: Path, out: Path, **kw) -> RunConfig:
    base = dict(data=str(data), split="dev", tasks=[QA], retrievers=["none", "bm25"], k=1, backend="dummy",
                model="dummy", limit=4, baselines=False, judge_retries=1, output_dir=str(out))
    return RunConfig(**{**base, **kw})


def expected_score(data: Path, limit: int) -> float:
    """The official aggregation over the script above: vowel aspects 2, others 1, out of 2 each."""
    questions = json.loads((data / QA_FILE / "dev" / "dev_questions.json").read_text())[:limit]
    per = [sum(2 if a["aspect"][0].lower() in "aeiou" else 1 for a in q["rubric_aspects"])
           / (2 * len(q["rubric_aspects"])) for q in questions]
    return sum(per) / len(per)


def test_run_scores_lamp_qa_with_the_judge_and_the_manifest_names_it(demo_dir, tmp_path, private_cache):
    out = tmp_path / "run"
    result = run_pipeline(qa_config(demo_dir, out), backend=DummyBackend(), judge=RubricJudge())
    scores = json.loads((out / "scores.json").read_text())
    want = expected_score(demo_dir, 4)
    assert scores["none"][QA_FILE] == {"rubric-score": pytest.approx(want)}
    assert scores["bm25"][QA_FILE] == {"rubric-score": pytest.approx(want)}
    judged = json.loads((out / "judged" / "bm25" / f"{QA_FILE}.json").read_text())
    questions = json.loads((demo_dir / QA_FILE / "dev" / "dev_questions.json").read_text())[:4]
    vowels = sum(a["aspect"][0].lower() in "aeiou" for q in questions for a in q["rubric_aspects"])
    assert judged["retried_aspects"] == vowels and judged["unparsable_aspects"] == 0
    assert [q["id"] for q in judged["per_question_scores"]] == [q["id"] for q in questions]
    judge = json.loads((out / "manifest.json").read_text())["judge"]
    assert judge["identity"] == f"test:rubric-judge-v1|judge:{PROMPT_VERSION}:{PROMPT_HASH}"
    assert judge["prompt_hash"] == PROMPT_HASH and judge["retries"] == 1
    assert judge["generation"]["temperature"] == 0.0 and judge["backend"] == "RubricJudge"
    assert result["manifest"]["judge"] == judge
    report = (out / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith(f"| {QA} | rubric-score"))
    assert row.count(f"{want:.4f}") == 2
    assert f"judged by `{judge['identity']}" in report and PROMPT_HASH in report


def test_a_rerun_judges_nothing_twice_and_scores_the_same(demo_dir, tmp_path, private_cache):
    first, again = RubricJudge(), RubricJudge()
    run_pipeline(qa_config(demo_dir, tmp_path / "a"), backend=DummyBackend(), judge=first)
    run_pipeline(qa_config(demo_dir, tmp_path / "b"), backend=DummyBackend(), judge=again)
    assert first.calls > 0 and again.calls == 0
    assert (tmp_path / "a" / "scores.json").read_text() == (tmp_path / "b" / "scores.json").read_text()


def test_the_judge_defaults_to_the_runs_own_model(demo_dir, tmp_path, private_cache):
    out = tmp_path / "run"
    assert main(["run", "--data", str(demo_dir), "--tasks", QA, "--retrievers", "none", "--backend", "dummy",
                 "--model", "mine", "--limit", "2", "--no_baselines", "--judge_retries", "0",
                 "--output_dir", str(out)]) == 0
    judge = json.loads((out / "manifest.json").read_text())["judge"]
    assert judge["own_model"] is True and judge["backend"] == "dummy" and judge["model"] == "mine"
    assert judge["identity"].startswith(DummyBackend.identity + "|judge:")
    # The dummy model never answers JSON: every aspect is counted unparsable and scores 0, not hidden.
    judged = json.loads((out / "judged" / "none" / f"{QA_FILE}.json").read_text())
    assert judged["unparsable_aspects"] == judged["aspects"] > 0 and judged["score"] == 0.0


def test_the_judge_setting_opens_another_backend_and_model(demo_dir, tmp_path, private_cache):
    out = tmp_path / "run"
    run_pipeline(qa_config(demo_dir, out, judge="dummy:other-judge", limit=2, retrievers=["none"]),
                 backend=DummyBackend())
    judge = json.loads((out / "manifest.json").read_text())["judge"]
    assert (judge["backend"], judge["model"], judge["own_model"]) == ("dummy", "other-judge", False)


def test_per_task_overrides_cut_only_their_task(demo_dir, tmp_path, private_cache):
    out = tmp_path / "run"
    cfg = RunConfig(data=str(demo_dir), split="dev", tasks=["LaMP-3", REVIEW], retrievers=["none", "bm25"], k=1,
                    backend="dummy", model="dummy", baselines=False, output_dir=str(out),
                    per_task={REVIEW: {"max_new_tokens": 3, "limit": 2, "retrievers": ["none"]}})
    run_pipeline(cfg, backend=DummyBackend())
    scores = json.loads((out / "scores.json").read_text())
    assert set(scores["none"]) == {"LaMP_3", "LongLaMP_product_review"} and set(scores["bm25"]) == {"LaMP_3"}
    assert {"rouge-1", "rouge-L", "meteor"} <= set(scores["none"]["LongLaMP_product_review"])
    review = json.loads((out / "predictions" / "none" / "LongLaMP_product_review.json").read_text())["golds"]
    assert len(review) == 2 and all(1 <= len(r["output"].split()) <= 3 for r in review)
    lamp3 = json.loads((out / "predictions" / "none" / "LaMP_3.json").read_text())["golds"]
    assert len(lamp3) > 2


@pytest.mark.parametrize("per_task, judge_options, needle", [
    ({REVIEW: {"tasks": ["LaMP-1"]}}, {}, "tasks cannot be set per task"),
    ({REVIEW: {"max_new_tokens": "many"}}, {}, "max_new_tokens must be int"),
    ({REVIEW: {"limit": 0}}, {}, "limit must be at least 1"),
    ({"LaMP-1": {"k": 2}}, {}, "not one of the run's tasks"),
    ({REVIEW: {"retrievers": ["bm26"]}}, {}, "bm26"),
    ({}, {"base_url": "http://127.0.0.1:1/v1"}, "judge_options need judge"),
])
def test_bad_per_task_or_judge_settings_are_refused_naming_the_key(per_task, judge_options, needle, tmp_path):
    cfg = RunConfig(tasks=["LaMP-3", REVIEW], per_task=per_task, judge_options=judge_options,
                    backend="dummy", output_dir=str(tmp_path / "never"))
    with pytest.raises(LampError, match=re.escape(needle)):
        cfg.validate()
    assert not (tmp_path / "never").exists()


def test_a_bad_per_task_key_exits_2_from_the_cli(tmp_path, capsys):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"tasks": [REVIEW], "backend": "dummy", "per_task": {REVIEW: {"max_new": 3}}}))
    assert main(["run", "--config", str(config), "--output_dir", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert "per_task" in err and "max_new" in err and "Traceback" not in err


def test_a_judge_spec_is_backend_then_model_or_a_model_alone():
    assert parse_judge("openai:llama3:8b") == ("openai", "llama3:8b")
    assert parse_judge("hf-causal:Qwen/Qwen2.5-7B-Instruct") == ("hf-causal", "Qwen/Qwen2.5-7B-Instruct")
    assert parse_judge("SmolLM2-135M-Instruct") == ("auto", "SmolLM2-135M-Instruct")


def test_the_demo_config_runs_one_longlamp_task_and_one_lamp_qa_category_beside_lamp():
    cfg = RunConfig.from_file(Path(__file__).resolve().parents[2] / "data" / "demo_run.json")
    cfg.validate("data/demo_run.json", check_backend=False)
    benchmarks = [get_task(t).benchmark for t in cfg.tasks]
    assert benchmarks.count("LaMP") == 7 and benchmarks.count("LongLaMP") == 1 and benchmarks.count("LaMP-QA") == 1
    # The long tasks are cut (their own budget is hundreds of tokens) to keep `make demo` short.
    for task in cfg.tasks:
        if get_task(task).benchmark != "LaMP":
            assert cfg.for_task(task).max_new_tokens < get_task(task).max_new_tokens
