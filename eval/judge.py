"""LaMP-QA's LLM judge: each rubric aspect of a question scored 0/1/2 by a model, per question the sum
over 2 × aspects, the mean over questions (the official ``evaluation/evaluator.py`` of
LaMP-Benchmark/LaMP-QA), with any backend of :mod:`lamp.generation.backends` as the judge.

As officially:

* the prompt: :data:`SYSTEM` and :data:`USER` are the official ``_EVAL_PROMPT_SYSTEM`` and
  ``_EVAL_PROMPT_USER`` verbatim, one prompt per (question, aspect), the aspect written as
  ``-aspect: …\\n    -reason: …\\n    -evidence: …``, ``details`` the question's narrative and
  ``response`` ``str()`` of the answer;
* reading an answer (:func:`parse_answer`): `````json`` and ````` removed, stripped, then
  ``json.loads(strict=False)``, else ``json5.loads``; the score is ``obj["match_score"]``;
* aggregation (:func:`question_score`, :attr:`JudgeResult.score`): Σ_a s_a / (2·|A_q|) per question,
  the plain mean over questions; an aspect whose answer never parses scores 0.

Where the harness differs, and why:

* [DEVIATION] one user turn: the official code sends SYSTEM as the chat's system turn; a backend
  here takes one prompt (the hf backends wrap it in the chat template's user turn, the openai backend
  sends it as the user message), so SYSTEM opens that prompt, followed by USER.
* [DEVIATION] a deterministic retry: officially an unparsable answer is re-sampled with the
  temperature raised by 0.1 per round (top_p 0.95), up to 100 rounds, so scores change between runs.
  Here decoding is greedy throughout (temperature 0, one beam) and a retry re-asks with a fixed
  text quoting the unreadable answer (:data:`REASK`), at most ``retries`` times (default 3); the same
  judge then gives the same scores on every run, and every retry and every final 0 is counted and
  shown (``unparsable``), never silently zero.
* [BUG fixed] a score that is not a number in [0, 2] (``"2"``, ``true``, ``7``) is unparsable and
  retried; officially a string passes the parse and crashes the final sum, and 7 is summed. A
  question without aspects is an error naming it (officially a ZeroDivisionError).

This module holds the prompt, the reading, the retry loop and the aggregation over any judge model
(:data:`Ask`); :mod:`lamp.pipeline.judging` runs it on a backend, every attempt through
:func:`lamp.generation.driver.generate_all` and the one generation cache under the judge's
identity: the backend's identity plus ``judge:`` :data:`PROMPT_VERSION` ``:`` :data:`PROMPT_HASH`
(a sha256 over SYSTEM, USER and REASK), so a run killed at any point redoes only unfinished
batches, and answers of another judge model or prompt are never served. Judge scores are not
comparable across judges: the result names its judge (:attr:`JudgeResult.judge`), and
``lamp judge`` writes it beside the scores.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from lamp.core.errors import LampDataError, LampError
from lamp.core.records import Question

#: The judge model: (prompts, attempt: 0 first, then each re-ask round) -> one answer per prompt.
#: :func:`lamp.pipeline.judging.judge_with` makes one of a backend, batched and cached.
Ask = Callable[[list[str], int], list[str]]

SYSTEM = """You are a fair and insightful judge with exceptional reasoning and analytical abilities. Your task is to evaluate a user's question, a generated response to that question, and an aspect that is important to the user. Based on this information, identify if the aspect is addressed in the generated response. Provide a clear and accurate assessment.

# your input:
    - question: the question asked by the user.
    - details: the detailed explanation of the question from the user.
    - response: a generated response to the user's question
    - aspect: the aspect that is important to the user, consisting of the following fields:
        - aspect: the title for the aspect.
        - reason: the reason that this aspect is important for the user.
        - evidence: the evidence from the user detailed explanation that the aspect extracted from.

# your output: Your output should be only a valid json object in ```json ``` block without any explanations that contains the following fields:
    - match_score: A score between 0 to 2 that indicates how well the generated response addresses this aspect, where: 0 means the response does not cover this aspect, 1 means the response somewhat covers this aspect, and 2 means the response covers this aspect very well.
"""

USER = """
question: {question}
details: {details}
response: {response}
aspect: {aspects}

Your output should be only a valid json object in ```json ``` block without any explanations.
"""

#: The fixed re-ask appended to the prompt after an unreadable answer (``{answer}``: that answer).
REASK = """
Your previous output could not be read as a json object with a match_score of 0, 1 or 2:
{answer}

