"""Prompt strings pinned for every task, worked out by hand from reference §3.2.

The tokenizers are built here: one token per whitespace-separated word, so counts can be done by
eye. "t5" appends ``</s>`` to every encoding (T5 style: every count is one more); "llama" adds
nothing (the Llama-family behaviour). ``L`` is the maximum length, ``P`` the profile budget
``L - min(tok(input), int(factor*L))``, ``per`` the per-item share, ``need`` the wrapper count.
"""

from __future__ import annotations

import collections

import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import WhitespaceSplit
from tokenizers.processors import TemplateProcessing
from transformers import PreTrainedTokenizerFast

from lamp.core.errors import LampDataError
from lamp.generation.prompts import CharCounter, build_prompt, retry_factors, select_items
from lamp.core.records import ProfileItem, Question
from lamp.core.tasks import get_task


def word_tokenizer(texts: list[str], eos: bool) -> PreTrainedTokenizerFast:
    words = sorted({w for t in texts for w in t.split()})
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = WhitespaceSplit()
    if eos:
        tok.post_processor = TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   clean_up_tokenization_spaces=False)


def tokenizer_for(task: str, input_text: str, items: list[ProfileItem], style: str) -> PreTrainedTokenizerFast:
    """A word tokenizer whose vocabulary covers everything the budget tokenizes."""
    spec = get_task(task).prompt
    texts = [input_text, spec.budget_phrase]
    for item in items:
        fields = {k: str(v) for k, v in item.to_json().items()}
        texts.append(fields.get(spec.long_field, ""))
        if spec.wrapper:
            texts.append(spec.wrapper.format_map(collections.defaultdict(str, fields)))
    return word_tokenizer(texts, eos=(style == "t5"))


def prompt(task: str, input_text: str, items: list[ProfileItem], max_length: int, style: str) -> str:
    return build_prompt(task, input_text, items, max_length, tokenizer_for(task, input_text, items, style))


# --------------------------------------------------------------------------- the tokenizers themselves

def test_word_tokenizers_count_one_per_word_and_t5_style_adds_eos():
    t5 = word_tokenizer(["a b c"], eos=True)
    llama = word_tokenizer(["a b c"], eos=False)
    assert len(t5("a b c")["input_ids"]) == 4 and len(llama("a b c")["input_ids"]) == 3
    ids = t5("a b c", max_length=3, truncation=True)["input_ids"]
    assert len(ids) == 3 and t5.decode(ids, skip_special_tokens=True) == "a b"


# --------------------------------------------------------------------------- LaMP-1

LAMP1_INPUT = ('For an author who has written the paper with the title "Deep nets", which reference is related? '
               'Just answer with [1] or [2] without explanation. [1]: "Graph kernels" [2]: "Neural codes"')
LAMP1_ITEMS = [ProfileItem("10", title="learning deep neural networks fast", abstract="x"),
               ProfileItem("11", title="graph kernels for molecules", abstract="y")]


@pytest.mark.parametrize("style, titles", [
    # input 31 words. L=36: int(0.6*36)=21 < 31, P=15; LaMP-1 has no -1 and need=2:
    # per=(15-2*1)//2=6, each title cut to 6-2=4 ids.
    ("llama", ('"learning deep neural networks"', '"graph kernels for molecules"')),
    # t5: tok(input)=32, P=15, per=6, cut to 4 ids = 3 words + </s>; saved stays 0.
    ("t5", ('"learning deep neural"', '"graph kernels for"')),
])
def test_lamp1_items_go_right_after_the_first_title(style, titles):
    expected = ('For an author who has written the paper with the title, and ' + ", and ".join(titles)
                + ' "Deep nets", which reference is related? Just answer with [1] or [2] without explanation. '
                '[1]: "Graph kernels" [2]: "Neural codes"')
    assert prompt("LaMP-1", LAMP1_INPUT, LAMP1_ITEMS, 36, style) == expected


def test_lamp1_input_without_title_is_returned_unchanged():
    text = 'which reference is related? [1]: "a" [2]: "b"'
    assert prompt("LaMP-1", text, LAMP1_ITEMS, 200, "llama") == text


