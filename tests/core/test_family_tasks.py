"""The LaMP family in the task table: LongLaMP configs and LaMP-QA categories as rows beside LaMP-1…7.

The prompts are pinned against the official builders, transcribed here from
LongLaMP-Benchmark ``longLaMP/prompts/prompts.py`` (which call the tokenizer with
``max_length=None``: no per-item budget) and LaMP-QA ``data/formetters.py``.
"""

from __future__ import annotations

import dataclasses

import pytest

from lamp.cli.main import main
from lamp.core.records import ProfileItem, Question
from lamp.core.tasks import QA_PLAIN_SYSTEM, QA_RAG_SYSTEM, QA_RAG_USER, TASKS, get_task
from lamp.generation.backends.base import answer_settings
from lamp.generation.driver import task_settings
from lamp.generation.prompts import build_prompt
from retrievers.base import get_retriever
from retrievers.ranking import make_query

LONGLAMP = ("LongLaMP-abstract_generation", "LongLaMP-product_review", "LongLaMP-topic_writing")
LAMP_QA = ("LaMP-QA-Art_and_Entertainment", "LaMP-QA-Lifestyle_and_Personal_Development", "LaMP-QA-Society_and_Culture")


# --------------------------------------------------------------------------- the official builders, transcribed

def official_review_prompt(inp: str, profile: list[dict]) -> str:
    prompts = [f'"{p["overall"]}" is a rating for the product with description "{p["description"]}". '
               f'"{p["summary"]}" is summary for "{p["reviewText"]}" ' for p in profile]
    return f'{", and ".join(prompts)}. Following the given patterns {inp}'


def official_topic_prompt(inp: str, profile: list[dict]) -> str:
    # The official code reads p["input"] / p["output"]; the published items hold summary / content.
    prompts = [f'"{p["summary"]}" is a summary for "{p["content"]}" ' for p in profile]
    return f'{", and ".join(prompts)}. Following the given patterns, {inp}'


def official_abstract_prompt(inp: str, profile: list[dict]) -> str:
    prompts = [f'"{" ".join(p["abstract"].split()[:750])}" is the abstract for the title "{p["title"]}"'
               for p in profile]
    return f'{", and ".join(prompts)}. Use the above abstracts as context to understand the style and language ' \
           f'of the user and, {inp}'


def items(task: str, rows: list[dict]) -> list[ProfileItem]:
    known = {"title", "abstract", "description", "text"}
    return [ProfileItem(str(i), **{k: v for k, v in r.items() if k in known},
                        extra={k: v for k, v in r.items() if k not in known} or None) for i, r in enumerate(rows)]


# --------------------------------------------------------------------------- the table

def test_the_family_tasks_are_rows_with_their_benchmark_family_and_metrics():
    for name in LONGLAMP:
        t = get_task(name)
        assert (t.benchmark, t.family, t.metrics) == ("LongLaMP", "long-generation", ("rouge-1", "rouge-L", "meteor"))
        assert t.schema.dataset == "LongLaMP/LongLaMP" and t.max_new_tokens >= 256 and not t.answer_line
    for name in LAMP_QA:
        t = get_task(name)
        assert (t.benchmark, t.family, t.metrics) == ("LaMP-QA", "rubric-qa", ("rubric-score",))
        assert t.schema.dataset == "alireza7/LaMP-QA" and t.schema.gold_field is None
    assert {t.benchmark for t in TASKS.values() if t.name.startswith("LaMP-") and "QA" not in t.name} == {"LaMP"}


def test_the_dataset_config_and_split_names_are_the_hubs():
    review = get_task("product_review_temporal").schema
    assert (review.config("user"), review.config("temporal"), review.split("dev")) == \
        ("product_review_user", "product_review_temporal", "val")
    qa = get_task("Society_and_Culture").schema
    assert (qa.config("user"), qa.split("dev")) == ("Society_and_Culture", "validation")


def test_lamp_tasks_prints_each_tasks_benchmark(capsys):
    assert main(["tasks"]) == 0
    rows = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()[2:] if line.strip()}
    assert rows["LaMP-4"] == "LaMP" and rows["LongLaMP-topic_writing"] == "LongLaMP"
    assert rows["LaMP-QA-Art_and_Entertainment"] == "LaMP-QA"


# --------------------------------------------------------------------------- prompts, queries, documents

REVIEWS = [{"description": "A kettle", "overall": "5.0", "reviewText": "Boils fast, sturdy lid.", "summary": "Love it"},
           {"description": "A mug", "overall": "2.0", "reviewText": "Chipped on day one.", "summary": "Meh"}]
POSTS = [{"summary": "my first marathon", "content": "I ran it in the rain."},
         {"summary": "cats", "content": "Two cats, one sofa."}]
