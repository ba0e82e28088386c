"""The task registry: one table entry per task of the LaMP family (reference §1.2, §2.1, §3.2, §8).

LaMP-1…7 (and LaMP-2-old), the LongLaMP configs (personalized long-form generation) and the LaMP-QA
categories (personalized long-form question answering) are all rows of one table: a benchmark
built on LaMP is data here, plus what it truly adds (its record layout, :class:`RecordSchema`;
its prompt frame, :class:`PromptSpec`; its metrics, in ``eval.metrics``).

Everything task-specific lives here as data, one keyword field each: the input template, how the
retrieval query is taken from the input, the document text of a profile item, the label set, the
metric family and the metrics by name (defined, with their direction, in ``eval.metrics.METRICS``),
the prompt template, the profile-baseline rule, the per-user adapter fields, the download folder
and the task its files name, its benchmark, its answer budget and what ``recency`` means for it. Code elsewhere looks tasks up with :func:`get_task` and never
branches on task names (tests/core/test_task_table.py checks it).
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field

from lamp.core.errors import LampError
from lamp.core.records import ProfileItem
from lamp.core.registry import Registry

MOVIE_TAGS = ("sci-fi", "based on a book", "comedy", "action", "twist ending", "dystopia", "dark comedy",
              "classic", "psychology", "fantasy", "romance", "thought-provoking", "social commentary",
              "violence", "true story")
#: The old LaMP-2 (news categorization) labels, in the official scorer's order.
NEWS_CATEGORIES = ("food & drink", "sports", "education", "parents", "religion", "travel", "business", "crime",
                   "science & technology", "culture & arts", "entertainment", "politics", "women",
                   "style & beauty", "healthy living")
NEWS_PROMPT_CATEGORIES = ("women", "religion", "politics", "style & beauty", "entertainment", "culture & arts",
                          "sports", "science & technology", "travel", "business", "crime", "education",
                          "healthy living", "parents", "food & drink")


def quoted(text: str) -> list[str]:
    """Substrings between successive pairs of double quotes (no escaping), as the official code scans."""
    parts = text.split('"')
    return parts[1::2][: (len(parts) - 1) // 2]


def after(marker: str, text: str) -> str | None:
    """Text after the first occurrence of ``marker``, stripped; None when the marker is absent."""
    at = text.find(marker)
    return None if at < 0 else text[at + len(marker):].strip()


@dataclass(frozen=True)
class PromptSpec:
    """The official per-item prompt template and budget rules (reference §3.2).

    ``item`` holds ``{long}`` for the truncated field and ``{<field>}`` for short fields;
    ``wrapper`` is the string whose token count is reserved per item (None: ``need_constant``).
    """

    item: str
    long_field: str
    wrapper: str | None
    assemble: str                 # "prepend" (J + glue + input) or "after_title" (LaMP-1)
    glue: str = ". "
    budget_phrase: str = ""       # phrase whose token count E is reserved once
    need_constant: int = 0
    minus_one: bool = True        # LaMP-1's per-item formula omits the -1
    #: False: no token budget, every item written whole (the LongLaMP and LaMP-QA builders); the
    #: whole source is still cut at the maximum input length afterwards, as there.
    budgeted: bool = True
    #: Unbudgeted: the long field cut to its first N words first (LongLaMP abstracts: 750); 0: whole.
    max_words: int = 0
    joiner: str = ", and "        # between items (LaMP-QA: a blank line)
    #: assemble == "frame": the prompt is ``frame`` with ``{profile}`` (the joined items) and
    #: ``{question}`` (the input) filled in; ``no_profile`` (same fields, no ``{profile}``) is the
    #: prompt without items (empty: the raw input, as in LaMP).
    frame: str = ""
    no_profile: str = ""


@dataclass(frozen=True)
class RecordSchema:
    """A benchmark's own record layout (its Hugging Face dataset's columns) and how it becomes a
    :class:`~lamp.core.records.Question` (rules: :mod:`lamp.core.native`).

    Field kinds: ``"str"``; ``"number"`` (int or float, or its text; kept as ``str(value)``, which
    writes what the official f-strings write: ``5.0`` stays ``"5.0"``); ``"rubric"`` (LaMP-QA's list
    of ``{aspect, reason, evidence}`` strings).
    """

    dataset: str                                  # the Hugging Face dataset id
    #: The dataset's config of each setting, user-based first: {"user": ..., "temporal": ...}
    #: (a setting is a split choice, like LaMP's time-based files), or the one config.
    configs: tuple[tuple[str, str], ...]
    #: Our split name -> the dataset's (LongLaMP calls dev "val", LaMP-QA "validation").
    splits: tuple[tuple[str, str], ...]
    input_field: str                              # "input" | "question"
    gold_field: str | None                        # None: the data has no gold text (LaMP-QA)
    user_field: str | None                        # "reviewerId" | "name" | "author" -> Question.user_id
    id_field: str | None                          # None: ids are made (lamp.core.native.made_id)
    fields: tuple[tuple[str, str], ...] = ()      # other record fields kept in Question.extra, with kinds
    item_fields: tuple[tuple[str, str], ...] = ()  # native item fields, with kinds
    item_id_field: str | None = None              # None or empty values: ids are made
    date_field: str | None = None                 # item field read as ProfileItem.date ("year")

    def config(self, setting: str = "user") -> str:
        known = dict(self.configs)
        if setting not in known:
            raise LampError(f"{self.dataset} has no {setting!r} setting (known: {', '.join(known)})")
        return known[setting]

    def split(self, split: str) -> str:
        known = dict(self.splits)
        if split not in known:
            raise LampError(f"{self.dataset} has no {split!r} split (known: {', '.join(known)})")
        return known[split]


@dataclass(frozen=True)
class Task:
    """One LaMP task as data: everything that differs between tasks is a field here."""

    name: str                                  # canonical, e.g. "LaMP-1"
    title: str
    family: str                                # "classification" | "rating" | "generation"
    input_template: str
    item_fields: tuple[str, ...]               # fields every profile item must carry
    doc_fields: tuple[str, ...]                # joined with " " into the document text
    query_marker: str | None                   # None: LaMP-1's quoted segments 1 and 2
    labels: tuple[str, ...] | None
    target_field: str | None                   # item field that holds the item's "answer"
    prompt: PromptSpec
    #: Names in eval.metrics.METRICS, in the official output order; the first is the primary metric.
    metrics: tuple[str, ...]
    #: The profile-baseline backend's rule (a name in lamp.generation.backends.baselines.RULES).
    baseline: str
    adapter_template: str                      # per-user LoRA training input (reference §8)
    adapter_target: str                        # item field a per-user adapter learns to write
    #: True: an adapter pair is the item's text split at a random word share (prefix -> rest).
    adapter_split_words: bool = False
    #: Folder of the task's splits on the download host (empty: ``file_name``).
    download_folder: str = ""
    #: The task its files name in their "task" field, when not itself (both LaMP-2 versions write "LaMP_2").
    file_task: str | None = None
    aliases: tuple[str, ...] = field(default=())
    benchmark: str = "LaMP"                    # "LaMP" | "LongLaMP" | "LaMP-QA" (``lamp tasks`` prints it)
    #: The answer budget in new tokens; None: the verb's own setting (LaMP's short answers).
    max_new_tokens: int | None = None
    #: True: the answer is its first line (LaMP's one-line labels and titles); False: long-form text.
    answer_line: bool = True
    #: What the ``recency`` ranker orders by: "date" (each item's date, newest first; LongLaMP
    #: abstracts: the year) or "order" (the profile's own order, last item first, which is the
    #: official LongLaMP ``rec`` ranker: ``profile[-k:][::-1]``; reviews and posts have no date).
    recency: str = "date"
    #: The benchmark's own record layout (None: LaMP's ``{id, input, profile}``).
    schema: RecordSchema | None = None
    #: The key of the JSON object the model is asked to answer with (LaMP-QA: "personalized_answer").
    answer_key: str | None = None

    @property
    def primary_metric(self) -> str:
        """The metric that picks the best checkpoint and, by default, the feedback ROPG/RSPG learn from."""
        return self.metrics[0]

    @property
    def file_name(self) -> str:
        """The spelling in files and folders: 'LaMP_1'."""
        return self.name.replace("-", "_")

    def accepts(self, name: str) -> bool:
        return _key(name) in {_key(self.name), *(_key(a) for a in self.aliases)}

    def query_with_fallback(self, text: str) -> tuple[str, bool]:
        """The retrieval query of an input and whether the documented fallback was used.

        The official code crashes when the marker is absent; we fall back to the whole input.
        """
        if self.query_marker is None:
            parts = quoted(text)
            if len(parts) >= 3:
                return parts[1] + " " + parts[2], False
            return text.strip(), True
        found = after(self.query_marker, text)
        return (text.strip(), True) if found is None else (found, False)

    def query(self, text: str) -> str:
        return self.query_with_fallback(text)[0]

    def document(self, item: ProfileItem, use_date: bool = False) -> str:
        """The text a retriever sees for a profile item (reference §2.1)."""
        doc = " ".join(str(item.get(f) or "") for f in self.doc_fields)
        return f"{doc} date: {item.date}" if use_date else doc

    def make_input(self, **fields: str) -> str:
        return self.input_template.format(**fields)

    def answer_text(self, output: str) -> str:
        """The answer in a model's output: with ``answer_key``, that field of the JSON object the
        prompt asks for (the official LaMP-QA baselines strip "json" and code fences, then parse);
        an output that does not parse to such an object is kept whole (the official code
        resamples up to 20 times at a rising temperature instead)."""
        if self.answer_key is None:
            return output
        text = output.strip()
        text = text[4:] if text.startswith("json") else text
        text = text[:-4] if text.endswith("json") else text
        text = text.strip().replace("\n", "").replace("```json", "").replace("```", "")
        try:
            obj = json.loads(text, strict=False)
        except ValueError:
            return output
        value = obj.get(self.answer_key) if isinstance(obj, dict) else None
        return value if isinstance(value, str) else output

    def content_free_input(self, filler: str = "N/A") -> str:
        """The input template with every field set to ``filler`` (for label-choice calibration)."""
        names = [name for _, name, _, _ in string.Formatter().parse(self.input_template) if name]
        return self.input_template.format(**dict.fromkeys(names, filler))


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_CLASSIFICATION = ("accuracy", "f1")
_RATING = ("MAE", "RMSE")
_ROUGE = ("rouge-1", "rouge-L")
_MOVIE_PROMPT = ("Which tag does this movie relate to among the following tags? Just answer with the tag name "
                 "without further explanation. tags: [" + ", ".join(MOVIE_TAGS) + "] description: {description}")
_NEWS_PROMPT = ("Which category does this article relate to among the following categories? Just answer with the "
                "category name without further explanation. categories: [" + ", ".join(NEWS_PROMPT_CATEGORIES)
                + "] article: ")
_REVIEW_PROMPT = ("What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
                  "without further explanation. review: {text}")
TASKS: Registry[Task] = Registry("task", {t.name: t for t in (
    Task(name="LaMP-1", title="Personalized citation identification", family="classification",
         input_template='For an author who has written the paper with the title "{title}", which reference is '
                        'related? Just answer with [1] or [2] without explanation. [1]: "{ref1}" [2]: "{ref2}"',
         item_fields=("title", "abstract"), doc_fields=("title", "abstract"), query_marker=None,
         labels=("[1]", "[2]"), target_field=None,
         prompt=PromptSpec('"{long}"', "title", None, "after_title", glue=", and ", need_constant=2, minus_one=False),
         metrics=_CLASSIFICATION, baseline="citation",
         adapter_template="Write an abstract for this title: {title}", adapter_target="abstract"),
    Task(name="LaMP-2", title="Personalized movie tagging", family="classification",
         input_template=_MOVIE_PROMPT,
         item_fields=("description", "tag"), doc_fields=("description",), query_marker="description:",
         labels=MOVIE_TAGS, target_field="tag",
         prompt=PromptSpec('the tag for the movie: "{long}" is "{tag}" ', "description",
                           'the tag for the movie: " " is "{tag}" ', "prepend"),
         metrics=_CLASSIFICATION, baseline="majority",
         adapter_template=_MOVIE_PROMPT, adapter_target="tag",
         download_folder="LaMP_2/new", aliases=("LaMP-2-new", "LaMP_2_new")),
    Task(name="LaMP-2-old", title="Personalized news categorization (the original LaMP-2)", family="classification",
         input_template=_NEWS_PROMPT + "{article}",
         item_fields=("text", "title", "category"), doc_fields=("title", "text"), query_marker="article:",
         labels=NEWS_CATEGORIES, target_field="category",
         prompt=PromptSpec('the category for the article: "{long}" is "{category}" ', "text",
                           'the category for the article: " " is "{category}" ', "prepend"),
         metrics=_CLASSIFICATION, baseline="majority",
         adapter_template=_NEWS_PROMPT + "{text}", adapter_target="category",
         download_folder="LaMP_2", file_task="LaMP-2"),
    Task(name="LaMP-3", title="Personalized product rating", family="rating",
         input_template=_REVIEW_PROMPT,
         item_fields=("text", "score"), doc_fields=("text",), query_marker="review:",
         labels=("1", "2", "3", "4", "5"), target_field="score",
         prompt=PromptSpec('{score} is the score for "{long}" ', "text", '{score} is the score for " " ', "prepend"),
         metrics=_RATING, baseline="mean",
         adapter_template=_REVIEW_PROMPT, adapter_target="score"),
    Task(name="LaMP-4", title="Personalized news headline generation", family="generation",
         input_template="Generate a headline for the following article: {article}",
         item_fields=("title", "text"), doc_fields=("title", "text"), query_marker="article:",
         labels=None, target_field="title",
         prompt=PromptSpec('"{title}" is the title for "{long}" ', "text", '"{title}" is the title for " " ',
                           "prepend"),
         metrics=_ROUGE, baseline="copy_top",
         adapter_template="Generate a headline for the following article: {text}", adapter_target="title"),
    Task(name="LaMP-5", title="Personalized scholarly title generation", family="generation",
         input_template="Generate a title for the following abstract of a paper: {abstract}",
         item_fields=("title", "abstract"), doc_fields=("title", "abstract"), query_marker=":",
         labels=None, target_field="title",
         prompt=PromptSpec('"{title}" is a title for "{long}" ', "abstract", '"{title}" is a title " " ', "prepend",
                           glue=". Following the given patterns ", budget_phrase="Following the given patterns"),
         metrics=_ROUGE, baseline="copy_top",
         adapter_template="Generate a title for the following abstract of a paper: {abstract}",
         adapter_target="title"),
    Task(name="LaMP-6", title="Personalized email subject generation", family="generation",
         input_template="Generate a subject for the following email: {body}",
         item_fields=("title", "text"), doc_fields=("text",), query_marker=":",
         labels=None, target_field="title",
         prompt=PromptSpec('"{title}" is the title for "{long}" ', "text", '"{title}" is the title for " " ',
                           "prepend"),
         metrics=_ROUGE, baseline="copy_top",
         adapter_template="Generate a subject for the following email: {text}", adapter_target="title"),
    Task(name="LaMP-7", title="Personalized tweet paraphrasing", family="generation",
         input_template="Paraphrase the following tweet without any explanation before or after it: {tweet}",
         item_fields=("text",), doc_fields=("text",), query_marker=":",
         labels=None, target_field="text",
         prompt=PromptSpec('"{long}" ', "text", '"" ', "prepend",
                           glue=" are written by a person. Following the given patterns ",
                           budget_phrase="are written by user. Following the given patterns"),
         metrics=_ROUGE, baseline="habits",
         adapter_template="Complete the following tweet: {text}", adapter_target="text", adapter_split_words=True),
)})

# --------------------------------------------------------------------------- LongLaMP (Kumar et al. 2024)
# Strings from the official prompt builder (LongLaMP-Benchmark longLaMP/prompts/prompts.py). The
# builder passes ``max_length=None`` for every item (no budget: items are written whole, the
# abstract cut to its first 750 words) and the whole source is cut at the input length afterwards.
# Its topic-writing code reads item fields ``input``/``output`` that the published data does not
# have; the published items are ``{author, content, id, summary}``, read here as
# input = summary and output = content (the corpus ``"{input} {output}"`` -> ``"{summary} {content}"``).
# Inputs are the dataset's own texts; the templates below are the ones the data was written with,
# used for content-free inputs and the demo (they do not change queries or prompts: LongLaMP's
# query is the whole input, or the text after "items:" for abstracts).
_LONG = 512                                          # new tokens for a long-form answer
_LONG_METRICS = ("rouge-1", "rouge-L", "meteor")
_LONG_SPLITS = (("train", "train"), ("dev", "val"), ("test", "test"))
_PATTERNS = ". Following the given patterns"
_REVIEW_INPUT = ('Generate the review text written by a reviewer who has given an overall rating of "{overall}" '
                 'for a product with description "{description}". The summary of the review text is "{summary}".')
_TOPIC_INPUT = "Generate the content for a reddit post {summary}"
_ABSTRACT_INPUT = 'Generate an abstract for the title "{title}" using the following items: {items}'


def _longlamp(config: str, **schema: object) -> RecordSchema:
    return RecordSchema("LongLaMP/LongLaMP", (("user", f"{config}_user"), ("temporal", f"{config}_temporal")),
                        _LONG_SPLITS, "input", "output", id_field=None, **schema)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- LaMP-QA (Salemi & Zamani 2025)
# The RAG prompt of the official baselines (LaMP-QA data/formetters.py): the system prompt and the
# user prompt, joined by a blank line as the official code joins them for a model without a system
# role (the harness sends one user turn); items are the first k profile texts joined by blank lines.
QA_RAG_SYSTEM = (
    "You are a helpful assistant designed to generate personalized responses to user questions. Your task is to "
    "answer a user's question from a post in a personalized way by considering this user's past post questions and "
    "detailed descriptions of these questions.\n# Your input:\n    - The user's current question from a post.\n"
    "    - The user's past post questions and detailed descriptions of these questions.\n# Your task: Answer the "
    "user's current question in a personalized way by considering this user's past post questions and detailed "
    "descriptions of these questions, to learn about the user's preferences.\n# Your output: You should generate "
    "personalized answer to the user's current question by considering this user's past post questions and detailed "
    "descriptions of these questions to learn about user's preferences. Your output should be a valid json object in "
    "```json ``` block that contains the following fields:\n    - personalized_answer: contains the personalized "
    "answer to the user's current question considering the this user's past post questions and detailed "
    "descriptions of these questions to learn about user's preferences.\n")
QA_RAG_USER = ("\n# Past post questions and detailed descriptions of these questions:\n{profile}\n"
               "# Current post question:\n{question}\n")
QA_PLAIN_SYSTEM = ("You are a helpful assistant designed to generate personalized responses to user questions.  "
                   "Your output should be a valid json object in ```json ``` block that contains the following "
                   "fields:\n   - personalized_answer: contains the personalized answer to the user's current "
                   "question.")
_QA_PROMPT = PromptSpec("{long}", "text", None, "frame", budgeted=False, joiner="\n\n",
                        frame=QA_RAG_SYSTEM + "\n\n" + QA_RAG_USER, no_profile=QA_PLAIN_SYSTEM + "\n\n{question}")
QA_CATEGORIES = ("Art_and_Entertainment", "Lifestyle_and_Personal_Development", "Society_and_Culture")


def _lamp_qa(category: str) -> Task:
    """One LaMP-QA category: the question is the input, the profile the user's past posts, no gold text
    (an LLM judge scores each answer against the question's rubric aspects)."""
    return Task(
        name=f"LaMP-QA-{category}", title=f"Personalized long-form question answering: {category.replace('_', ' ')}",
        family="rubric-qa", input_template="{question}", item_fields=("text",), doc_fields=("text",),
        query_marker="", labels=None, target_field="text", prompt=_QA_PROMPT, metrics=("rubric-score",),
        baseline="copy_top", adapter_template="Complete the following post: {text}", adapter_target="text",
        adapter_split_words=True, aliases=(category, f"LaMP_QA_{category}"), benchmark="LaMP-QA",
        max_new_tokens=_LONG, answer_line=False, recency="order", answer_key="personalized_answer",
        schema=RecordSchema("alireza7/LaMP-QA", (("user", category),),
                            (("train", "train"), ("dev", "validation"), ("test", "test")), "question", None, None,
                            "id", fields=(("narrative", "str"), ("rubric_aspects", "rubric")),
                            item_fields=(("text", "str"),), item_id_field="id"))


FAMILY_TASKS = (
    Task(name="LongLaMP-abstract_generation", title="Personalized abstract generation (LongLaMP)",
         family="long-generation", input_template=_ABSTRACT_INPUT, item_fields=("title", "abstract"),
         doc_fields=("title", "abstract"), query_marker="items:", labels=None, target_field="abstract",
         prompt=PromptSpec('"{long}" is the abstract for the title "{title}"', "abstract", None, "prepend",
                           glue=". Use the above abstracts as context to understand the style and language of the "
                                "user and, ", budgeted=False, max_words=750),
         metrics=_LONG_METRICS, baseline="copy_top",
         adapter_template='Generate an abstract for the title "{title}"', adapter_target="abstract",
         aliases=("abstract_generation", "abstract_generation_user", "abstract_generation_temporal"),
         benchmark="LongLaMP", max_new_tokens=_LONG, answer_line=False, recency="date",
         schema=_longlamp("abstract_generation", user_field="name",
                          item_fields=(("title", "str"), ("abstract", "str"), ("year", "number")),
                          item_id_field="id", date_field="year")),
    Task(name="LongLaMP-product_review", title="Personalized product review writing (LongLaMP)",
         family="long-generation", input_template=_REVIEW_INPUT,
         item_fields=("description", "overall", "reviewText", "summary"),
         doc_fields=("overall", "summary", "description", "reviewText"), query_marker="", labels=None,
         target_field="reviewText",
         prompt=PromptSpec('"{overall}" is a rating for the product with description "{description}". "{summary}" is '
                           'summary for "{long}" ', "reviewText", None, "prepend", glue=_PATTERNS + " ",
                           budgeted=False),
         metrics=_LONG_METRICS, baseline="copy_top", adapter_template=_REVIEW_INPUT, adapter_target="reviewText",
         aliases=("product_review", "product_review_user", "product_review_temporal"),
         benchmark="LongLaMP", max_new_tokens=_LONG, answer_line=False, recency="order",
         schema=_longlamp("product_review", user_field="reviewerId",
                          item_fields=(("description", "str"), ("overall", "number"), ("reviewText", "str"),
                                       ("summary", "str")))),
    Task(name="LongLaMP-topic_writing", title="Personalized topic writing: Reddit posts (LongLaMP)",
         family="long-generation", input_template=_TOPIC_INPUT, item_fields=("summary", "content"),
         doc_fields=("summary", "content"), query_marker="", labels=None, target_field="content",
         prompt=PromptSpec('"{summary}" is a summary for "{long}" ', "content", None, "prepend",
                           glue=_PATTERNS + ", ", budgeted=False),
         metrics=_LONG_METRICS, baseline="copy_top", adapter_template=_TOPIC_INPUT, adapter_target="content",
         aliases=("topic_writing", "topic_writing_user", "topic_writing_temporal"),
         benchmark="LongLaMP", max_new_tokens=_LONG, answer_line=False, recency="order",
         schema=_longlamp("topic_writing", user_field="author",
                          item_fields=(("summary", "str"), ("content", "str")), item_id_field="id")),
    *(_lamp_qa(category) for category in QA_CATEGORIES),
)
for _task in FAMILY_TASKS:
    TASKS.register(_task.name, _task)

#: The benchmarks of the table, by the name ``lamp data download --benchmark`` takes.
BENCHMARKS = {"lamp": "LaMP", "longlamp": "LongLaMP", "lamp-qa": "LaMP-QA"}

#: The seven tasks of the current benchmark, in order (the leaderboard needs all of them).
BENCHMARK_TASKS = ("LaMP-1", "LaMP-2", "LaMP-3", "LaMP-4", "LaMP-5", "LaMP-6", "LaMP-7")


def find_task(name: str) -> Task | None:
    """The task of any accepted spelling ('LaMP_1', 'lamp-1', 'LaMP_2_old'); None when there is none."""
    return next((task for task in TASKS.values() if task.accepts(name)), None)


def normalize_task_name(name: str) -> str:
    """Canonical task name for any accepted spelling ('LaMP_1', 'lamp-1' -> 'LaMP-1')."""
    key = _key(name)
    found = find_task(name)
    if found is not None:
        return found.name
    if not key:
        raise LampError("empty task name")
    raise TASKS.unknown(name, also=[t.file_name for t in TASKS.values()])


def get_task(name: str | Task) -> Task:
    """Look a task up by any accepted spelling; a clear error with a suggestion otherwise."""
    return name if isinstance(name, Task) else TASKS[normalize_task_name(name)]


def tasks_table() -> str:
    """A plain-text table of the registry, for ``lamp tasks``."""
    rows = [("task", "benchmark", "family", "query", "document", "labels", "metrics")]
    for t in TASKS.values():
        query = f'after "{t.query_marker}"' if t.query_marker else \
            ("the whole input" if t.query_marker == "" else "quoted refs [1] + [2]")
        labels = f"{len(t.labels)}: {', '.join(t.labels[:3])}…" if t.labels and len(t.labels) > 5 else \
            (", ".join(t.labels) if t.labels else "free text")
        rows.append((t.name, t.benchmark, t.family, query, " + ".join(t.doc_fields), labels, ", ".join(t.metrics)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
