"""Rank every question's profile and write the official ranking file, resumably.

The ranking file is ``{question id: [profile ids, best first]}`` (reference §2), written
atomically. While ranking, each finished question is appended (and flushed) to a sidecar
``<output>.partial.jsonl`` whose first line records the settings; a rerun with the same settings
skips the questions already there, and the sidecar is removed once the final file is written.
"""

from __future__ import annotations

import json
import os
import sys
from operator import attrgetter
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Mapping, Sequence

from lamp.core.errors import LampDataError, LampError
from lamp.core.questions import QuestionTransform, decode_questions, load_questions, question_texts
from lamp.core.records import ITEM_FIELDS, ProfileItem, Question
from lamp.core.tasks import Task, get_task
from lamp.core.writing import atomic_write, write_json
from retrievers.base import Query, Retriever, get_retriever

#: Questions go to a retriever in chunks of about this many profile items (and at most MAX_CHUNK questions).
CHUNK_ITEMS = 4000
MAX_CHUNK = 256


def make_query(question: Question, task: Task, use_date: bool = False, source: str | None = None) -> tuple[Query, bool]:
    """The retriever's view of a question, and whether the query fell back to the whole input."""
    if not question.profile:
        raise LampDataError("the profile is empty: there is nothing to rank", file=source,
                            record_id=question.id, field="profile")
    text, fallback = task.query_with_fallback(question.input)
    docs = documents(task, question.profile, use_date)
    return Query(question.id, text, question.profile, docs, question.input, task.recency), fallback


def documents(task: Task, profile: Sequence[ProfileItem], use_date: bool = False) -> list[str]:
    """``task.document(item, use_date)`` for every item, the same strings built in one pass.

    A profile of a LaMP-4 train file holds up to a thousand items; one method call and generator
    per item cost more than ranking them. A test checks the equality for every task.
    """
    fields = task.doc_fields
    if not 1 <= len(fields) <= 2 or not all(name in ITEM_FIELDS for name in fields):
        return [task.document(item, use_date) for item in profile]
    if len(fields) == 1:
        docs = [f"{value or ''}" for value in map(attrgetter(fields[0]), profile)]
    else:
        docs = [f"{a or ''} {b or ''}" for a, b in map(attrgetter(*fields), profile)]
    if use_date:
        docs = [f"{doc} date: {date}" for doc, date in zip(docs, map(attrgetter("date"), profile))]
    return docs


def _chunks(queries: Iterable[Query], items: int = CHUNK_ITEMS, most: int = MAX_CHUNK) -> Iterator[list[Query]]:
    chunk: list[Query] = []
    size = 0
    for q in queries:
        chunk.append(q)
        size += len(q.profile)
        if size >= items or len(chunk) >= most:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _read_partial(path: Path, header: dict[str, Any]) -> dict[str, list[str]]:
    """Finished rankings from a sidecar made with the same settings ({} otherwise)."""
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        if json.loads(lines[0]) != {"settings": header}:
            print(f"warning: {path} was made with other settings; starting over", file=sys.stderr)
            return {}
    except (IndexError, ValueError):
        return {}
    done: dict[str, list[str]] = {}
    for line in lines[1:]:
        try:
            rec = json.loads(line)
            done[rec["id"]] = rec["ranking"]
        except (ValueError, KeyError, TypeError):
            break           # a line cut by an interruption: everything after it is redone
    return done


def rank_questions(questions: Sequence[Question], task: str | Task, ranker: str | Retriever = "bm25", *,
                   use_date: bool = False, progress: bool = True, partial_path: str | os.PathLike | None = None,
                   source: str | None = None, **opts: Any) -> dict[str, list[str]]:
    """Rank each question's profile: ``{question id: [profile ids, best first]}`` in question order.

    ``opts`` go to the retriever (e.g. ``contriever_checkpoint``, ``batch_size``, ``seed``, ``workers``).
    With ``partial_path``, finished questions are kept there so an interrupted call resumes.
    """
    task = get_task(task)
    retriever = get_retriever(ranker, **opts) if isinstance(ranker, str) else ranker
    header = _settings(task, use_date, retriever)
    partial = Path(partial_path) if partial_path else None
    done = _read_partial(partial, header) if partial else {}
    ids = {q.id for q in questions}
    done = {k: v for k, v in done.items() if k in ids}
    todo, fallbacks = _queries(questions, task, use_date, done, source)
    _warn_fallbacks(task, fallbacks, len(questions))

    bar = _progress_bar(retriever, len(questions), len(done), progress)
    sink = _open_partial(partial, header, done) if partial is not None else None
    try:
        chunks = list(_chunks(todo))
        for chunk, orders in zip(chunks, retriever.rank_stream(chunks)):
            for qid, ranking in _profile_ids(retriever, chunk, orders):
                done[qid] = ranking
                if sink:
                    sink.write(_sidecar_line(qid, ranking))
            if sink:
                sink.flush()
            bar.update(len(chunk))
    finally:
        bar.close()
        if sink:
            sink.close()
    return {q.id: done[q.id] for q in questions}


def _settings(task: Task, use_date: bool, retriever: Retriever) -> dict[str, Any]:
    """Everything that changes a ranking file (the sidecar's first line)."""
    return {"task": task.name, "use_date": bool(use_date), **retriever.identity()}


def _queries(questions: Sequence[Question], task: Task, use_date: bool, done: Mapping[str, Any],
             source: str | None = None) -> tuple[list[Query], int]:
    """The queries of the questions not ``done``, and how many inputs lacked the query marker."""
    todo: list[Query] = []
    fallbacks = 0
    for question in questions:
        query, fell_back = make_query(question, task, use_date, source)
        fallbacks += fell_back
        if question.id not in done:
            todo.append(query)
    return todo, fallbacks


