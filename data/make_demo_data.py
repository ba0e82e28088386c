"""Generate the bundled synthetic LaMP demo data (tasks LaMP-1 … LaMP-7).

Usage::

    python data/make_demo_data.py                 # writes data/demo/
    python data/make_demo_data.py --out DIR --seed N

The output is byte-identical for a given seed: only ``random.Random`` (seeded per
task), ``json`` and fixed tables from ``demo_banks.py`` are used; no clock, no hash
order, no set iteration.

Layout (official LaMP file names, users disjoint across splits, every question has a
``user_id`` and every profile item a ``date``)::

    DIR/LaMP_{i}/{train,dev,test}/{split}_questions.json
    DIR/LaMP_{i}/{train,dev}/{split}_outputs.json
    DIR/leaderboard/LaMP_{i}_test_outputs.json      # hidden golds of the demo leaderboard

The generative story (what makes the profile useful) is described in ``data/README.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # imported as part of a package
    from . import demo_banks as banks
    from . import family_demo
except ImportError:  # run as a script: this folder is on sys.path
    import demo_banks as banks
    import family_demo

DEFAULT_SEED = 7
DEFAULT_OUT = Path(__file__).resolve().parent / "demo"
SPLITS: dict[str, int] = {"train": 100, "dev": 40, "test": 40}  # questions per split and task
FIRST_DAY = dt.date(2015, 1, 1).toordinal()
LAST_DAY = dt.date(2024, 12, 31).toordinal()
COLD_SHARE = 0.08  # share of questions whose user has 1-3 profile items
HEAVY_EVERY = 60  # one heavy user (long profile) per this many questions
DRIFT_SHARE = 0.3  # share of non-cold users whose habits change at a switch date
DRIFT_TOPIC_SHARE = 0.5  # of a drifting user's topics, the share whose habit changes
SWITCH_AT = (0.3, 0.6)  # where in a drifting user's history the switch falls
PARAPHRASE_SHARE = 0.25  # profile items written with synonyms (same meaning, other words)
LURE_SHARE = 0.12  # profile items that borrow words from another of the user's topics
LURE_SLOT_SHARE = 0.5  # in such an item, the share of term slots filled from that topic
PLAIN_VARIANT_SHARE = 0.65  # in plain text, how often a term takes its first (plain) wording

SLOT = re.compile(r"\{(\w+)\}")
AN_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=(?![Uu](?:s|ni|ti)|[Oo]ne\b|[Ee]u)[AEIOUaeiou])")
SENTENCE_START = re.compile(r"(^|[.!?] )([a-z])")
SMALL_WORDS = ("a", "an", "the", "of", "for", "in", "with", "via", "on", "to", "and", "vs")

TEMPLATES: dict[int, str] = {
    1: 'For an author who has written the paper with the title "{title}", which reference is related? '
    'Just answer with [1] or [2] without explanation. [1]: "{ref1}" [2]: "{ref2}"',
    2: "Which tag does this movie relate to among the following tags? Just answer with the tag name without "
    "further explanation. tags: [sci-fi, based on a book, comedy, action, twist ending, dystopia, dark comedy, "
    "classic, psychology, fantasy, romance, thought-provoking, social commentary, violence, true story] "
    "description: {text}",
    3: "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
    "without further explanation. review: {text}",
    4: "Generate a headline for the following article: {text}",
    5: "Generate a title for the following abstract of a paper: {text}",
    6: "Generate a subject for the following email: {text}",
    7: "Paraphrase the following tweet without any explanation before or after it: {text}",
}


# ----------------------------------------------------------------------------- text


@dataclass(frozen=True)
class Topic:
    """One topic of a vocabulary bank: synonym groups, sentence templates, extras."""

    name: str
    terms: tuple[tuple[str, ...], ...]
    sents: tuple[str, ...]
    extra: dict[str, Any]


def load_topics(table: dict[str, dict]) -> dict[str, Topic]:
    """Parse a bank table (see ``demo_banks``) into ``Topic`` records, in table order."""
    topics = {}
    for name, spec in table.items():
        groups = tuple(tuple(v.strip() for v in g.split("|")) for g in spec["terms"].split(";") if g.strip())
        extra = {k: v for k, v in spec.items() if k not in ("terms", "sents")}
        topics[name] = Topic(name, groups, tuple(spec["sents"]), extra)
    return topics


@dataclass
class Draft:
    """State of one text being written: its topic, wording register and used terms."""

    topic: Topic
    register: str = "plain"  # "plain" or "para" (prefer synonyms)
    lure: Topic | None = None  # another topic whose words leak into the text
    used: dict[str, list[int]] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)  # own-topic terms, in order of use


def tidy(text: str) -> str:
    """Collapse spaces, fix a/an and capitalise sentence starts."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r" ([,.!?])", r"\1", text)
    text = AN_BEFORE_VOWEL.sub(r"\1n ", text)
    return SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), text)