Your output should be only a valid json object in ```json ``` block without any explanations.
"""

PROMPT_VERSION = "lamp-qa-rubric-v1"
PROMPT_HASH = hashlib.sha256("\0".join((SYSTEM, USER, REASK)).encode("utf-8")).hexdigest()[:16]
#: How much of an unreadable answer a re-ask quotes.
QUOTE_CHARS = 1000
ASPECT_FIELDS = ("aspect", "reason", "evidence")


@dataclass(frozen=True)
class JudgeSettings:
    """What changes the judge's answers besides its model (all recorded with the scores)."""

    retries: int = 3                  # re-asks after an unreadable answer, then 0
    max_new_tokens: int = 4096        # officially max_tokens=4096
    max_input_length: int = 32000     # prompt budget in tokens (officially max_model_len=32000)
    batch_size: int | None = None     # prompts per batch (None: the backend's own)


def aspect_text(aspect: Mapping[str, str]) -> str:
    """One aspect as the official prompt writes it."""
    return f'-aspect: {aspect["aspect"]}\n    -reason: {aspect["reason"]}\n    -evidence: {aspect["evidence"]}'


def judge_prompt(question: str, details: str, response: str, aspect: Mapping[str, str]) -> str:
    """The prompt for one (question, aspect): SYSTEM, then USER filled in."""
    return SYSTEM + USER.format(question=question, details=details, response=response, aspects=aspect_text(aspect))


def parse_answer(text: str) -> float | None:
    """The match_score of a judge answer, read as the official ``parse_json`` reads it; None when it
    does not parse or the score is not a number in [0, 2]."""
    body = str(text).replace("```json", "").replace("```", "").strip()
    try:
        obj = json.loads(body, strict=False)
    except ValueError:
        try:
            import json5

            obj = json5.loads(body)
        except Exception:      # json5 raises ValueError, and others on odd input: all mean unparsable
            return None
    score = obj.get("match_score") if isinstance(obj, dict) else None
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        return None
    return float(score) if math.isfinite(score) and 0 <= score <= 2 else None


def rubric(q: Question) -> tuple[str, list[dict[str, str]]]:
    """A LaMP-QA question's narrative and rubric aspects (``Question.extra``), checked."""
    extra = q.extra or {}
    narrative, aspects = extra.get("narrative"), extra.get("rubric_aspects")
    if not isinstance(narrative, str):
        raise LampDataError("expected the narrative as a string (a LaMP-QA question)", record_id=q.id,
                            field="narrative")
    if not isinstance(aspects, list) or not aspects:
        raise LampDataError("expected a non-empty list of rubric aspects (the judge scores each)",
                            record_id=q.id, field="rubric_aspects")
    for i, a in enumerate(aspects):
        if not isinstance(a, dict) or not all(isinstance(a.get(k), str) for k in ASPECT_FIELDS):
            raise LampDataError(f"expected {{aspect, reason, evidence}} strings, got {a!r:.80}", record_id=q.id,
                                field=f"rubric_aspects[{i}]")
    return narrative, aspects


# --------------------------------------------------------------------------- verdicts and aggregation

@dataclass
class AspectVerdict:
    """The judge's verdict on one aspect: every answer it gave (one per attempt) and the score read."""

    aspect: str
    answers: list[str]
    score: float | None           # None: no answer parsed (scored 0)

    @property
    def value(self) -> float:
        return 0.0 if self.score is None else self.score

    @property
    def attempts(self) -> int:
        return len(self.answers)


def question_score(aspects: Sequence[AspectVerdict]) -> float:
    """Σ_a s_a / (2·|A|): the official per-question score."""
    if not aspects:
        raise LampError("a question without rubric aspects has no judge score")
    return sum(a.value for a in aspects) / (2 * len(aspects))


@dataclass
class JudgeResult:
    """Per-question verdicts and their aggregate, with the judge that gave them."""

    judge: dict[str, Any]
    questions: dict[str, list[AspectVerdict]] = field(default_factory=dict)

    def per_question(self) -> dict[str, float]:
        return {qid: question_score(v) for qid, v in self.questions.items()}

    @property
    def score(self) -> float:
        """The mean over questions of the per-question scores."""
        scores = self.per_question()
        if not scores:
            raise LampError("no questions were judged")
        return sum(scores.values()) / len(scores)

    def _aspects(self) -> list[AspectVerdict]:
        return [a for v in self.questions.values() for a in v]

    @property
    def unparsable(self) -> int:
        """Aspects whose every answer was unreadable, scored 0."""
        return sum(a.score is None for a in self._aspects())

    @property
    def retried(self) -> int:
        """Aspects that needed at least one re-ask."""
        return sum(a.attempts > 1 for a in self._aspects())

    def to_json(self) -> dict[str, Any]:
        """The official score file (``score``, ``per_question_scores`` with per-aspect ``details``),
        plus the judge, the counts of retried and unparsable aspects, and each aspect's attempts."""
        per = self.per_question()
        return {"score": self.score, "judge": self.judge, "aspects": len(self._aspects()),
                "retried_aspects": self.retried, "unparsable_aspects": self.unparsable,
                "per_question_scores": [
                    {"id": qid, "score": per[qid],
                     "details": [_detail(a) for a in verdicts]}
                    for qid, verdicts in self.questions.items()]}