def _profile_ids(retriever: Retriever, chunk: Sequence[Query],
                 orders: Sequence[Sequence[int]]) -> Iterator[tuple[str, list[str]]]:
    """(question id, profile ids best first) from the retriever's index orders, each checked whole."""
    for query, order in zip(chunk, orders):
        if len(order) != len(query.profile):
            raise LampError(f"ranker {retriever.name} returned {len(order)} items for question "
                            f"{query.id!r}, which has {len(query.profile)}")
        yield query.id, [query.profile[i].id for i in order]


def _progress_bar(retriever: Retriever, total: int, initial: int, progress: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="q", desc=f"rank {retriever.name}", disable=not progress,
                dynamic_ncols=True)


def _sidecar_line(qid: str, ranking: list[str]) -> str:
    return json.dumps({"id": qid, "ranking": ranking}, ensure_ascii=False) + "\n"


def _warn_fallbacks(task: Task, fallbacks: int, total: int) -> None:
    if fallbacks:
        print(f"warning: {fallbacks} of {total} inputs lack the {task.name} query marker "
              f"({task.query_marker or 'two quoted references'!r}); the whole input was used as their query",
              file=sys.stderr)


def _open_partial(partial: Path, header: dict[str, Any], done: dict[str, list[str]]) -> IO[str]:
    """The sidecar, rewritten with the kept lines (a cut last line never precedes new ones), for appending."""
    with atomic_write(partial) as fh:
        fh.write(json.dumps({"settings": header}) + "\n")
        for qid, ranking in done.items():
            fh.write(_sidecar_line(qid, ranking))
    return open(partial, "a", encoding="utf-8")


def partial_path_for(output: str | os.PathLike) -> Path:
    return Path(f"{output}.partial.jsonl")


def rank_file(input_path: str | os.PathLike, output_path: str | os.PathLike, task: str, ranker: str = "bm25", *,
              use_date: bool = False, progress: bool = True, transform: QuestionTransform | None = None,
              **opts: Any) -> dict[str, list[str]]:
    """Rank a questions file into the official ranking file (atomic, resumable).

    ``transform`` changes each question as it is loaded (``--scrub``'s scrubber), before ranking.
    A retriever that ranks in worker processes gets the file in shares: each worker decodes and
    checks its questions and ranks them, so decoding runs in parallel too and the parent never
    holds the records. Anything unusual (a zip, a ``transform``, a record the fast decoder refuses)
    takes the one-process path, which names the problem exactly.
    """
    partial = partial_path_for(output_path)
    retriever = get_retriever(ranker, **opts)
    ranking = None
    if retriever.workers > 1 and transform is None and Path(input_path).is_file():
        ranking = _rank_file_shared(input_path, get_task(task), retriever, use_date, partial, progress)
    if ranking is None:
        questions = load_questions(input_path, task=task, transform=transform)
        ranking = rank_questions(questions, task, retriever, use_date=use_date, progress=progress,
                                 partial_path=partial, source=str(input_path))
    write_json(output_path, ranking)
    partial.unlink(missing_ok=True)
    return ranking


#: What forked workers inherit for :func:`_rank_share`, by call.
_SHARED: dict[int, tuple] = {}
#: Questions per share: small enough for a steady progress bar and sidecar, large enough to amortise.
SHARE_QUESTIONS = 64


def _rank_share(job: tuple[int, int, int]) -> tuple[list[str], list[list[str] | None], int] | None:
    """Decode, check and rank questions ``start:stop`` of the file in a worker: (ids, rankings (None
    for those already done), query fallbacks), or None when the share needs the detailed loader."""
    call, start, stop = job
    texts, task, use_date, retriever, done = _SHARED[call]
    questions = decode_questions(texts[start:stop], task.name)
    if questions is None:
        return None
    todo, fallbacks = _queries(questions, task, use_date, done)
    ranked: dict[str, list[str]] = {}
    for chunk in _chunks(todo):
        ranked.update(_profile_ids(retriever, chunk, retriever.rank_batch(chunk)))
    return [q.id for q in questions], [ranked.get(q.id) for q in questions], fallbacks


def _rank_file_shared(path: str | os.PathLike, task: Task, retriever: Retriever, use_date: bool, partial: Path,
                      progress: bool) -> dict[str, list[str]] | None:
    """:func:`rank_file` over forked workers that each decode their share (None: use the one-process path)."""
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        return None
    header = _settings(task, use_date, retriever)
    done = _read_partial(partial, header)
    with question_texts(path) as texts:
        if not texts:
            return None
        call = id(texts)
        _SHARED[call] = (texts, task, use_date, retriever, done)
        jobs = [(call, i, min(i + SHARE_QUESTIONS, len(texts))) for i in range(0, len(texts), SHARE_QUESTIONS)]
        bar = _progress_bar(retriever, len(texts), 0, progress)
        ids: list[str] = []
        fallbacks = 0
        sink = _open_partial(partial, header, done)
        try:
            with mp.get_context("fork").Pool(retriever.workers) as pool:
                for result in pool.imap(_rank_share, jobs):
                    if result is None:
                        return None
                    share_ids, rankings, share_fallbacks = result
                    ids += share_ids
                    fallbacks += share_fallbacks
                    for qid, ranking in zip(share_ids, rankings):
                        if ranking is not None:
                            done[qid] = ranking
                            sink.write(_sidecar_line(qid, ranking))
                    sink.flush()
                    bar.update(len(share_ids))
        finally:
            _SHARED.pop(call, None)
            bar.close()
            sink.close()
    if len(set(ids)) != len(ids):
        return None                      # a duplicate question id: the detailed loader names it
    _warn_fallbacks(task, fallbacks, len(ids))
    return {qid: done[qid] for qid in ids}
