"""BM25 with the official ranking, bit for bit, without building a ``BM25Okapi`` per question.

The official ranker (reference §2.2) builds ``rank_bm25.BM25Okapi`` (0.2.2, k1=1.5, b=0.75,
epsilon=0.25) over each user's whitespace-split profile and orders items by
``np.argsort(scores)[::-1]``. Near-tied items flip when a port adds the same terms in another
order, so this module repeats the library's float operations exactly:

* idf = ``math.log(N - df + 0.5) - math.log(df + 0.5)`` (``math.log``, not ``np.log``);
* the average idf sums every distinct word's idf in order of first appearance, one by one
  (``np.cumsum`` is sequential; ``np.sum`` is pairwise and is not used);
* negative idfs become ``epsilon * average_idf``;
* a score is accumulated query token by query token, in query order, duplicates included, each
  term as ``idf * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avgdl)))``; tokens absent from a
  document add an exact zero and are skipped;
* the order is ``np.argsort(scores)[::-1]`` on the same float64 array.

Speed comes from doing the per-token work in C++: a batch of profiles is split on whitespace
(``pyarrow.compute.utf8_split_whitespace``, which agrees with ``str.split()`` on every code point;
a test pins this) and dictionary-encoded in order of first appearance; document frequencies,
term frequencies of the query's words and scores are then a few numpy passes over integer ids.
Batches of users are spread over worker processes.

One deliberate fix: a profile with no words at all makes ``BM25Okapi`` divide by zero; here all
its scores are 0 (so the order is ``argsort(zeros)[::-1]``).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from typing import Iterable, Iterator, Sequence

import numpy as np

K1, B, EPSILON = 1.5, 0.75, 0.25

#: A unit of work: (query text, document texts of one profile).
Profile = tuple[str, Sequence[str]]


_LOG_HALF: list[float] = []     # _LOG_HALF[x] == math.log(x + 0.5), the library's two logarithms


def _log_half(n: int) -> np.ndarray:
    """``math.log(x + 0.5)`` for x in 0..n (``math.log``, bit-identical to the library; not ``np.log``)."""
    while len(_LOG_HALF) <= n:
        _LOG_HALF.append(math.log(len(_LOG_HALF) + 0.5))
    return np.array(_LOG_HALF[: n + 1])


def _string_array(texts: Sequence[str]):
    """An Arrow string array built from one UTF-8 buffer (several times faster than ``pa.array``)."""
    import pyarrow as pa

    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    large = int(lengths.sum()) >= 2**31
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64 if large else np.int32)
    np.cumsum(lengths, out=offsets[1:])
    kind = pa.LargeStringArray if large else pa.StringArray
    return kind.from_buffers(len(encoded), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded)))


def bm25_scores(batch: Sequence[Profile], k1: float = K1, b: float = B,
                epsilon: float = EPSILON) -> list[np.ndarray]:
    """The ``BM25Okapi([d.split() for d in docs]).get_scores(query.split())`` of each profile.

    Scores are bit-identical to rank_bm25 0.2.2 (see the module docstring).
    """
    import pyarrow.compute as pc

    nq = len(batch)
    if nq == 0:
        return []
    sizes = np.fromiter((len(docs) for _, docs in batch), dtype=np.int64, count=nq)
    ndocs = int(sizes.sum())
    doc_q = np.repeat(np.arange(nq, dtype=np.int64), sizes)
    doc_start = np.zeros(nq + 1, dtype=np.int64)
    np.cumsum(sizes, out=doc_start[1:])

    split = pc.utf8_split_whitespace(_string_array([d for _, docs in batch for d in docs]))
    # Arrow keeps an empty token at a leading or trailing run of whitespace; str.split() does not.
    flat = split.flatten()
    nonempty = pc.greater(pc.binary_length(flat), 0)
    tokens = flat.filter(nonempty)
    token_doc = pc.list_parent_indices(split).filter(nonempty).to_numpy().astype(np.int64)
    doc_len = np.bincount(token_doc, minlength=ndocs)
    tokens_per_q = np.bincount(doc_q, weights=doc_len, minlength=nq).astype(np.int64)
    token_start = np.zeros(nq + 1, dtype=np.int64)
    np.cumsum(tokens_per_q, out=token_start[1:])

    # Word ids per profile in order of first appearance (the order of the library's idf dict).
    # A batch-wide dictionary gives each token a global id; per profile, the first occurrence of
    # each id (np.minimum.at) gives that profile's word order; ``pid`` numbers the (profile, word)
    # pairs so that each profile's words are contiguous and in that order.
    encoded = pc.dictionary_encode(tokens)
    vocab = encoded.dictionary
    gids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    q_tokens = [query.split() for query, _ in batch]
    q_len = np.fromiter(map(len, q_tokens), dtype=np.int64, count=nq)
    q_start = np.zeros(nq + 1, dtype=np.int64)
    np.cumsum(q_len, out=q_start[1:])
    flat_q = [t for toks in q_tokens for t in toks]
    if flat_q and len(vocab):
        q_array = _string_array(flat_q)       # the same bytes as the documents (lone surrogates too)
        if q_array.type != vocab.type:
            q_array = q_array.cast(vocab.type)
        found = pc.index_in(q_array, value_set=vocab)
        q_gids = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        q_gids = np.full(len(flat_q), -1, dtype=np.int64)

    n_vocab = len(vocab)
    first = np.empty(n_vocab, dtype=np.int64)
    loc = np.full(n_vocab, -1, dtype=np.int64)
    owner = np.full(n_vocab, -1, dtype=np.int64)
    positions = np.arange(int(tokens_per_q.max()) if nq else 0, dtype=np.int64)
    pid = np.empty(len(gids), dtype=np.int64)
    q_pid = np.full(len(flat_q), -1, dtype=np.int64)
    words_per_q = np.zeros(nq, dtype=np.int64)
    n_words = 0
    for q in range(nq):
        lo, hi = int(token_start[q]), int(token_start[q + 1])
        if hi == lo:
            continue
        g = gids[lo:hi]
        first[g] = hi
        np.minimum.at(first, g, positions[:hi - lo])
        words = g[first[g] == positions[:hi - lo]]
        loc[words] = np.arange(n_words, n_words + len(words))
        owner[words] = q
        pid[lo:hi] = loc[g]
        qg = q_gids[q_start[q]:q_start[q + 1]]
        hit = (qg >= 0) & (owner[np.maximum(qg, 0)] == q)
        q_pid[q_start[q]:q_start[q + 1]] = np.where(hit, loc[np.maximum(qg, 0)], -1)
        words_per_q[q] = len(words)
        n_words += len(words)
    word_start = np.zeros(nq + 1, dtype=np.int64)
    np.cumsum(words_per_q, out=word_start[1:])
    word_q = np.repeat(np.arange(nq, dtype=np.int64), words_per_q)

    # (doc, word) pairs with their term frequency; document frequency per word.
    width = max(n_words, 1)
    key_type = np.int32 if ndocs * width < 2**31 else np.int64
    pair_key, tf = np.unique((token_doc * width + pid).astype(key_type), return_counts=True)
    pair_doc, pair_word = np.divmod(pair_key.astype(np.int64), width)
    df = np.bincount(pair_word, minlength=n_words)
    n_of_word = sizes[word_q]
    logs = _log_half(int(sizes.max()))
    idf = logs[n_of_word - df] - logs[df]

    # Average idf: a sequential sum in order of first appearance, divided by the number of words.
    eps = np.zeros(nq)
    for q in np.flatnonzero(words_per_q).tolist():
        lo, hi = int(word_start[q]), int(word_start[q + 1])
        eps[q] = epsilon * (float(np.cumsum(idf[lo:hi])[-1]) / (hi - lo))
    idf = np.where(idf < 0, eps[word_q], idf)

    # Length normalisation as the library computes it (int / int, then the same float ops).
    with np.errstate(divide="ignore", invalid="ignore"):
        avgdl = np.where(sizes > 0, tokens_per_q / np.maximum(sizes, 1), 1.0)
        norm = k1 * (1 - b + b * doc_len / avgdl[doc_q])

    # Query positions whose word is in the user's profile (others add exactly 0 in the library).
    scores = np.zeros(ndocs)
    keep = np.flatnonzero(q_pid >= 0)
    if not len(keep):
        return [scores[doc_start[q]:doc_start[q + 1]].copy() for q in range(nq)]
    occ_word_a = q_pid[keep]
    occ_pos_a = keep - np.repeat(q_start[:-1], q_len)[keep]

    # Join (doc, word) pairs with the query positions of that word: one contribution per (doc, position).
    by_word = np.argsort(occ_word_a, kind="stable")
    occ_sorted = occ_word_a[by_word]
    is_query_word = np.zeros(n_words, bool)
    is_query_word[occ_word_a] = True
    want = is_query_word[pair_word]
    p_doc, p_tf, p_word = pair_doc[want], tf[want], pair_word[want]
    contrib = idf[p_word] * (p_tf * (k1 + 1) / (p_tf + norm[p_doc]))
    lo = np.searchsorted(occ_sorted, p_word, side="left")
    reps = np.searchsorted(occ_sorted, p_word, side="right") - lo
    within = np.arange(int(reps.sum()), dtype=np.int64) - np.repeat(np.cumsum(reps) - reps, reps)
    e_pos = occ_pos_a[by_word[np.repeat(lo, reps) + within]]
    e_doc = np.repeat(p_doc, reps)
    e_val = np.repeat(contrib, reps)

    # Accumulate in query order: np.bincount adds its weights one by one in input order into a
    # zeroed float64 array, so sorting the contributions by query position reproduces the
    # library's ``score += ...`` sequence for every document.
    by_pos = np.argsort(e_pos, kind="stable")
    scores = np.bincount(e_doc[by_pos], weights=e_val[by_pos], minlength=ndocs)
    return [scores[doc_start[q]:doc_start[q + 1]].copy() for q in range(nq)]


def bm25_rank(batch: Sequence[Profile]) -> list[np.ndarray]:
    """Profile indices best first, exactly as ``np.argsort(scores)[::-1]`` orders them."""
    return [np.argsort(s)[::-1] for s in bm25_scores(batch)]


def _rank_lists(batch: Sequence[Profile]) -> list[list[int]]:
    return [order.tolist() for order in bm25_rank(batch)]


def default_workers() -> int:
    """One worker per available core, at most 8 (ranking is CPU-bound)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def rank_stream(batches: Iterable[Sequence[Profile]], workers: int = 1) -> Iterator[list[list[int]]]:
    """Rank batches of profiles in order, spread over ``workers`` processes when more than one."""
    if workers <= 1:
        for batch in batches:
            yield _rank_lists(batch)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(workers) as pool:
        yield from pool.imap(_rank_lists, batches)