# --------------------------------------------------------------------------- LaMP-2 (movies)

LAMP2_INPUT = ("Which tag does this movie relate to among the following tags? Just answer with the tag name without "
               "further explanation. tags: [sci-fi, based on a book, comedy, action, twist ending, dystopia, "
               "dark comedy, classic, psychology, fantasy, romance, thought-provoking, social commentary, "
               "violence, true story] description: A robot learns to love.")
LAMP2_ITEMS = [ProfileItem("20", description="a ship drifts through empty space forever", tag="sci-fi"),
               ProfileItem("21", description="two friends rob a bank", tag="comedy")]


@pytest.mark.parametrize("style, texts", [
    # input 49 words; L=70: int(0.6*70)=42 < 49, P=28; per=(28-1-2)//2=12;
    # need = tok('the tag for the movie: " " is "sci-fi" ') = 9, so each description gets 3.
    ("llama", ("a ship drifts", "two friends rob")),
    # t5: need=10, each description gets 2 ids = 1 word + </s>.
    ("t5", ("a", "two")),
])
def test_lamp2_movie_tags_prompt(style, texts):
    expected = (f'the tag for the movie: "{texts[0]}" is "sci-fi" , and '
                f'the tag for the movie: "{texts[1]}" is "comedy" . ' + LAMP2_INPUT)
    assert prompt("LaMP-2", LAMP2_INPUT, LAMP2_ITEMS, 70, style) == expected


# --------------------------------------------------------------------------- LaMP-2-old (news)

LAMP2OLD_INPUT = ("Which category does this article relate to among the following categories? Just answer with the "
                  "category name without further explanation. categories: [women, religion, politics, style & "
                  "beauty, entertainment, culture & arts, sports, science & technology, travel, business, crime, "
                  "education, healthy living, parents, food & drink] article: Stocks fell sharply today.")
LAMP2OLD_ITEMS = [ProfileItem("30", text="markets rallied after the bank cut rates", title="t", category="business")]


@pytest.mark.parametrize("style, text", [
    # input 50 words; L=40: int(0.6*40)=24, P=16; k=1: per=16-1=15; need 9 -> 6 words.
    ("llama", "markets rallied after the bank cut"),
    # t5: need 10 -> 5 ids = 4 words + </s>.
    ("t5", "markets rallied after the"),
])
def test_lamp2_old_news_category_prompt(style, text):
    expected = f'the category for the article: "{text}" is "business" . ' + LAMP2OLD_INPUT
    assert prompt("LaMP-2-old", LAMP2OLD_INPUT, LAMP2OLD_ITEMS, 40, style) == expected


# --------------------------------------------------------------------------- LaMP-3

LAMP3_INPUT = ("What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
               "without further explanation. review: great kit")
LAMP3_ITEMS = [ProfileItem("40", text="works well", score="4"),
               ProfileItem("41", text="lovely sturdy kit for kids", score="5"),
               ProfileItem("42", text="broke after one week of use", score="2")]


@pytest.mark.parametrize("style, texts", [
    # input 30 words; L=70: int(0.6*70)=42 > 30, P=40; per=(40-1-2*2)//3=11; need=7.
    # item 1: cut 4, uses 2, saved=11-2-7=2; item 2: cut 6, uses 5 (all), saved=2+11-5-7=1;
    # item 3: cut 11+1-7=5 (one more than without the carry).
    ("llama", ("works well", "lovely sturdy kit for kids", "broke after one week of")),
    # t5: tok(input)=31, P=39, per=(39-5)//3=11, need=8: every cut is 3 ids = 2 words + </s>, saved 0.
    ("t5", ("works well", "lovely sturdy", "broke after")),
])
def test_lamp3_carries_unused_tokens_forward(style, texts):
    expected = (f'4 is the score for "{texts[0]}" , and 5 is the score for "{texts[1]}" , and '
                f'2 is the score for "{texts[2]}" . ' + LAMP3_INPUT)
    assert prompt("LaMP-3", LAMP3_INPUT, LAMP3_ITEMS, 70, style) == expected


