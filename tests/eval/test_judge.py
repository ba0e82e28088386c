"""The LaMP-QA judge: the official prompt and answer parsing, the official aggregation pinned on
hand-made judge answers (retries and never-readable answers included), caching under the judge's
identity and prompt hash, and resuming after an interruption, through the library and `lamp judge`."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI, Request

from lamp.cli.main import main as lamp_main
from lamp.core.errors import LampDataError, LampError
from lamp.core.records import Question
from lamp.generation.backends.base import Backend, GenerationSettings
from lamp.generation.cache import GenerationCache

from lamp.pipeline.judging import judge_with

from eval.judge import (PROMPT_HASH, PROMPT_VERSION, REASK, SYSTEM, USER, JudgeSettings, aspect_text, judge_prompt,
                        parse_answer, read_responses, rubric)


def judge(questions, responses, backend, settings=JudgeSettings(), cache=None):
    return judge_with(backend, questions, responses, settings, cache)


def aspect(title: str) -> dict[str, str]:
    return {"aspect": title, "reason": f"why {title}", "evidence": f"said {title}"}


def question(qid: str, *titles: str) -> Question:
    return Question(id=qid, input=f"question {qid}?", extra={"narrative": f"narrative of {qid}",
                                                             "rubric_aspects": [aspect(t) for t in titles]})


#: Hand-made judge answers per aspect title, one per attempt (the last repeats).
SCRIPT = {
    "A": ['```json\n{"match_score": 2}\n```'],
    "B": ["I would say 1.", '```json\n{"match_score": 1}\n```'],      # readable on the first re-ask
    "C": ["no json here"],                                            # never readable: 0, counted
    "D": ['{"match_score": 1}'],
    "E": ["```json\n{match_score: 2,}\n```"],                          # json5 only
}


class ScriptedJudge(Backend):
    """Answers from SCRIPT by the aspect in the prompt and the number of re-asks it carries."""

    def __init__(self, identity: str = "scripted:v1", fail_on_call: int | None = None) -> None:
        self.identity = identity
        self.batch_size = 2
        self.prompts: list[str] = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    def generate(self, prompts: list[str], settings: GenerationSettings) -> list[str]:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise LampError("the judge server went away")
        assert settings.num_beams == 1 and not settings.do_sample     # greedy
        self.prompts += prompts
        out = []
        for p in prompts:
            title = p.split("aspect: -aspect: ", 1)[1].split("\n", 1)[0]
            answers = SCRIPT[title]
            out.append(answers[min(p.count("Your previous output could not be read"), len(answers) - 1)])
        return out


QUESTIONS = [question("q1", "A", "B", "C"), question("q2", "D", "E")]
RESPONSES = {"q1": "answer one", "q2": "answer two"}


# --------------------------------------------------------------------------- the official prompt and parse

def test_prompt_is_the_official_system_and_user_text_with_the_aspect_as_written_there():
    assert aspect_text(aspect("A")) == "-aspect: A\n    -reason: why A\n    -evidence: said A"
    prompt = judge_prompt("Q?", "my details", "the response", aspect("A"))
    assert prompt == SYSTEM + USER.format(question="Q?", details="my details", response="the response",
                                          aspects="-aspect: A\n    -reason: why A\n    -evidence: said A")
    assert SYSTEM.startswith("You are a fair and insightful judge")
    assert "0 means the response does not cover this aspect, 1 means the response somewhat covers" in SYSTEM
    assert prompt.endswith("Your output should be only a valid json object in ```json ``` block without any "
                           "explanations.\n")


@pytest.mark.parametrize("text,score", [
    ('```json\n{"match_score": 2}\n```', 2.0),
    ('{"match_score": 0, "why": "x"}', 0.0),
    ("```json {match_score: 1,} ```", 1.0),          # json fails, json5 reads it, as officially
    ('{"match_score": 1.5}', 1.5),                     # officially summed as is
    ("Score: 2", None),
    ('{"match_score": "2"}', None),                   # officially passes, then crashes the sum
    ('{"match_score": 7}', None),
    ('{"match_score": true}', None),
    ('{"score": 2}', None),
    ("[2]", None),
    ("", None),
])
def test_answers_are_read_as_the_official_parse_json_reads_them(text, score):
    assert parse_answer(text) == score


# --------------------------------------------------------------------------- aggregation on hand-made answers

def test_aggregation_on_hand_made_answers_with_retries_and_unreadable_ones():
    backend = ScriptedJudge()
    result = judge(QUESTIONS, RESPONSES, backend, JudgeSettings(retries=3))
    # q1: A=2, B=1 (after one re-ask), C=0 (never readable) -> 3 / (2*3); q2: D=1, E=2 -> 3 / (2*2)
    assert result.per_question() == {"q1": pytest.approx(0.5), "q2": pytest.approx(0.75)}
    assert result.score == pytest.approx((0.5 + 0.75) / 2)
    assert result.retried == 2 and result.unparsable == 1
    attempts = {a.aspect: a.attempts for v in result.questions.values() for a in v}
    assert attempts == {"A": 1, "B": 2, "C": 4, "D": 1, "E": 1}      # C: 1 + 3 re-asks
    out = result.to_json()
    details = {d["aspect"]: d for q in out["per_question_scores"] for d in q["details"]}
    assert details["C"] == {"aspect": "C", "score": 0.0, "parsed": False, "attempts": 4,
                            "answers": ["no json here"] * 4}
    assert details["B"] == {"aspect": "B", "score": 1.0, "parsed": True, "attempts": 2}
    assert (out["retried_aspects"], out["unparsable_aspects"], out["aspects"]) == (2, 1, 5)


def test_zero_retries_scores_an_unreadable_first_answer_zero():
    result = judge(QUESTIONS, RESPONSES, ScriptedJudge(), JudgeSettings(retries=0))
    assert result.per_question()["q1"] == pytest.approx((2 + 0 + 0) / 6)
    assert result.unparsable == 2 and result.retried == 0


def test_the_re_ask_is_a_fixed_text_quoting_the_unreadable_answer():
    backend = ScriptedJudge()
    judge([question("q1", "B")], {"q1": "r"}, backend, JudgeSettings(retries=3))
    first, second = backend.prompts
    assert second == first + REASK.format(answer="I would say 1.")


# --------------------------------------------------------------------------- cache, identity, resume

def test_judge_answers_are_cached_under_the_judge_identity_and_prompt_hash(tmp_path):
    with GenerationCache(tmp_path / "c.sqlite") as cache:
        first = judge(QUESTIONS, RESPONSES, ScriptedJudge(), JudgeSettings(), cache)
        again = ScriptedJudge()
        second = judge(QUESTIONS, RESPONSES, again, JudgeSettings(), cache)
        assert again.calls == 0 and second.to_json() == first.to_json()
        other = ScriptedJudge("scripted:v2")                      # another judge model: nothing reused
        judge(QUESTIONS, RESPONSES, other, JudgeSettings(), cache)
        assert other.calls > 0
        identities = {row[0] for row in cache._db.execute("SELECT DISTINCT identity FROM generations")}
    suffix = f"|judge:{PROMPT_VERSION}:{PROMPT_HASH}"
    assert identities == {"scripted:v1" + suffix, "scripted:v2" + suffix}
    assert first.judge["identity"] == "scripted:v1" + suffix and first.judge["prompt_hash"] == PROMPT_HASH


def test_an_interrupted_judge_run_resumes_and_redoes_only_unfinished_batches(tmp_path):
    uninterrupted = judge(QUESTIONS, RESPONSES, ScriptedJudge(), JudgeSettings()).to_json()
    with GenerationCache(tmp_path / "c.sqlite") as cache:
        broken = ScriptedJudge(fail_on_call=2)                     # the first batch of 2 finishes
        with pytest.raises(LampError, match="went away"):
            judge(QUESTIONS, RESPONSES, broken, JudgeSettings(), cache)
        assert len(broken.prompts) == 2
        resumed = ScriptedJudge()
        result = judge(QUESTIONS, RESPONSES, resumed, JudgeSettings(), cache)
    first_round = [p for p in resumed.prompts if "Your previous output" not in p]
    assert len(first_round) == 5 - 2 and not set(first_round) & set(broken.prompts)
    assert result.to_json() == uninterrupted


# --------------------------------------------------------------------------- bad input

def test_a_question_without_rubric_aspects_is_an_error_naming_it():
    with pytest.raises(LampDataError, match="record id 'q9'.*rubric_aspects"):
        rubric(Question(id="q9", input="x", extra={"narrative": "n", "rubric_aspects": []}))
    with pytest.raises(LampDataError, match=r"rubric_aspects\[0\]"):
        rubric(Question(id="q9", input="x", extra={"narrative": "n", "rubric_aspects": [{"aspect": "a"}]}))
    with pytest.raises(LampDataError, match="narrative"):
        rubric(Question(id="q9", input="x"))


def test_responses_are_read_from_the_official_layout_and_lamps(tmp_path):
    official = tmp_path / "o.json"
    official.write_text(json.dumps({"q1": [{"output": 3}, {"output": "second"}], "q2": "plain"}))
    assert read_responses(str(official)) == {"q1": "3", "q2": "plain"}      # first response, str()
    lamp = tmp_path / "l.json"
    lamp.write_text(json.dumps({"task": "x", "golds": [{"id": "q1", "output": "a"}]}))
    assert read_responses(str(lamp)) == {"q1": "a"}
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps({"q1": []}))
    with pytest.raises(LampDataError, match="record id 'q1'"):
        read_responses(str(bad))


# --------------------------------------------------------------------------- lamp judge, end to end

def _files(tmp_path, records=None):
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(records or [
        {"id": "q1", "question": "How do I start painting?", "narrative": "I like watercolors; little time.",
         "rubric_aspects": [aspect("watercolor"), aspect("time")], "profile": [{"id": "p1", "text": "a bird"}]},
        {"id": "q2", "question": "Which film tonight?", "narrative": "I love old comedies.",
         "rubric_aspects": [aspect("comedy")], "profile": [{"id": "p2", "text": "a film"}]}]))
    preds = tmp_path / "responses.json"
    preds.write_text(json.dumps({"q1": [{"output": "Paint 10 minutes a day."}], "q2": [{"output": "A comedy."}]}))
    return data, preds


def test_lamp_judge_runs_with_the_dummy_backend_and_resumes_after_an_interruption(tmp_path, monkeypatch, capsys):
    from lamp.generation.backends.dummy import DummyBackend

    data, preds = _files(tmp_path)
    out = tmp_path / "judged.json"
    argv = ["judge", "--data", str(data), "--preds", str(preds), "--backend", "dummy", "--output", str(out),
            "--batch_size", "1", "--retries", "1", "--max_new_tokens", "16"]
    real = DummyBackend.generate
    sent: list[str] = []

    def failing_second_call(self, prompts, settings):
        if sent:
            raise LampError("interrupted")
        sent.extend(prompts)
        return real(self, prompts, settings)

    monkeypatch.setattr(DummyBackend, "generate", failing_second_call)
    assert lamp_main(argv) == 2 and not out.exists()
    assert "interrupted" in capsys.readouterr().err

    def counting(self, prompts, settings):
        sent.extend(prompts)
        return real(self, prompts, settings)

    monkeypatch.setattr(DummyBackend, "generate", counting)
    before = len(sent)
    assert lamp_main(argv) == 0
    scores = json.loads(out.read_text())
    # 3 aspects, each asked once and re-asked once (the dummy never answers JSON): 6 prompts, 1 cached
    assert len(sent) - before == 6 - 1
    assert scores["judge"]["identity"] == f"dummy:unigram-v1|judge:{PROMPT_VERSION}:{PROMPT_HASH}"
    assert scores["task"].startswith("LaMP-QA")
    assert (scores["score"], scores["aspects"], scores["unparsable_aspects"]) == (0.0, 3, 3)
    assert [q["id"] for q in scores["per_question_scores"]] == ["q1", "q2"]
    captured = capsys.readouterr()
    assert "judge dummy:unigram-v1|judge:" in captured.out and "never gave a readable answer" in captured.err
    # a third run is served from the cache entirely
    after = len(sent)
    assert lamp_main(argv) == 0 and len(sent) == after
    assert json.loads(out.read_text()) == scores


def test_lamp_judge_refuses_mismatched_ids_and_bad_rubrics_with_exit_2(tmp_path, capsys):
    data, preds = _files(tmp_path)
    preds.write_text(json.dumps({"q1": [{"output": "x"}]}))
    assert lamp_main(["judge", "--data", str(data), "--preds", str(preds), "--backend", "dummy",
                      "--output", str(tmp_path / "o.json")]) == 2
    assert "1 of 2 question ids have no prediction" in capsys.readouterr().err
    data, preds = _files(tmp_path, [{"id": "q1", "input": "x?", "profile": [{"id": "p", "text": "t"}], "narrative": "n",
                                     "rubric_aspects": []}])
    preds.write_text(json.dumps({"q1": "x"}))
    assert lamp_main(["judge", "--data", str(data), "--preds", str(preds), "--backend", "dummy",
                      "--output", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert str(data) in err and "rubric_aspects" in err and "Traceback" not in err


def test_lamp_judge_runs_a_local_hf_model_as_the_judge_greedily_and_rereads_its_cache(tmp_path, capsys):
    from tiny_models import save_small_llama, word_tokenizer

    data, preds = _files(tmp_path)
    words = " ".join([SYSTEM, USER, REASK, data.read_text(), preds.read_text(), '```json {"match_score": 2} ```'])
    model = save_small_llama(tmp_path / "judge-model", word_tokenizer([words], chat=True), seed=3)
    out, cache = tmp_path / "judged.json", tmp_path / "judge.sqlite"
    argv = ["judge", "--data", str(data), "--preds", str(preds), "--backend", "hf-causal", "--model", str(model),
            "--output", str(out), "--cache", str(cache), "--max_new_tokens", "6", "--max_length", "400",
            "--retries", "1", "--batch_size", "2"]
    assert lamp_main(argv) == 0
    first = json.loads(out.read_text())
    assert first["judge"]["identity"].startswith("hf-causal:") and first["judge"]["identity"].endswith(PROMPT_HASH)
    assert first["judge"]["generation"]["num_beams"] == 1 and first["judge"]["generation"]["do_sample"] is False
    assert first["aspects"] == 3 and 0.0 <= first["score"] <= 1.0
    with GenerationCache(cache) as c:
        rows = len(c)
    assert rows == 3 + first["retried_aspects"]                 # every attempt cached, nothing else
    assert lamp_main(argv) == 0
    assert json.loads(out.read_text()) == first                 # greedy + cache: the same scores
    with GenerationCache(cache) as c:
        assert len(c) == rows
    capsys.readouterr()


def test_lamp_judge_asks_an_openai_compatible_server_at_temperature_0(tmp_path):
    # No capsys here: uvicorn's logging setup closes the handlers absl (rouge_score) installed on the
    # stderr of its time, which would be pytest's own capture file while capsys swaps sys.stderr.
    from lamp.serving.app import running_server

    seen: list[dict] = []
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": "judge-7b", "object": "model", "root": "/weights/judge-7b"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict:
        body = await request.json()
        seen.append(body)
        prompt = body["messages"][-1]["content"]
        title = prompt.split("aspect: -aspect: ", 1)[1].split("\n", 1)[0] if "aspect: -aspect: " in prompt else ""
        answers = SCRIPT.get(title, ["ok"])
        text = answers[min(prompt.count("Your previous output could not be read"), len(answers) - 1)]
        return {"id": "x", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}

    records = [{"id": "q1", "input": "question q1?", "profile": [{"id": "p", "text": "t"}], "narrative": "n1",
                "rubric_aspects": [aspect("A"), aspect("B"), aspect("C")]},
               {"id": "q2", "input": "question q2?", "profile": [{"id": "p", "text": "t"}], "narrative": "n2",
                "rubric_aspects": [aspect("D"), aspect("E")]}]
    data, preds = _files(tmp_path, records)
    preds.write_text(json.dumps(RESPONSES))
    out = tmp_path / "judged.json"
    with running_server(app) as url:
        code = lamp_main(["judge", "--data", str(data), "--preds", str(preds), "--backend", "openai",
                          "--base_url", f"{url}/v1", "--chat", "--model", "judge-7b", "--tokenizer", "chars/4",
                          "--output", str(out), "--max_new_tokens", "64"])
    assert code == 0
    scores = json.loads(out.read_text())
    assert scores["score"] == pytest.approx((0.5 + 0.75) / 2)            # the hand-made answers above
    assert (scores["retried_aspects"], scores["unparsable_aspects"]) == (2, 1)
    judged = [b for b in seen if "aspect: -aspect: " in b["messages"][-1]["content"]]
    assert judged and all(b["temperature"] == 0 and b["max_tokens"] == 64 for b in judged)
    assert all(b["messages"][-1]["role"] == "user" and b["messages"][-1]["content"].startswith(SYSTEM)
               for b in judged)
    assert "judge-7b" in scores["judge"]["identity"] and scores["judge"]["prompt_hash"] == PROMPT_HASH
