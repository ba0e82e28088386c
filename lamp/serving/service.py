"""The logic behind ``lamp serve``'s endpoints: checks, personalization, generation and erasure.

A personalized prompt is built the way a run builds it: the retrieval query of
:func:`retrievers.ranking.make_query` (the task table's query and document texts) ranks *that
user's* stored profile, and :func:`lamp.generation.driver.build_examples` turns the ranking into the
official token-budgeted prompt. The routes of :mod:`lamp.serving.app` only translate HTTP to the
methods of :class:`Service`; :mod:`lamp.serving.completions` turns OpenAI requests into jobs.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from lamp.core.errors import LampError
from lamp.core.jsonio import Problems
from lamp.core.native import item_to_lamp
from lamp.core.questions import item_from_json
from lamp.core.records import ProfileItem, Question
from lamp.core.tasks import Task, get_task
from lamp.generation.backends.base import Backend, Example, GenerationSettings
from lamp.generation.backends.servers import GenerationFailures
from lamp.generation.driver import build_examples
from lamp.privacy.scrub import KeyedPlaceholders, get_scrubber
from lamp.serving.auth import USER_ID_RULE, may_access, principal_of, valid_user_id
from lamp.serving.engine import BatchEngine, Job, find_stop
from lamp.serving.engine import supports as batches
from lamp.serving.guards import ApiError, strings
from lamp.serving.responses import count_tokens
from lamp.serving.shapes import ItemsBody, PersonalizationFields, PersonalizeBody, ProfileBody, ServeLimits
from lamp.serving.store import DuplicateItems, Profile, ProfileStore, TooManyItems
from retrievers import Retriever, get_retriever
from retrievers.ranking import make_query

#: The ranker of a personalized request that names none.
DEFAULT_RETRIEVER = "bm25"


@dataclass(frozen=True)
class Personal:
    """A personalized request: whose profile, for which task, how many items by which ranker."""

    user: str
    task: Task
    retriever: str
    k: int
    items: list[ProfileItem]


def personal_example(retriever: Retriever | None, task: Task, user_id: str, text: str, items: list[ProfileItem],
                     k: int, max_length: int, tokenizer: Any) -> Example:
    """The example a run would build for ``text`` with this user's profile: its top-k items (none for
    k=0 or a profile-blind ranker) and the official prompt (the raw input without items).

    The question id, which seeds the ``random`` ranker, is a hash of the user and the input, so a
    request is repeatable."""
    qid = hashlib.sha256(f"{user_id}\0{text}".encode()).hexdigest()[:16]
    question = Question(id=qid, input=text, profile=list(items), user_id=user_id)
    ranked: list[str] = []
    if k > 0 and items and retriever is not None and not retriever.profile_blind:
        query, _ = make_query(question, task)
        ranked = [items[i].id for i in retriever.rank_batch([query])[0]]
    return build_examples(task, [question], k, max_length, tokenizer, ranking={qid: ranked})[0]


def job_error(exc: BaseException) -> tuple[int, str]:
    """The status and message a failed job answers with (an upstream server's failure is a 502)."""
    if isinstance(exc, GenerationFailures):
        return 502, str(exc)
    if isinstance(exc, LampError):
        return 400, str(exc)
    return 500, f"generation failed ({type(exc).__name__})"


def scrubbers(store: ProfileStore) -> tuple[Callable[[str, list[ProfileItem]], list[ProfileItem]],
                                            Callable[[str, str], str]]:
    """(scrub a user's items, scrub a user's input) with keyed per-user placeholders."""
    scrubber, secret = get_scrubber(), store.secret()

    def scrub_items(user_id: str, items: list[ProfileItem]) -> list[ProfileItem]:
        mapping = KeyedPlaceholders(secret, user_id)
        return [scrubber.scrub_item(it, mapping) for it in items]

    def scrub_input(user_id: str, text: str) -> str:
        return scrubber.scrub_text(text, KeyedPlaceholders(secret, user_id))
    return scrub_items, scrub_input


class Service:
    """The state and logic behind the endpoints; the route functions only translate HTTP."""

    def __init__(self, backend: Backend, store: ProfileStore, model_name: str, settings: GenerationSettings,
                 limits: ServeLimits, retriever_options: dict[str, Any], default_k: int = 1,
                 max_batch: int = 32, batch_window_s: float = 0.01, scrub: bool = False) -> None:
        self.backend, self.store, self.model_name = backend, store, model_name
        #: ``scrub``: PII in stored items and ``/personalize`` inputs becomes keyed per-user placeholders.
        self.scrub_items, self.scrub_input = scrubbers(store) if scrub else (None, None)
        self.retriever_options = retriever_options
        self.settings, self.limits, self.default_k = settings, limits, default_k
        self.created = int(time.time())
        #: One backend call at a time (the batch engine and the log-probability scorer take it too).
        self.generate_lock = threading.Lock()
        #: Dynamic batching of the OpenAI endpoints on a local model (None: one backend call per request).
        self.engine = BatchEngine(backend, self.generate_lock, max_batch=max_batch, window_s=batch_window_s) \
            if batches(backend) else None
        self._retrievers: dict[str, Retriever] = {}
        self._retriever_lock = threading.Lock()

    # ---- checks

    def check_id(self, value: str, param: str) -> None:
        if not value or len(value) > self.limits.max_id_chars:
            raise ApiError(422, f"{param} must have 1 to {self.limits.max_id_chars} characters, got {len(value)}",
                           param)

    def check_new_user_id(self, user_id: str, param: str) -> None:
        """A profile is created only under an id of the safe alphabet (so no encoding aliases it)."""
        if not valid_user_id(user_id):
            raise ApiError(400, f"{param} is not an allowed user id; user ids are {USER_ID_RULE}", param)

    def authorize(self, scope: dict, user_id: str, param: str) -> None:
        """403 unless the request's principal may reach ``user_id``'s data (the id the route uses)."""
        if not may_access(principal_of(scope), user_id):
            raise ApiError(403, "this key may only reach its own user's data", param)

    def check_text(self, text: str, param: str) -> None:
        if len(text) > self.limits.max_input_chars:
            raise ApiError(413, f"{param} has {len(text)} characters; the limit is {self.limits.max_input_chars}",
                           param)

    def check_model(self, model: str | None) -> None:
        if model not in (None, self.model_name):
            raise ApiError(404, f"the model {model!r} does not exist; this server serves {self.model_name!r}",
                           "model")

    def max_tokens(self, value: int) -> int:
        if value > self.limits.max_tokens_limit:
            raise ApiError(422, f"max_tokens is {value}; this server allows at most {self.limits.max_tokens_limit}",
                           "max_tokens")
        return value

    def task(self, name: str, param: str = "task") -> Task:
        try:
            return get_task(name)
        except LampError as exc:
            raise ApiError(422, str(exc), param) from None

    def items(self, raw: list[dict[str, Any]], task: Task, param: str = "profile") -> list[ProfileItem]:
        """Validate profile items for ``task`` (LaMP's layout, or without ids the benchmark's own, ids
        made as the data readers make them); every problem is listed in one 422."""
        if len(raw) > self.limits.max_items:
            raise ApiError(413, f"{param} has {len(raw)} items; the limit is {self.limits.max_items} per user", param)
        problems = Problems(param, collect=True)
        items = []
        for n, obj in enumerate(raw):
            for key, value in obj.items():
                for where, text in strings(value, f"{param}[{n}].{key}"):   # at any depth
                    self.check_text(text, where)
            if task.schema is not None and isinstance(obj, dict) and "id" not in obj:   # the benchmark's layout
                obj = item_to_lamp(task.schema, obj, n, f"{param}[{n}]", problems)
                if obj is None:
                    continue
            item = item_from_json(obj, problems, f"{param}[{n}]", task.item_fields)
            if item is not None:
                self.check_id(item.id, f"{param}[{n}].id")
                items.append(item)
        if problems.errors:
            shown = "; ".join(str(e) for e in problems.errors[:20])
            more = f" (and {len(problems.errors) - 20} more)" if len(problems.errors) > 20 else ""
            raise ApiError(422, f"invalid {task.name} profile items: {shown}{more}", param)
        return items

    def profile_task(self, user: str, stored: str, asked: str | None) -> Task:
        """The task a request on ``user``'s profile (of task ``stored``) runs: 409 when it asks another."""
        task = self.task(asked or stored)
        if task.name != stored:
            raise ApiError(409, f"user {user!r} has a {stored} profile, not {task.name}; "
                                "ask with that task or PUT a new profile", "task")
        return task

    def check_k(self, k: int) -> None:
        if k > self.limits.max_items:
            raise ApiError(422, f"k must be at most {self.limits.max_items}, got {k}", "k")

    # ---- profiles

    def put_profile(self, user_id: str, body: ProfileBody) -> dict[str, Any]:
        """``PUT /users/{user_id}/profile``: the user's profile replaced by the body's items."""
        self.check_new_user_id(user_id, "user_id")
        task = self.task(body.task)
        items = self.stored_items(user_id, body.profile, task)
        try:
            self.store.put_profile(user_id, task.name, items)
        except DuplicateItems as exc:
            raise ApiError(422, str(exc), "profile") from None
        return {"user_id": user_id, "task": task.name, "items": len(items)}

    def add_items(self, user_id: str, body: ItemsBody) -> dict[str, Any]:
        """``POST /users/{user_id}/items``: items appended (the profile created when ``task`` is given)."""
        known = self.store.summary(user_id)              # (task, number of items) or None
        if known is None:
            self.check_new_user_id(user_id, "user_id")
            if body.task is None:
                raise ApiError(404, f"unknown user {user_id!r}; give 'task' to create the profile", "task")
        task = self.task(body.task or known[0])  # type: ignore[index]
        if known is not None and task.name != known[0]:
            raise ApiError(409, f"user {user_id!r} has a {known[0]} profile; cannot add {task.name} items", "task")
        items = self.stored_items(user_id, body.profile, task)
        have, most = (known[1] if known else 0), self.limits.max_items
        if have + len(items) > most:
            raise ApiError(413, f"user {user_id!r} would have {have + len(items)} items; the limit is {most}",
                           "profile")
        try:
            total = self.store.add_items(user_id, items, task.name, max_items=most)
        except DuplicateItems as exc:
            raise ApiError(409, str(exc), "profile") from None
        except TooManyItems as exc:          # counted inside the transaction: concurrent appends cannot overrun
            raise ApiError(413, str(exc), "profile") from None
        return {"user_id": user_id, "task": task.name, "items": total}

    def stored_items(self, user_id: str, raw: list[dict[str, Any]], task: Task) -> list[ProfileItem]:
        """The body's items checked, and scrubbed when the service scrubs."""
        items = self.items(raw, task)
        return self.scrub_items(user_id, items) if self.scrub_items else items

    def profile(self, user_id: str) -> Profile:
        profile = self.store.get_profile(user_id)
        if profile is None:
            raise ApiError(404, f"unknown user {user_id!r}", "user_id")
        return profile

    def get_profile(self, user_id: str) -> dict[str, Any]:
        profile = self.profile(user_id)
        return {"user_id": user_id, "task": profile.task, "profile": [it.to_json() for it in profile.items]}

    def export(self, user_id: str) -> dict[str, Any]:
        """Everything the service holds about the user (their profile is all it stores)."""
        return {**self.get_profile(user_id), "retention_days": self.store.retention_days,
                "scrubbed": self.scrub_items is not None}

    def delete_user(self, user_id: str) -> dict[str, Any]:
        """``DELETE /users/{user_id}``: the profile, and every cached copy of its documents."""
        profile = self.profile(user_id)
        if not self.store.delete_user(user_id):
            raise ApiError(404, f"unknown user {user_id!r}", "user_id")
        self.erase(self.task(profile.task), profile.items)
        return {"user_id": user_id, "deleted": True}

    # ---- retrieval and generation

    def retriever(self, name: str) -> Retriever:
        with self._retriever_lock:
            if name not in self._retrievers:
                try:
                    self._retrievers[name] = get_retriever(name, **self.retriever_options)
                except (LampError, TypeError) as exc:
                    raise ApiError(422, str(exc), "retriever") from None
            return self._retrievers[name]

    def example(self, retriever: str | None, task: Task, user: str, text: str, items: list[ProfileItem],
                k: int) -> Example:
        """:func:`personal_example` with this service's ranker and prompt budget (a ranker that cannot
        rank this profile, e.g. recency without dates, is a 422)."""
        try:
            return personal_example(self.retriever(retriever) if retriever and k else None, task, user, text,
                                    items, k, self.settings.max_input_length, self.backend.tokenizer)
        except LampError as exc:
            raise ApiError(422, str(exc), "retriever") from None

    def generate(self, prompts: list[str], settings: GenerationSettings) -> list[str]:
        try:
            with self.generate_lock:
                return self.backend.generate(prompts, settings)
        except LampError as exc:               # an upstream server's failure (backend "openai") is a 502
            raise ApiError(*job_error(exc)) from None

    def personalize(self, body: PersonalizeBody) -> dict[str, Any]:
        """``POST /personalize``: the user's top-k items, the official prompt, and the output."""
        if self.scrub_input and body.user_id:
            body = body.model_copy(update={"input": self.scrub_input(body.user_id, body.input)})
        self.check_id(body.user_id, "user_id")
        self.check_text(body.input, "input")
        self.check_k(body.k)
        max_tokens = self.max_tokens(body.max_tokens or self.settings.max_new_tokens)
        profile = self.store.get_profile(body.user_id)
        if profile is None:
            raise ApiError(404, f"unknown user {body.user_id!r}; PUT /users/{{user_id}}/profile first", "user_id")
        task = self.profile_task(body.user_id, profile.task, body.task)
        example = self.example(body.retriever, task, body.user_id, body.input, profile.items, body.k)
        settings = replace(self.settings, max_new_tokens=max_tokens)
        if self.backend.uses_examples:      # e.g. uemb: the user's stored profile makes the user embedding
            try:
                with self.generate_lock:
                    output = self.backend.predict_examples(
                        [replace(example, id=body.user_id, items=tuple(profile.items))], settings)[0]
            except LampError as exc:
                raise ApiError(400, str(exc)) from None
        else:
            output = self.generate([example.prompt], settings)[0]
        return {"user_id": body.user_id, "task": task.name, "output": output, "prompt": example.prompt,
                "retrieved": [it.id for it in example.items], "retriever": body.retriever if body.k else None,
                "model": self.model_name}

    def personalization(self, body: PersonalizationFields) -> Personal | None:
        """What an OpenAI request's ``user`` (and extra body) ask for; None: not personalized."""
        explicit = body.task is not None or body.retriever is not None or body.k is not None
        if body.user is None:
            if explicit:
                raise ApiError(422, "task, retriever and k personalize with the stored profile of 'user'; "
                                    "give user", "user")
            return None
        self.check_id(body.user, "user")
        k = self.default_k if body.k is None else body.k
        self.check_k(k)
        if k == 0:
            return None
        profile = self.store.get_profile(body.user)
        if profile is None:
            if explicit:
                raise ApiError(404, f"unknown user {body.user!r}; PUT /users/{{user_id}}/profile first", "user")
            return None
        task = self.profile_task(body.user, profile.task, body.task)
        name = body.retriever or DEFAULT_RETRIEVER
        self.retriever(name)                          # an unknown retriever is a 422 before any work
        return Personal(body.user, task, name, k, profile.items)

    def personal_prompt(self, personal: Personal, text: str) -> tuple[str, list[str]]:
        """The official prompt for ``text`` from the user's top-k items, and those items' ids."""
        example = self.example(personal.retriever, personal.task, personal.user, text, personal.items, personal.k)
        # the backend's final truncation (hf-causal: the official one)
        return (self.backend.cut_prompt(example.prompt, self.settings.max_input_length),
                [it.id for it in example.items])

    def execute(self, jobs: list[Job]) -> list[Job]:
        """Run the jobs: batched with other requests on a local model, else one backend call."""
        if self.engine is not None:
            try:
                return self.engine.run(jobs)
            except Exception as exc:  # noqa: BLE001 - this request's own failure, answered as its own
                raise ApiError(*job_error(exc)) from None
        first = jobs[0]
        temperature, top_p, seed = first.sampling or (1.0, 1.0, None)
        settings = replace(self.settings, max_new_tokens=first.max_tokens, num_beams=1,
                           do_sample=first.sampling is not None, temperature=temperature, top_p=top_p,
                           seed=self.settings.seed if seed is None else seed, stop_at_newline="\n" in first.stops)
        for job, text in zip(jobs, self.generate([j.text for j in jobs], settings)):
            cut = find_stop(text, job.stops)
            job.output = text if cut is None else text[:cut]
            job.prompt_tokens = count_tokens(self.backend.tokenizer, job.text)
            job.completion_tokens = count_tokens(self.backend.tokenizer, job.output)
            short = job.completion_tokens is None or job.completion_tokens < job.max_tokens   # None: not counted
            job.finish_reason = "stop" if cut is not None or short else "length"
            if job.on_text is not None and job.output:
                job.on_text(job.output)
            job.done.set()
        return jobs

    def start(self, jobs: list[Job]) -> None:
        """Start the jobs without waiting (streaming); errors end up in ``job.error``."""
        if self.engine is not None:
            self.engine.submit(jobs)
            return

        def run() -> None:
            try:
                self.execute(jobs)
            except BaseException as exc:  # noqa: BLE001 - reported in the stream
                for job in jobs:
                    job.error = exc
                    job.done.set()
        threading.Thread(target=run, daemon=True).start()

    # ---- erasure

    def erase(self, task: Task, items: list[ProfileItem]) -> int:
        """Remove a deleted user's documents from the embedding caches of the retrievers built so far
        (when ``use_cache`` was turned on); returns the entries removed. The service keeps no
        generation cache, so these are the only copies outside the store."""
        texts = [task.document(it) for it in items]
        with self._retriever_lock:
            retrievers = list(self._retrievers.values())
        erased = 0
        for retriever in retrievers:
            cache = getattr(getattr(retriever, "encoder", None), "cache", None)
            if cache is not None:
                erased += cache.erase(texts)
        return erased