def test_lamp3_reference_shape_with_two_items():
    """Reference §3.2's concrete shape: `5 is the score for "great kit" , and 2 is ... . What is ...`."""
    items = [ProfileItem("1", text="great kit", score="5"), ProfileItem("2", text="broke fast", score="2")]
    assert prompt("LaMP-3", LAMP3_INPUT, items, 256, "t5") == (
        '5 is the score for "great kit" , and 2 is the score for "broke fast" . ' + LAMP3_INPUT)


# --------------------------------------------------------------------------- LaMP-4

LAMP4_INPUT = "Generate a headline for the following article: Rain floods the old town"
LAMP4_ITEMS = [ProfileItem("50", title="Storm hits coast", text="a strong storm hit the coast last night"),
               ProfileItem("51", title="Dry summer ahead", text="experts expect a dry summer")]


def lamp4(texts: tuple[str, str], input_text: str = LAMP4_INPUT) -> str:
    return (f'"Storm hits coast" is the title for "{texts[0]}" , and '
            f'"Dry summer ahead" is the title for "{texts[1]}" . ' + input_text)


@pytest.mark.parametrize("style, texts", [
    # input 12 words; L=40: int(24.0)=24 > 12, P=28; per=(28-1-2)//2=12; need=9 -> 3 words each.
    ("llama", ("a strong storm", "experts expect a")),
    # t5: tok(input)=13, P=27, per=(27-3)//2=12, need=10 -> 2 ids = 1 word.
    ("t5", ("a", "experts")),
])
def test_lamp4_headline_prompt(style, texts):
    assert prompt("LaMP-4", LAMP4_INPUT, LAMP4_ITEMS, 40, style) == lamp4(texts)


# --------------------------------------------------------------------------- LaMP-5

LAMP5_INPUT = "Generate a title for the following abstract of a paper: We study sparse models"
LAMP5_ITEMS = [ProfileItem("60", title="Sparse coding", abstract="we propose a sparse coding method for images"),
               ProfileItem("61", title="Fast graphs", abstract="a fast graph algorithm")]


@pytest.mark.parametrize("style, texts", [
    # input 14 words; L=44: int(26.4)=26 > 14, P=30; E=tok("Following the given patterns")=4;
    # per=(30-1-2-4)//2=11; need=tok('"Sparse coding" is a title " " ')=7 (no "for") -> 4 words.
    ("llama", ("we propose a sparse", "a fast graph algorithm")),
    # t5: tok(input)=15, P=29, E=5, per=(29-1-2-5)//2=10, need=8 -> 2 ids = 1 word.
    ("t5", ("we", "a")),
])
def test_lamp5_title_prompt_reserves_the_pattern_phrase(style, texts):
    expected = (f'"Sparse coding" is a title for "{texts[0]}" , and "Fast graphs" is a title for "{texts[1]}" . '
                "Following the given patterns " + LAMP5_INPUT)
    assert prompt("LaMP-5", LAMP5_INPUT, LAMP5_ITEMS, 44, style) == expected


# --------------------------------------------------------------------------- LaMP-6

LAMP6_INPUT = "Generate a subject for the following email: Please send the report"
LAMP6_ITEMS = [ProfileItem("70", title="Report due", text="the quarterly report is due friday please send it")]


@pytest.mark.parametrize("style, text", [
    # input 11 words; L=25: int(15.0)=15 > 11, P=14; per=14-1=13; need=8 -> 5 words.
    ("llama", "the quarterly report is due"),
    # t5: tok(input)=12, P=13, per=12, need=9 -> 3 ids = 2 words.
    ("t5", "the quarterly"),
])
def test_lamp6_email_subject_prompt(style, text):
    assert prompt("LaMP-6", LAMP6_INPUT, LAMP6_ITEMS, 25, style) == \
        f'"Report due" is the title for "{text}" . ' + LAMP6_INPUT


# --------------------------------------------------------------------------- LaMP-7

