"""Every PII kind docs/privacy.md lists as covered is found in its realistic formats, and PII-free text is left alone.

The values come from ``bench/bench_scrub.py``'s "tune" generator (the formats the patterns were
tuned on); the numbers in docs/privacy.md come from its "heldout" generator, with other templates and
format variants. Each kind's set is small (the analyzer takes a few ms per text).
"""

from __future__ import annotations

import pytest

from bench.bench_scrub import REALISTIC_KINDS, covered, pii_free_texts, realistic_corpus
from lamp.privacy.scrub import NOT_COVERED_FORMS, PATTERN_ENTITIES, Scrubber, coverage, get_scrubber

RECALL = 0.99
PER_KIND = 100


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return get_scrubber(use_ner=False)


def test_the_measured_kinds_are_the_covered_kinds():
    assert set(REALISTIC_KINDS) == set(PATTERN_ENTITIES)


@pytest.mark.parametrize("kind", REALISTIC_KINDS)
def test_each_covered_kind_is_found_in_its_realistic_formats(scrubber, kind):
    corpus = realistic_corpus("tune", seed=7, per_kind=PER_KIND, kinds=[kind])
    missed = [p.text[p.start:p.end] for p in corpus if not covered(scrubber.find(p.text), p.start, p.end)]
    assert 1 - len(missed) / len(corpus) >= RECALL, missed[:5]


@pytest.mark.parametrize("value", [
    "2221 0000 0000 0009", "2720-9999-9999-9996", "2223.0031.2200.3222", "5555555555554444", "3782 822463 10005", "3056 930902 5904",
    "6011-0009-9013-9424", "3530 1113 3330 0000", "6200 0000 0000 0005", "6759 6498 2643 8453",
])
def test_cards_of_newer_and_rarer_brand_ranges_with_any_separator(scrubber, value):
    text = f"They charged {value} twice."
    assert scrubber.find(text) == [(13, 13 + len(value), "CREDIT_CARD")]


@pytest.mark.parametrize("text, value", [
    ("I live at 12B Baker Street now.", "12B Baker Street"),
    ("Deliver to 12-14 High Street, please.", "12-14 High Street"),
    ("visit www.example.shop/account?user=jdoe for it", "www.example.shop/account?user=jdoe"),
    ("My passport number is 123456789.", "123456789"),
])
def test_the_formats_the_outside_probe_missed_are_found(scrubber, text, value):
    start = text.index(value)
    assert covered(scrubber.find(text), start, start + len(value))


def test_pii_free_product_text_raises_under_one_alarm_per_thousand_words(scrubber):
    texts = pii_free_texts("tune", seed=7, n=300)
    words = sum(len(t.split()) for t in texts)
    alarms = [(t[s:e], ent) for t in texts for s, e, ent in scrubber.find(t)]
    assert words > 5000 and len(alarms) / words < 1 / 1000, alarms[:10]


@pytest.mark.parametrize("text", [
    "Item 4155550132 arrived late.", "ISBN 0306406152, EAN 4006381333931, UPC 036000291452.",
    "Order 112-7654321-1234567 shipped; firmware 16.4.46.", "The Series 7 Sport Loop and a 2 TB Hard Drive.",
    "Run setup.py, then read readme.md and the ASP.NET notes.",
])
def test_item_numbers_versions_and_product_names_are_not_pii(scrubber, text):
    assert scrubber.find(text) == []


def test_coverage_lists_what_is_not_covered():
    cov = coverage(use_ner=False)
    assert cov["not_covered"] == ["PERSON", "LOCATION"]
    assert cov["not_covered_forms"] == list(NOT_COVERED_FORMS)
    assert any("bare digits" in form for form in cov["not_covered_forms"])
