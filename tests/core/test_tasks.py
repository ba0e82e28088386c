"""The task registry: queries and document texts exactly as the official code takes them (reference §2.1)."""

from __future__ import annotations

import pytest

from lamp.core.errors import LampError
from lamp.core.records import ProfileItem
from lamp.core.tasks import BENCHMARK_TASKS, TASKS, get_task, quoted

LAMP1 = ('For an author who has written the paper with the title "Deep Nets", which reference is related? '
         'Just answer with [1] or [2] without explanation. [1]: "Graph Kernels" [2]: "Café Networks"')


def test_lamp1_query_joins_the_two_reference_titles():
    assert get_task("LaMP-1").query(LAMP1) == "Graph Kernels Café Networks"


def test_lamp1_quotes_inside_the_title_shift_the_segments_as_officially():
    text = LAMP1.replace('"Deep Nets"', '"Deep "Nets" here"')
    # quoted(): ['Deep ', ' here', 'Graph Kernels', ...] -> segments 1 and 2 are ' here' and ', which...'
    assert quoted(text)[:3] == ["Deep ", " here", "Graph Kernels"]
    assert get_task("LaMP-1").query(text) == " here Graph Kernels"


def test_quoted_ignores_an_unclosed_quote():
    assert quoted('a "b" c "d') == ["b"]


@pytest.mark.parametrize("task, text, query", [
    ("LaMP-2", "Which tag ... tags: [a, b] description: A boy:  finds   a dragon. ", "A boy:  finds   a dragon."),
    ("LaMP-3", "What is the score ... review: Ünïcode   works ", "Ünïcode   works"),
    ("LaMP-4", "Generate a headline for the following article: Markets fell: again", "Markets fell: again"),
    ("LaMP-5", "Generate a title for the following abstract of a paper: We study: X", "We study: X"),
    ("LaMP-6", "Generate a subject for the following email: Hi team: lunch?", "Hi team: lunch?"),
    ("LaMP-7", "Paraphrase the following tweet without any explanation before or after it: so tired :(", "so tired :("),
    ("LaMP-2-old", "Which category ... article: Stocks: up", "Stocks: up"),
])
def test_query_is_the_text_after_the_first_marker(task, text, query):
    assert get_task(task).query_with_fallback(text) == (query, False)


@pytest.mark.parametrize("task", ["LaMP-1", "LaMP-2", "LaMP-3", "LaMP-4"])
def test_missing_marker_falls_back_to_the_whole_input(task):
    assert get_task(task).query_with_fallback("  no marker here  ") == ("no marker here", True)


@pytest.mark.parametrize("task, item, doc", [
    ("LaMP-1", ProfileItem("1", title="T", abstract="A b"), "T A b"),
    ("LaMP-2", ProfileItem("1", description="D", tag="comedy"), "D"),
    ("LaMP-2-old", ProfileItem("1", title="T", text="X", category="crime"), "T X"),
    ("LaMP-3", ProfileItem("1", text="R", score="5"), "R"),
    ("LaMP-4", ProfileItem("1", title="H", text="Body"), "H Body"),
    ("LaMP-5", ProfileItem("1", title="T", abstract="Abs"), "T Abs"),
    ("LaMP-6", ProfileItem("1", title="S", text="Body"), "Body"),
    ("LaMP-7", ProfileItem("1", text="tw"), "tw"),
])
def test_document_text_with_and_without_date(task, item, doc):
    item.date = "2020-01-02"
    assert get_task(task).document(item) == doc
    assert get_task(task).document(item, use_date=True) == doc + " date: 2020-01-02"


def test_both_spellings_and_suggestions():
    assert get_task("LaMP_4").name == get_task("lamp-4").name == "LaMP-4"
    assert get_task("LaMP-4").file_name == "LaMP_4"
    with pytest.raises(LampError, match="Did you mean 'LaMP-7'"):
        get_task("LaMP-8")


def test_every_benchmark_task_has_the_official_input_prefix_and_metric_family():
    families = {t: get_task(t).family for t in BENCHMARK_TASKS}
    assert families == {"LaMP-1": "classification", "LaMP-2": "classification", "LaMP-3": "rating",
                        "LaMP-4": "generation", "LaMP-5": "generation", "LaMP-6": "generation",
                        "LaMP-7": "generation"}
    assert len(TASKS["LaMP-2"].labels) == 15 and TASKS["LaMP-2"].labels[0] == "sci-fi"
    assert TASKS["LaMP-2-old"].labels[0] == "food & drink"


def test_content_free_input_fills_every_field():
    assert get_task("LaMP-3").content_free_input().endswith("review: N/A")
    assert get_task("LaMP-1").content_free_input().count('"N/A"') == 3