LAMP7_INPUT = "Paraphrase the following tweet without any explanation before or after it: loving this sunny day"
LAMP7_ITEMS = [ProfileItem("80", text="coffee first then the world"),
               ProfileItem("81", text="rainy mondays are the worst honestly")]


@pytest.mark.parametrize("style, texts", [
    # input 15 words; L=40: P=40-15=25; E=tok("are written by user. Following the given patterns")=8;
    # per=(25-1-2-8)//2=7; need=tok('"" ')=1; item 1 uses 5 of 6, saved 1; item 2 gets 7: all 6 words.
    ("llama", ("coffee first then the world", "rainy mondays are the worst honestly")),
    # t5: tok(input)=16, P=24, E=9, per=(24-1-2-9)//2=6, need=2 -> 4 ids = 3 words, saved 0.
    ("t5", ("coffee first then", "rainy mondays are")),
])
def test_lamp7_tweet_prompt_says_by_a_person(style, texts):
    # The item's trailing space plus the phrase's leading space give two spaces, as officially.
    expected = (f'"{texts[0]}" , and "{texts[1]}"  are written by a person. Following the given patterns '
                + LAMP7_INPUT)
    assert prompt("LaMP-7", LAMP7_INPUT, LAMP7_ITEMS, 40, style) == expected


# --------------------------------------------------------------------------- budget edge cases

LONG_INPUT = ("Generate a headline for the following article: the mayor said the new park will open next spring "
              "after years of delays and budget fights with the council")   # 27 words


def test_retry_factors_keep_the_official_float_rounding():
    assert retry_factors() == [0.6, 0.5, 0.4, 0.30000000000000004, 0.20000000000000004, 0.10000000000000003,
                               2.7755575615628914e-17]


def test_retry_with_a_smaller_input_share():
    # llama, L=40, input 27: factor 0.6 -> P=40-24=16, per=(16-3)//2=6, cut 6-9<0: fail;
    # 0.5 -> P=20, per=8, cut -1: fail; 0.4 -> P=24, per=10, cut 1: "a" and "experts".
    assert prompt("LaMP-4", LONG_INPUT, LAMP4_ITEMS, 40, "llama") == lamp4(("a", "experts"), LONG_INPUT)


def test_a_budget_of_exactly_zero_writes_the_empty_item_as_officially():
    # llama, L=24: P = 10, 12, 15, 17, 20 give negative cuts (the tokenizer raises: retry); factor 0.1 gives
    # P=22, per=(22-3)//2=9 and need 9, so each cut is exactly 0: the tokenizer returns no ids and the
    # official code writes the item with an empty field instead of retrying (reference §3.2, corrected).
    out = prompt("LaMP-4", LONG_INPUT, LAMP4_ITEMS, 24, "llama")
    assert out == lamp4(("", ""), LONG_INPUT)
    assert '"Storm hits coast" is the title for "" , and' in out


def test_a_zero_budget_lamp3_item_reads_score_for_empty_quotes():
    # llama, L=20, k=1: input 20 words; factor 0.6 -> P=20-12=8, per=8-1=7, need=tok('5 is the score for " " ')=7
    # -> cut 0: the official "5 is the score for "" . " item.
    items = [ProfileItem("1", text="great kit works well", score="5")]
    text = LAMP3_INPUT
    assert len(text.split()) >= 12
    assert prompt("LaMP-3", text, items, 20, "llama") == '5 is the score for "" . ' + text


def test_t5_style_zero_length_returns_the_whole_field_so_the_next_item_fails_and_the_loop_ends_raw():
    # t5, L=24: the last try gives per=10, need=10, cut 0; a T5-style tokenizer given max_length=0 does not
    # truncate (it returns all 9 ids), the carry goes to -9 and the second item's cut is negative: it raises,
    # and after the seventh failure the raw input is returned, exactly as the official loop does.
    tok = tokenizer_for("LaMP-4", LONG_INPUT, LAMP4_ITEMS, "t5")
    assert len(tok(LAMP4_ITEMS[0].get("text"), max_length=0, truncation=True)["input_ids"]) == 9
    assert prompt("LaMP-4", LONG_INPUT, LAMP4_ITEMS, 24, "t5") == LONG_INPUT