def _detail(a: AspectVerdict) -> dict[str, Any]:
    """One aspect in the score file; an aspect that never parsed shows every answer the judge gave."""
    out: dict[str, Any] = {"aspect": a.aspect, "score": a.value, "parsed": a.score is not None,
                           "attempts": a.attempts}
    if a.score is None:
        out["answers"] = list(a.answers)
    return out


def judge_identity(identity: str, settings: JudgeSettings, **more: Any) -> dict[str, Any]:
    """What names a judge: its model's identity, the prompt's version and hash, the retries (and
    ``more``: its decoding)."""
    return {"identity": identity, "prompt_version": PROMPT_VERSION, "prompt_hash": PROMPT_HASH,
            "retries": settings.retries, **more}


def judge(questions: Sequence[Question], responses: Mapping[str, str], ask: Ask,
          settings: JudgeSettings = JudgeSettings(), judge_info: dict[str, Any] | None = None) -> JudgeResult:
    """Score each question's response on each of its rubric aspects with ``ask`` as the judge.

    Attempt 0 asks every (question, aspect) prompt; each later attempt re-asks only the unreadable
    ones (:data:`REASK`), ``settings.retries`` times at most. ``judge_info`` names the judge in the
    result (:func:`judge_identity`).
    """
    missing = [q.id for q in questions if q.id not in responses]
    if missing:
        raise LampError(f"{len(missing)} of {len(questions)} questions have no response to judge "
                        f"(first: {missing[0]!r})")
    owners: list[tuple[str, str]] = []           # (question id, aspect title) per prompt
    base: list[str] = []
    for q in questions:
        narrative, aspects = rubric(q)
        for a in aspects:
            owners.append((q.id, a["aspect"]))
            base.append(judge_prompt(q.input, narrative, str(responses[q.id]), a))
    answers: list[list[str]] = [[] for _ in base]
    scores: list[float | None] = [None] * len(base)
    prompts, pending = list(base), list(range(len(base)))
    for attempt in range(settings.retries + 1):
        if not pending:
            break
        outs = ask([prompts[i] for i in pending], attempt)
        if len(outs) != len(pending):
            raise LampError(f"the judge gave {len(outs)} answers to {len(pending)} prompts")
        still = []
        for i, out in zip(pending, outs):
            answers[i].append(out)
            scores[i] = parse_answer(out)
            if scores[i] is None:
                still.append(i)
                prompts[i] = base[i] + REASK.format(answer=out[:QUOTE_CHARS])
        pending = still
    result = JudgeResult(judge_info or {})
    for q in questions:
        result.questions[q.id] = []
    for (qid, title), got, score in zip(owners, answers, scores):
        result.questions[qid].append(AspectVerdict(title, got, score))
    return result


# --------------------------------------------------------------------------- reading responses

def read_responses(path: str) -> dict[str, str]:
    """Responses to judge, by question id, from the official LaMP-QA response file
    (``{id: [{"output": ...}, ...]}``: the first response, ``str()`` of its output, as the official
    ``evaluate_responses.py`` reads it), a LaMP predictions file (``{"task", "golds": [{id, output}]}``)
    or a plain ``{id: text}`` object."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as err:
        raise LampError(f"{path}: cannot read the responses ({err.strerror or err})") from None
    except ValueError as err:
        raise LampDataError(f"not valid JSON ({err})", file=path) from None
    if isinstance(data, dict) and isinstance(data.get("golds"), list):
        rows = data["golds"]
        out = {}
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or not isinstance(row.get("id"), str) or "output" not in row:
                raise LampDataError("expected {\"id\": str, \"output\": ...}", file=path, record_id=f"#{i}",
                                    field="golds")
            out[row["id"]] = str(row["output"])
        return out
    if not isinstance(data, dict):
        raise LampDataError("expected an object of responses by question id (the official LaMP-QA "
                            "{id: [{\"output\": ...}]} layout)", file=path)
    out = {}
    for qid, value in data.items():
        if isinstance(value, str):
            out[qid] = value
        elif isinstance(value, list) and value and isinstance(value[0], dict) and "output" in value[0]:
            out[qid] = str(value[0]["output"])
        else:
            raise LampDataError("expected a non-empty list of {\"output\": ...} responses (or a string)",
                                file=path, record_id=qid, field="output")
    return out