def title_case(text: str) -> str:
    """Paper-title casing; words that already hold capitals (acronyms) are kept."""
    words = text.split(" ")
    out = []
    for i, word in enumerate(words):
        keep = word != word.lower() or (i > 0 and word in SMALL_WORDS)
        out.append(word if keep else word[:1].upper() + word[1:])
    return " ".join(out)


def capitalize(text: str) -> str:
    """Upper-case the first letter (after any leading punctuation) only."""
    return re.sub(r"^([^A-Za-z0-9]*)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


class Writer:
    """Fills sentence templates with topic terms and bank fillers."""

    def __init__(self, rng: random.Random, generic: tuple[str, ...]) -> None:
        self.rng = rng
        self.generic = generic

    def variant(self, group: tuple[str, ...], register: str) -> str:
        """Pick a wording of a synonym group: plain text prefers the first one."""
        if register == "para" and len(group) > 1:
            return self.rng.choice(group[1:])
        if self.rng.random() < PLAIN_VARIANT_SHARE:
            return group[0]
        return self.rng.choice(group)

    def pick_group(self, draft: Draft) -> tuple[tuple[str, ...], bool]:
        """Choose an unused synonym group (from the lure topic now and then)."""
        own = draft.lure is None or self.rng.random() >= LURE_SLOT_SHARE
        topic = draft.topic if own else draft.lure
        used = draft.used.setdefault(topic.name, [])
        free = [i for i in range(len(topic.terms)) if i not in used] or list(range(len(topic.terms)))
        index = self.rng.choice(free)
        used.append(index)
        return topic.terms[index], own

    def term(self, draft: Draft) -> str:
        """A term for the next ``{t}`` slot; own-topic terms are remembered as keys."""
        group, own = self.pick_group(draft)
        word = self.variant(group, draft.register if own else "plain")
        if own:
            draft.keys.append(word)
        return word

    def filler(self, slot: str) -> str:
        """A value for a non-term slot such as ``{name}`` or ``{day}``."""
        fillers = {
            "name": lambda: self.rng.choice(banks.NAMES),
            "first": lambda: self.rng.choice(banks.NAMES).split(" ")[0],
            "place": lambda: self.rng.choice(banks.PLACES),
            "day": lambda: self.rng.choice(banks.DAYS),
            "num": lambda: str(self.rng.randint(3, 9)),
        }
        return fillers[slot]()

    def fill(self, template: str, draft: Draft) -> str:
        """Replace every slot of ``template``."""
        return SLOT.sub(lambda m: self.term(draft) if m.group(1) == "t" else self.filler(m.group(1)), template)

    def passage(self, draft: Draft, words: tuple[int, int], topic_share: float = 0.5) -> str:
        """A text of about ``words`` words: a topic sentence first, then topic and generic ones."""
        target = self.rng.randint(*words)
        own = list(draft.topic.sents)
        pool = list(self.generic)
        first = own.pop(self.rng.randrange(len(own)))
        sentences = [self.fill(first, draft)]
        count = len(sentences[0].split())
        while count < target and (own or pool):
            source = own if own and (self.rng.random() < topic_share or not pool) else pool
            sentence = self.fill(source.pop(self.rng.randrange(len(source))), draft)
            sentences.append(sentence)
            count += len(sentence.split())
        return tidy(" ".join(sentences))

    def keys(self, draft: Draft) -> tuple[str, str]:
        """Two key terms of a draft: its first own-topic term and a random later one."""
        keys: list[str] = []
        for word in draft.keys:
            if word not in keys:
                keys.append(word)
        while len(keys) < 2:
            word = self.term(Draft(draft.topic, used=draft.used))
            if word not in keys:
                keys.append(word)
        return keys[0], self.rng.choice(keys[1:])


# ----------------------------------------------------------------------------- users


@dataclass
class Era:
    """What a user writes about, and their per-topic habits, during one period."""

    topics: list[str]
    weights: list[float]
    habits: dict[str, dict[str, Any]]

    def pick(self, rng: random.Random) -> str:
        """Draw a topic by the user's interest weights."""
        return rng.choices(self.topics, self.weights)[0]


@dataclass
class User:
    """A synthetic user; ``late`` habits apply from ``switch`` on (``late is early`` if none)."""

    uid: str
    kind: str  # "cold", "normal" or "heavy"
    style: dict[str, Any]
    early: Era
    late: Era
    switch: int | None = None

    def era(self, day: int) -> Era:
        """The era in force on ``day``."""
        return self.late if self.switch is not None and day >= self.switch else self.early


@dataclass(frozen=True)
class Sizes:
    """Profile sizes (items) for normal and heavy users; cold users have 1-3."""

    normal: tuple[int, int]
    heavy: tuple[int, int]


# ----------------------------------------------------------------------------- tasks


class TaskMaker:
    """Base class: per-task vocabulary, habits, profile items and questions.

    Subclasses set the class attributes and implement ``habit`` and ``item``; an
    item is a dict of the task's profile fields (keys starting with ``_`` are
    hidden helpers, dropped from the files).
    """

    number: int
    bank: dict[str, dict]
    generic: tuple[str, ...]
    fields: tuple[str, ...]  # profile fields between "id" and "date", in file order
    source: str  # item field that becomes the input text
    target: str  # item field that becomes the gold output
    sizes: Sizes
    words: tuple[int, int]  # length of the long text field
    noise: float = 0.12  # chance that an item ignores the user's habit
    topics_per_user: tuple[int, int] = (2, 5)
    topic_drift: bool = False  # drifting users change topics (LaMP-1), not habits

    def __init__(self) -> None:
        self.topics = load_topics(self.bank)
        self.names = list(self.topics)

    @property
    def task(self) -> str:
        """Official task name, e.g. ``LaMP_3``."""
        return f"LaMP_{self.number}"

    def user_style(self, rng: random.Random) -> dict[str, Any]:
        """User-wide habits (not topic dependent)."""
        return {}

    def habit(self, rng: random.Random, topic: Topic, style: dict[str, Any]) -> dict[str, Any]:
        """A user's habit for one topic."""
        return {}

    def differs(self, old: dict[str, Any], new: dict[str, Any]) -> bool:
        """Whether a redrawn habit counts as a real change."""
        return old != new

    def item(self, rng: random.Random, w: Writer, draft: Draft, habit: dict[str, Any], style: dict) -> dict:
        """One profile item (or the record behind a question)."""
        raise NotImplementedError

    def question(self, rng: random.Random, w: Writer, user: User, day: int) -> tuple[str, str]:
        """The input text and gold output of a question asked on ``day``."""
        era = user.era(day)
        topic = self.topics[era.pick(rng)]
        record = self.item(rng, w, Draft(topic), self.noisy_habit(rng, era, topic, user.style), user.style)
        return TEMPLATES[self.number].format(text=record[self.source]), record[self.target]

    def noisy_habit(self, rng: random.Random, era: Era, topic: Topic, style: dict) -> dict[str, Any]:
        """The user's habit for ``topic``, or (label noise) a random one."""
        if topic.name in era.habits and rng.random() >= self.noise:
            return era.habits[topic.name]
        return self.habit(rng, topic, style)


class Citation(TaskMaker):
    """LaMP-1: the user cites papers from the topics they write about."""

    number = 1
    bank = banks.PAPER_TOPICS
    generic = banks.PAPER_GENERIC
    fields = ("title", "abstract")
    source, target = "", ""  # questions are built by ``question`` below
    sizes = Sizes((10, 21), (40, 75))
    words = (33, 50)
    noise = 0.06  # cold start, drift and cross-topic citations already make LaMP-1 hard
    topics_per_user = (2, 4)
    topic_drift = True
    same_topic_share = 0.75  # the cited paper shares the query paper's topic; else another user topic
    abandoned_share = 0.35  # drifting users: distractor from a topic they stopped writing about
    deck_size = 20  # gold positions are balanced within each run of this many questions

    def __init__(self) -> None:
        super().__init__()
        self.deck: list[bool] = []

    def gold_first(self, rng: random.Random) -> bool:
        """Whether the gold reference goes first; "[1]" and "[2]" are balanced per deck."""
        if not self.deck:
            self.deck = [True, False] * (self.deck_size // 2)
            rng.shuffle(self.deck)
        return self.deck.pop()

    def title(self, rng: random.Random, keys: tuple[str, str]) -> str:
        """A paper title in a random house style (references are by other authors)."""
        style = banks.TITLE_STYLES[rng.choice(list(banks.TITLE_STYLES))]
        adj, acr = rng.choice(banks.TITLE_ADJECTIVES), rng.choice(banks.ACRONYMS)
        return title_case(style.format(k1=keys[0], k2=keys[1], adj=adj, acr=acr))

    def ref_title(self, rng: random.Random, w: Writer, topic: Topic) -> str:
        """The title of a paper on ``topic``."""
        draft = Draft(topic)
        return self.title(rng, (w.term(draft), w.term(draft)))

    def item(self, rng: random.Random, w: Writer, draft: Draft, habit: dict[str, Any], style: dict) -> dict:
        abstract = w.passage(draft, self.words)
        return {"title": self.title(rng, w.keys(draft)), "abstract": abstract}

    def question(self, rng: random.Random, w: Writer, user: User, day: int) -> tuple[str, str]:
        era = user.era(day)
        own = era.pick(rng)
        cited = own if rng.random() < self.same_topic_share or len(era.topics) < 2 else rng.choice(
            [t for t in era.topics if t != own])
        abandoned = [t for t in user.early.topics if t not in era.topics]
        never = [t for t in self.names if t not in user.early.topics and t not in user.late.topics]
        other = rng.choice(abandoned) if abandoned and rng.random() < self.abandoned_share else rng.choice(never)
        right, wrong = self.ref_title(rng, w, self.topics[cited]), self.ref_title(rng, w, self.topics[other])
        if rng.random() < self.noise:
            right, wrong = wrong, right
        first = self.gold_first(rng)
        refs = (right, wrong) if first else (wrong, right)
        text = TEMPLATES[1].format(title=self.ref_title(rng, w, self.topics[own]), ref1=refs[0], ref2=refs[1])
        return text, "[1]" if first else "[2]"


class MovieTags(TaskMaker):
    """LaMP-2: each user tags each kind of film with their own tag."""

    number = 2
    bank = banks.MOVIE_TOPICS
    generic = banks.MOVIE_GENERIC
    fields = ("tag", "description")
    source, target = "description", "tag"
    sizes = Sizes((10, 26), (50, 90))
    words = (32, 50)
    noise = 0.12

    def habit(self, rng: random.Random, topic: Topic, style: dict[str, Any]) -> dict[str, Any]:
        return {"tag": rng.choice(topic.extra["tags"])}

    def item(self, rng: random.Random, w: Writer, draft: Draft, habit: dict[str, Any], style: dict) -> dict:
        return {"tag": habit["tag"], "description": w.passage(draft, self.words)}


class ProductRating(TaskMaker):
    """LaMP-3: each user has a usual rating per product category; text shows only the deviation."""

    number = 3
    bank = banks.PRODUCT_TOPICS
    generic = banks.PRODUCT_GENERIC
    fields = ("text", "score")
    source, target = "text", "score"
    sizes = Sizes((10, 36), (90, 150))
    words = (14, 36)
    noise = 0.08
    topics_per_user = (2, 4)
    base_weights = (0.25, 0.12, 0.1, 0.18, 0.35)  # P(usual rating = 1..5)
    deviation = ((-1, 0.15), (0, 0.7), (1, 0.15))  # item-level deviation from the usual rating

    def habit(self, rng: random.Random, topic: Topic, style: dict[str, Any]) -> dict[str, Any]:
        return {"base": rng.choices(range(1, 6), self.base_weights)[0]}

    def differs(self, old: dict[str, Any], new: dict[str, Any]) -> bool:
        return abs(old["base"] - new["base"]) >= 2

    def item(self, rng: random.Random, w: Writer, draft: Draft, habit: dict[str, Any], style: dict) -> dict:
        delta = rng.choices([d for d, _ in self.deviation], [p for _, p in self.deviation])[0]
        tone = w.fill(rng.choice(banks.PRODUCT_TONE[delta]), draft)
        body = w.passage(draft, self.words, topic_share=0.8)
        text = tidy(f"{body} {tone}" if rng.random() < 0.7 else f"{tone} {body}")
        return {"text": text, "score": str(min(5, max(1, habit["base"] + delta)))}


class Headlines(TaskMaker):
    """LaMP-4: per (user, topic) headline style and signature; a pet adjective per user."""

    number = 4
    bank = banks.NEWS_TOPICS
    generic = banks.NEWS_GENERIC
    fields = ("title", "text")
    source, target = "text", "title"
    sizes = Sizes((10, 20), (40, 70))
    words = (40, 60)
    noise = 0.12

    def user_style(self, rng: random.Random) -> dict[str, Any]:
        return {"adj": rng.choice(banks.HEADLINE_ADJECTIVES)}

    def habit(self, rng: random.Random, topic: Topic, style: dict[str, Any]) -> dict[str, Any]:
        return {"style": rng.choice(list(banks.HEADLINE_STYLES)), "sig": rng.choice(banks.HEADLINE_SIGNATURES)}

    def item(self, rng: random.Random, w: Writer, draft: Draft, habit: dict[str, Any], style: dict) -> dict:
        text = w.passage(draft, self.words)
        k1, k2 = w.keys(draft)
        head = banks.HEADLINE_STYLES[habit["style"]].format(
            k1=k1, k2=k2, adj=style["adj"], num=w.filler("num"), name=w.filler("name"))
        return {"title": habit["sig"].format(h=capitalize(head)), "text": text}


class PaperTitles(TaskMaker):
    """LaMP-5: per (user, topic) title template, adjective and tail; a system name per user."""

    number = 5
    bank = banks.PAPER_TOPICS
    generic = banks.PAPER_GENERIC
    fields = ("title", "abstract")
    source, target = "abstract", "title"
    sizes = Sizes((10, 21), (40, 75))
    words = (33, 50)
    noise = 0.12

    def user_style(self, rng: random.Random) -> dict[str, Any]:
        return {"acr": rng.choice(banks.ACRONYMS)}

    def habit(self, rng: random.Random, topic: Topic, style: dict[str, Any]) -> dict[str, Any]:
        return {"style": rng.choice(list(banks.TITLE_STYLES)), "adj": rng.choice(banks.TITLE_ADJECTIVES),
                "tail": rng.choice(banks.TITLE_TAILS)}

    def item(self, rng: random.Random, w: Writer, draft: Draft, habit: dict[str, Any], style: dict) -> dict:
        abstract = w.passage(draft, self.words)
        k1, k2 = w.keys(draft)
        title = banks.TITLE_STYLES[habit["style"]].format(k1=k1, k2=k2, adj=habit["adj"], acr=style["acr"])
        return {"title": title_case(f"{title} {habit['tail']}".strip()), "abstract": abstract}


class EmailSubjects(TaskMaker):
    """LaMP-6: per (user, topic) subject pattern and tag; greeting and sign-off per user."""

    number = 6
    bank = banks.EMAIL_TOPICS
    generic = banks.EMAIL_GENERIC
    fields = ("title", "text")
    source, target = "text", "title"
    sizes = Sizes((10, 26), (50, 90))
    words = (20, 40)
    noise = 0.12

    def user_style(self, rng: random.Random) -> dict[str, Any]:
        return {"me": rng.choice(banks.NAMES).split(" ")[0], "open": rng.choice(banks.EMAIL_OPENERS),
                "close": rng.choice(banks.EMAIL_CLOSERS)}

    def habit(self, rng: random.Random, topic: Topic, style: dict[str, Any]) -> dict[str, Any]:
        return {"style": rng.choice(list(banks.SUBJECT_STYLES)), "tag": rng.choice(banks.SUBJECT_TAGS)}

    def item(self, rng: random.Random, w: Writer, draft: Draft, habit: dict[str, Any], style: dict) -> dict:
        body = w.passage(draft, self.words)
        k1, k2 = w.keys(draft)
        subject = banks.SUBJECT_STYLES[habit["style"]].format(k1=k1, k2=k2, day=w.filler("day"))
        text = f"{w.fill(style['open'], draft)} {body} {style['close'].format(me=style['me'])}"
        return {"title": f"{subject} {habit['tag']}".strip(), "text": text}


class Tweets(TaskMaker):
    """LaMP-7: the gold is the user's own tweet; the input is a neutral paraphrase of it."""

    number = 7
    bank = banks.TWEET_TOPICS
    generic = banks.TWEET_GENERIC
    fields = ("text",)
    source, target = "_neutral", "text"
    sizes = Sizes((10, 45), (100, 220))
    words = (0, 0)  # tweets are one template each
    noise = 0.12
    catch_share = 0.85  # how often a user with a catchphrase uses it
    hashtag_share = 0.9

    def user_style(self, rng: random.Random) -> dict[str, Any]:
        slang = {key: rng.choice(options[1:]) for key, options in banks.SLANG.items()}
        return {"slang": slang, "lower": rng.random() < 0.5, "end": rng.choice(banks.TWEET_ENDINGS),
                "catch": rng.choice(banks.CATCHPHRASES) if rng.random() < 0.8 else ""}

    def habit(self, rng: random.Random, topic: Topic, style: dict[str, Any]) -> dict[str, Any]:
        tags = rng.sample(topic.extra["hashtags"], 2)
        return {"tags": " ".join(tags), "opener": rng.choice(banks.TWEET_OPENERS)}

    def render(self, rng: random.Random, w: Writer, draft: Draft, style: dict) -> tuple[str, str]:
        """Fill one template twice: in neutral wording and in the user's own words."""
        template = rng.choice(draft.topic.sents + self.generic)
        neutral, mine, pos = [], [], 0
        for m in SLOT.finditer(template):
            neutral.append(template[pos:m.start()])
            mine.append(template[pos:m.start()])
            pos, key = m.end(), m.group(1)
            if key == "t":
                group, own = w.pick_group(draft)
                word = w.variant(group, draft.register if own else "plain")
                plain = rng.choice([v for v in group if v != word] or [word])
            elif key in banks.SLANG:
                plain, word = banks.SLANG[key][0], style["slang"][key]
            else:
                plain = word = w.filler(key)
            neutral.append(plain)
            mine.append(word)
        neutral.append(template[pos:])
        mine.append(template[pos:])
        return "".join(neutral), "".join(mine)

    def item(self, rng: random.Random, w: Writer, draft: Draft, habit: dict[str, Any], style: dict) -> dict:
        neutral, mine = self.render(rng, w, draft, style)
        text = f"{habit['opener']} {tidy(mine)}".rstrip(".!?") + style["end"]
        if style["catch"] and rng.random() < self.catch_share:
            text += f" {style['catch']}"
        if rng.random() < self.hashtag_share:
            text += f" {habit['tags']}"
        text = text.lower() if style["lower"] else text
        return {"text": text, "_neutral": tidy(neutral).rstrip(".!?") + "."}


MAKERS: tuple[type[TaskMaker], ...] = (
    Citation, MovieTags, ProductRating, Headlines, PaperTitles, EmailSubjects, Tweets,
)


# ----------------------------------------------------------------------------- building


@dataclass(frozen=True)
class Plan:
    """What kind of user to make and how many questions they ask."""

    kind: str  # "cold", "normal" or "heavy"
    questions: int
    drifts: bool = False


def plan_users(rng: random.Random, n_questions: int) -> list[Plan]:
    """The users of one split, in random order; an exact share of non-cold users drifts."""
    plan: list[tuple[str, int]] = []
    cold = max(1, round(COLD_SHARE * n_questions))
    while cold > 0:
        plan.append(("cold", min(cold, rng.randint(1, 2))))
        cold -= plan[-1][1]
    plan += [("heavy", 2)] * max(1, round(n_questions / HEAVY_EVERY))
    rest = n_questions - sum(n for _, n in plan)
    while rest > 0:
        plan.append(("normal", min(rest, rng.randint(2, 4))))
        rest -= plan[-1][1]
    rng.shuffle(plan)
    warm = [i for i, (kind, _) in enumerate(plan) if kind != "cold"]
    drifting = rng.sample(warm, round(DRIFT_SHARE * len(warm)))
    return [Plan(kind, n, i in drifting) for i, (kind, n) in enumerate(plan)]


def profile_size(rng: random.Random, kind: str, sizes: Sizes) -> int:
    """Number of profile items of a user (skewed towards the small end)."""
    if kind == "cold":
        return rng.randint(1, 3)
    low, high = sizes.heavy if kind == "heavy" else sizes.normal
    return low + int((high - low) * rng.random() ** 1.5)


def make_era(rng: random.Random, maker: TaskMaker, topics: list[str], style: dict) -> Era:
    """An era with random interest weights and one habit per topic (distinct across topics if possible)."""
    weights = [round(rng.uniform(0.5, 2.0), 3) for _ in topics]
    habits: dict[str, dict[str, Any]] = {}
    for name in topics:
        for _ in range(20):
            habit = maker.habit(rng, maker.topics[name], style)
            if habit not in habits.values():
                break
        habits[name] = habit
    return Era(topics, weights, habits)


def drift(rng: random.Random, maker: TaskMaker, early: Era, style: dict) -> Era:
    """The era after a user's switch date: new topics (LaMP-1) or changed habits."""
    if maker.topic_drift:
        new = rng.choice([t for t in maker.names if t not in early.topics])
        dropped = rng.choice(early.topics) if len(early.topics) > 1 else ""
        kept = [t for t in early.topics if t != dropped]
        late = make_era(rng, maker, kept + [new], style)
        late.weights[-1] = 2.5  # the new interest dominates
        return late
    habits = dict(early.habits)
    changing = [t for t in early.topics if rng.random() < DRIFT_TOPIC_SHARE] or [rng.choice(early.topics)]
    for name in changing:
        for _ in range(50):
            new = maker.habit(rng, maker.topics[name], style)
            if maker.differs(habits[name], new):
                habits[name] = new
                break
    return Era(early.topics, early.weights, habits)


def make_user(rng: random.Random, maker: TaskMaker, uid: str, plan: Plan) -> User:
    """A user with topics, habits and (if ``plan.drifts``) a later change of habits."""
    style = maker.user_style(rng)
    topics = rng.sample(maker.names, rng.randint(*maker.topics_per_user))
    early = make_era(rng, maker, topics, style)
    user = User(uid, plan.kind, style, early, early)
    if plan.drifts:
        user.late = drift(rng, maker, early, style)
    return user


def timeline(rng: random.Random, n_items: int, n_questions: int) -> tuple[list[int], list[int]]:
    """Distinct days of profile items and of questions; questions come near the end."""
    start = rng.randint(FIRST_DAY, FIRST_DAY + 6 * 365)
    end = min(LAST_DAY, start + rng.randint(3 * 365, 9 * 365))
    days = sorted(rng.sample(range(start, end + 1), n_items + n_questions))
    tail = max(n_questions, round(0.1 * len(days)))  # < len(days): the first event is an item
    asked = sorted(rng.sample(range(len(days) - tail, len(days)), n_questions))
    return [d for i, d in enumerate(days) if i not in asked], [days[i] for i in asked]


def iso(day: int) -> str:
    """``YYYY-MM-DD`` of an ordinal day."""
    return dt.date.fromordinal(day).isoformat()


def profile_items(rng: random.Random, maker: TaskMaker, user: User, days: list[int]) -> list[dict]:
    """The user's dated history (chronological); the helper key ``_day`` is dropped on output."""
    w = Writer(rng, maker.generic)
    items = []
    for day in days:
        era = user.era(day)
        topic = maker.topics[era.pick(rng)]
        others = [t for t in era.topics if t != topic.name]
        lure = maker.topics[rng.choice(others)] if others and rng.random() < LURE_SHARE else None
        register = "para" if rng.random() < PARAPHRASE_SHARE else "plain"
        record = maker.item(rng, w, Draft(topic, register, lure), maker.noisy_habit(rng, era, topic, user.style),
                            user.style)
        items.append({"_day": day, **record})
    return items


def build_task(maker: TaskMaker, seed: int, sizes: dict[str, int] | None = None
               ) -> dict[str, tuple[list[dict], list[dict]]]:
    """Questions and golds per split for one task (``sizes``: questions per split, default ``SPLITS``).

    Question ids are the task digit plus three digits, or more when a larger split needs them.
    """
    sizes = sizes or SPLITS
    rng = random.Random(seed * 1000 + maker.number)
    counter, users = 0, 0
    width = max(3, len(str(sum(sizes.values()) - 1)))
    result: dict[str, tuple[list[dict], list[dict]]] = {}
    for split, n_questions in sizes.items():
        questions, golds = [], []
        for plan in plan_users(rng, n_questions):
            users += 1
            user = make_user(rng, maker, f"{maker.number}u{users:03d}", plan)
            item_days, question_days = timeline(rng, profile_size(rng, plan.kind, maker.sizes), plan.questions)
            if plan.drifts:  # habits change part-way through the history
                user.switch = item_days[int(len(item_days) * rng.uniform(*SWITCH_AT))]
            history = profile_items(rng, maker, user, item_days)
            first_id = f"{maker.number}{counter:0{width}d}"
            for i, item in enumerate(history):
                item["id"] = f"{first_id}{i}"
            for day in question_days:
                qid = f"{maker.number}{counter:0{width}d}"
                counter += 1
                text, output = maker.question(rng, Writer(rng, maker.generic), user, day)
                profile = [public(maker, item) for item in history if item["_day"] < day]
                rng.shuffle(profile)
                questions.append({"id": qid, "input": text, "profile": profile, "user_id": user.uid})
                golds.append({"id": qid, "output": output})
        result[split] = (questions, golds)
    assert counter <= 10 ** width, "question ids are the task digit plus `width` digits"
    return result


def public(maker: TaskMaker, item: dict) -> dict:
    """A profile item with the official field order: id, task fields, date."""
    return {"id": item["id"], **{f: item[f] for f in maker.fields}, "date": iso(item["_day"])}


# ----------------------------------------------------------------------------- output


def write_json(path: Path, obj: Any) -> int:
    """Write compact JSON plus a newline; return the number of bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    path.write_bytes(data)
    return len(data)


def write_task(out: Path, task: str, splits: dict[str, tuple[list[dict], list[dict]]]) -> int:
    """Write one task in the official layout; test golds go to ``leaderboard/``."""
    size = 0
    for split, (questions, golds) in splits.items():
        size += write_json(out / task / split / f"{split}_questions.json", questions)
        gold_path = out / "leaderboard" / f"{task}_test_outputs.json" if split == "test" else (
            out / task / split / f"{split}_outputs.json")
        size += write_json(gold_path, {"task": task, "golds": golds})
    return size


def describe(task: str, splits: dict[str, tuple[list[dict], list[dict]]], size: int) -> str:
    """One summary line per task."""
    questions = [q for qs, _ in splits.values() for q in qs]
    lengths = sorted(len(q["profile"]) for q in questions)
    cold = sum(n <= 3 for n in lengths)
    users = len({q["user_id"]: None for q in questions})
    counts = "/".join(str(len(qs)) for qs, _ in splits.values())
    return (f"{task}: questions {counts} (train/dev/test), users {users}, profile items "
            f"min {lengths[0]} median {lengths[len(lengths) // 2]} max {lengths[-1]}, cold-start {cold}, "
            f"{size / 1e6:.2f} MB")


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: data/demo)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    for split, n in SPLITS.items():
        parser.add_argument(f"--{split}", type=int, default=n,
                            help=f"questions per task in the {split} split (default: %(default)s); larger "
                                 "splits for the learning methods go to another --out, the bundled files stay small")
    parser.add_argument("--tasks", default="", help="comma-separated task numbers, e.g. 2,5, and 'longlamp', "
                        "'lamp-qa' for the LaMP-family demo (data/family_demo.py) (default: all)")
    parser.add_argument("--planted", type=Path, default=None, metavar="DIR",
                        help="instead: write the planted-rule sets of data/planted.py (ROPG, RSPG, user embeddings) "
                             "to DIR, from LaMP-2 made with --seed, --train and --dev")
    parser.add_argument("--usefulness", action="store_true",
                        help="instead: write LaMP-2 where the useful item shares a hidden attribute (the director) "
                             "with the input, not its topic (data/room.py), with --seed, --train, --dev, --test")
    args = parser.parse_args(argv)
    if args.usefulness:
        if args.out == DEFAULT_OUT:
            parser.error("--usefulness needs its own --out DIR (data/demo/ holds the bundled demo)")
        try:
            from . import room
        except ImportError:
            import room
        print(room.write_room(args.out, args.seed, {split: getattr(args, split) for split in SPLITS}))
        return
    if args.planted is not None:
        try:
            from . import planted
        except ImportError:
            import planted
        for rel, n in planted.write_planted(args.planted, args.seed, {"train": args.train, "dev": args.dev}).items():
            print(f"{rel}: {n}")
        return
    sizes = {split: getattr(args, split) for split in SPLITS}
    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    family = tuple(n for n in names if n in family_demo.BUILDERS) or (() if names else tuple(family_demo.BUILDERS))
    wanted = {int(t) for t in names if t not in family_demo.BUILDERS}
    total = 0
    for line in family_demo.write_family(args.out, args.seed, family):
        print(line)
    for maker_class in MAKERS:
        maker = maker_class()
        if names and maker.number not in wanted:
            continue
        splits = build_task(maker, args.seed, sizes)
        size = write_task(args.out, maker.task, splits)
        total += size
        print(describe(maker.task, splits, size))
    print(f"total: {total / 1e6:.2f} MB in {args.out}")


if __name__ == "__main__":
    main()
