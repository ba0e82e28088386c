"""The task registry: one table entry per LaMP task (reference §1.2, §2.1, §3.2, §8).

Everything task-specific lives here as data, one keyword field each: the input template, how the
retrieval query is taken from the input, the document text of a profile item, the label set, the
metric family and the metrics by name (defined, with their direction, in ``eval.metrics.METRICS``),
the prompt template, the profile-baseline rule, the per-user adapter fields, the download folder
and the task its files name. Code elsewhere looks tasks up with :func:`get_task` and never
branches on task names (tests/test_task_table.py checks it).
"""

from __future__ import annotations

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
    rows = [("task", "family", "query", "document", "labels", "metrics")]
    for t in TASKS.values():
        query = f'after "{t.query_marker}"' if t.query_marker else "quoted refs [1] + [2]"
        labels = f"{len(t.labels)}: {', '.join(t.labels[:3])}…" if t.labels and len(t.labels) > 5 else \
            (", ".join(t.labels) if t.labels else "free text")
        rows.append((t.name, t.family, query, " + ".join(t.doc_fields), labels, ", ".join(t.metrics)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