class RefusesZero:
    """A tokenizer that raises on a zero length: what it raises, not a rule of ours, drives the retry."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, text, **kwargs):
        if kwargs.get("max_length") == 0:
            raise ValueError("max_length must be positive")
        return self.inner(text, **kwargs)

    def decode(self, ids, **kwargs):
        return self.inner.decode(ids, **kwargs)


def test_the_tokenizers_own_exception_drives_the_retry():
    # Same case as above, but the tokenizer refuses 0: factor 0.1 fails too, and the last try
    # (P=24, per=10, cut 1) fits.
    tok = RefusesZero(tokenizer_for("LaMP-4", LONG_INPUT, LAMP4_ITEMS, "llama"))
    assert build_prompt("LaMP-4", LONG_INPUT, LAMP4_ITEMS, 24, tok) == lamp4(("a", "experts"), LONG_INPUT)


def test_raw_input_after_seven_failures():
    # L=12: even P=12 gives per=(12-3)//2=4 < need 9.
    assert prompt("LaMP-4", LONG_INPUT, LAMP4_ITEMS, 12, "llama") == LONG_INPUT
    assert prompt("LaMP-4", LONG_INPUT, LAMP4_ITEMS, 12, "t5") == LONG_INPUT


def test_t5_cut_of_one_keeps_only_eos_so_the_field_is_empty():
    # t5, L=25, k=1: tok(input)=13 < 15, P=12, per=11, need=10 -> cut 1 = just </s> -> "".
    items = LAMP4_ITEMS[:1]
    assert prompt("LaMP-4", LAMP4_INPUT, items, 25, "t5") == '"Storm hits coast" is the title for "" . ' + LAMP4_INPUT


@pytest.mark.parametrize("style", ["llama", "t5"])
def test_no_items_gives_the_raw_input(style):
    tok = tokenizer_for("LaMP-4", LAMP4_INPUT, LAMP4_ITEMS, style)
    assert build_prompt("LaMP-4", LAMP4_INPUT, select_items(_q(LAMP4_ITEMS), 0), 40, tok) == LAMP4_INPUT
    assert build_prompt("LaMP-4", LAMP4_INPUT, select_items(_q([]), 3), 40, tok) == LAMP4_INPUT


def _q(items) -> Question:
    return Question(id="q4", input=LAMP4_INPUT, profile=list(items))


def test_k_larger_than_the_profile_uses_the_whole_profile():
    assert select_items(_q(LAMP4_ITEMS), 5) == list(LAMP4_ITEMS)
    assert select_items(_q(LAMP4_ITEMS), 1) == list(LAMP4_ITEMS[:1])
    assert prompt("LaMP-4", LAMP4_INPUT, select_items(_q(LAMP4_ITEMS), 5), 40, "llama") == \
        lamp4(("a strong storm", "experts expect a"))


def test_select_items_follows_the_ranking_and_names_unknown_ids():
    ids = [p.id for p in LAMP4_ITEMS]
    assert select_items(_q(LAMP4_ITEMS), 1, ids[::-1]) == [LAMP4_ITEMS[-1]]
    with pytest.raises(LampDataError, match=r"record id 'q4'.*'zz'"):
        select_items(_q(LAMP4_ITEMS), 1, [ids[0], "zz"])


def test_missing_item_field_names_the_item_and_field():
    with pytest.raises(LampDataError, match=r"record id '52'.*field 'title'"):
        prompt("LaMP-4", LAMP4_INPUT, [ProfileItem("52", text="no title here")], 40, "llama")


def test_without_a_tokenizer_four_characters_count_as_a_token():
    counter = CharCounter()
    assert counter.count("abcdefghi") == 3 and counter.truncate("abcdefghi", 2) == (2, "abcdefgh")
    assert counter.truncate("abc", 0) == (0, "") and counter.truncate("abc", -1) is None
    out = build_prompt("LaMP-4", LAMP4_INPUT, LAMP4_ITEMS, 256, None)
    assert out == lamp4(("a strong storm hit the coast last night", "experts expect a dry summer"))