ABSTRACTS = [{"title": "Graph kernels", "abstract": " ".join(f"w{i}" for i in range(800)), "year": "2019"},
             {"title": "Sparse codes", "abstract": "We   study sparse codes.", "year": "2015"}]


@pytest.mark.parametrize("task, rows, official", [
    ("LongLaMP-product_review", REVIEWS, official_review_prompt),
    ("LongLaMP-topic_writing", POSTS, official_topic_prompt),
    ("LongLaMP-abstract_generation", ABSTRACTS, official_abstract_prompt),
])
def test_longlamp_prompts_are_the_official_builders(task, rows, official):
    inp = "Generate it for me"
    # No budget: a tiny max_length changes nothing (the source is cut afterwards, as officially).
    assert build_prompt(task, inp, items(task, rows), 8, None) == official(inp, rows)
    assert build_prompt(task, inp, [], 8, None) == inp


def test_abstracts_are_cut_to_their_first_750_words():
    prompt = build_prompt("LongLaMP-abstract_generation", "x", items("", ABSTRACTS[:1]), 512, None)
    assert "w749" in prompt and "w750" not in prompt


def test_lamp_qa_prompt_is_the_official_rag_prompt_and_the_plain_one_without_profile():
    profile = [ProfileItem("a", text="Past post one."), ProfileItem("b", text="Past post two.")]
    expected = QA_RAG_SYSTEM + "\n\n" + QA_RAG_USER.format(profile="Past post one.\n\nPast post two.",
                                                          question="How do I start?")
    assert build_prompt(LAMP_QA[0], "How do I start?", profile, 16, None) == expected
    assert expected.startswith("You are a helpful assistant designed to generate personalized responses")
    assert "\n# Past post questions and detailed descriptions of these questions:\nPast post one.\n\nPast post two.\n" \
           "# Current post question:\nHow do I start?\n" in expected
    assert build_prompt(LAMP_QA[0], "How do I start?", [], 16, None) == QA_PLAIN_SYSTEM + "\n\nHow do I start?"


def test_queries_and_documents_are_the_official_corpus_and_query():
    review = get_task("LongLaMP-product_review")
    item = items("", REVIEWS[:1])[0]
    assert review.document(item) == "5.0 Love it A kettle Boils fast, sturdy lid."   # overall summary description text
    assert review.query("  the whole input ") == "the whole input"
    abstract = get_task("LongLaMP-abstract_generation")
    assert abstract.query('Generate an abstract for the title "T" using the following items: a, b') == "a, b"
    assert abstract.query_with_fallback("no marker here") == ("no marker here", True)   # official: None, a crash
    topic = get_task("LongLaMP-topic_writing")
    assert topic.document(items("", POSTS[:1])[0]) == "my first marathon I ran it in the rain."


def test_recency_is_the_year_for_abstracts_and_the_profile_order_elsewhere():
    def ranked(task: str, profile: list[ProfileItem]) -> list[int]:
        query, _ = make_query(Question("q", "x items: y", profile), get_task(task))
        return get_retriever("recency").rank_batch([query])[0]

    dated = [ProfileItem("a", date="2019"), ProfileItem("b", date="2015"), ProfileItem("c", date="2019")]
    assert ranked("LongLaMP-abstract_generation", dated) == [2, 0, 1]     # newest first, later item on ties
    undated = items("", REVIEWS + REVIEWS[:1])
    assert ranked("LongLaMP-product_review", undated) == [2, 1, 0]        # official rec: profile[-k:][::-1]


# --------------------------------------------------------------------------- answers

def test_long_tasks_answer_in_many_lines_with_their_own_budget_unless_the_user_sets_one():
    short = answer_settings(max_new_tokens=128)
    long = task_settings("LongLaMP-topic_writing", short)
    assert (long.max_new_tokens, long.stop_at_newline) == (get_task("LongLaMP-topic_writing").max_new_tokens, False)
    assert task_settings("LongLaMP-topic_writing", answer_settings(max_new_tokens=40)).max_new_tokens == 40
    assert task_settings("LaMP-4", short) == short


def test_lamp_qa_answers_are_the_personalized_answer_field_of_the_json_asked_for():
    qa = get_task(LAMP_QA[2])
    assert qa.answer_text('```json\n{"personalized_answer": "Start small."}\n```') == "Start small."
    assert qa.answer_text('json{"personalized_answer": "A"}') == "A"
    assert qa.answer_text("not json at all") == "not json at all"
    assert get_task("LaMP-4").answer_text('{"personalized_answer": "A"}') == '{"personalized_answer": "A"}'
    assert dataclasses.replace(qa, answer_key=None).answer_text('{"personalized_answer": "A"}') != "A"
