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

Speed comes from never making a Python string per token. A slice of a batch of profiles
becomes one UTF-8 buffer; whitespace (exactly ``str.split()``'s; a test checks every code point)
is a byte mask; every token gets an exact two-word code (its bytes and length when it has at
most 15 bytes, an id from a dict of its bytes otherwise) and a hash of that code. One sort
of (hash, position) keys per profile groups each word's tokens in text order; adjacent codes are
then compared, so a hash collision (two words of one profile with equal hash bits, about one
chance in 10**5 for a profile of 25,000 distinct words) is detected and resolved exactly instead
of merging the words. Document and term frequencies, first appearances and scores are then a
few numpy passes. Batches can be spread over worker processes, which inherit them when forked.

Where the optional C extension ``retrievers._bm25_c`` is built (``setup.py``; any C compiler),
tokens and scores come from it instead: one pass over each str's characters with CPython's own
``Py_UNICODE_ISSPACE`` (the test ``str.split()`` makes), a hash table per profile, and the same
float operations in the same order (built with ``-ffp-contract=off``). The numpy path below stays
as the fallback; the tests hold both to rank_bm25.

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

#: Characters per slice of a batch (a few hundred LaMP documents; measured fastest on 2 cores).
SLICE_CHARS = 250_000

#: At most this many hash bits go into the sort keys (tests lower it to force collisions).
HASH_BITS = 63

def _load_compiled():  # type: ignore[no-untyped-def]
    """The C extension when it is built and of this interface version, else None."""
    try:
        from retrievers import _bm25_c
    except ImportError:
        return None
    return _bm25_c if getattr(_bm25_c, "VERSION", None) == 1 else None


#: The compiled scorer (None: the numpy path); tests set it to None to check the fallback.
_compiled = _load_compiled()

_LOG_HALF: list[float] = []     # _LOG_HALF[x] == math.log(x + 0.5), the library's two logarithms


def _log_half(n: int) -> np.ndarray:
    """``math.log(x + 0.5)`` for x in 0..n (``math.log``, bit-identical to the library; not ``np.log``)."""
    while len(_LOG_HALF) <= n:
        _LOG_HALF.append(math.log(len(_LOG_HALF) + 0.5))
    return np.array(_LOG_HALF[: n + 1])


# --------------------------------------------------------------------------- tokens

#: Every code point ``str.split()`` splits on (== ``str.isspace()``; a test checks all 0x110000).
ASCII_SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "
UNICODE_SPACE = "\x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"

# Every ASCII whitespace byte is <= 32, so ``byte > 32`` marks word bytes except for the rare
# control bytes below 28 that are not whitespace (0-8, 14-27), which are patched afterwards.
# UTF-8 never reuses ASCII byte values inside a multi-byte character, and a lead byte never
# occurs as a continuation byte, so the non-ASCII spaces are found by their exact byte sequences.
_SPACE_SEQS = [c.encode() for c in UNICODE_SPACE]
_IS_LEAD = np.zeros(256, dtype=bool)
_IS_LEAD[[s[0] for s in _SPACE_SEQS]] = True
_SEQ2 = np.array(sorted(int.from_bytes(s, "big") for s in _SPACE_SEQS if len(s) == 2), dtype=np.int64)
_SEQ3 = np.array(sorted(int.from_bytes(s, "big") for s in _SPACE_SEQS if len(s) == 3), dtype=np.int64)
assert all(len(s) in (2, 3) for s in _SPACE_SEQS)

_U64 = np.uint64
# Tables indexed by min(length, 16): masks of the low bytes of two little-endian 8-byte reads
# (at the start and 8 bytes on) and tags that make the code depend on the length too (so "a" and
# "a\0" differ).
_LOW = [(1 << 8 * n) - 1 for n in range(8)]
_ALL = 2**64 - 1
_MASK0 = np.array(_LOW + [_ALL] * 9, dtype=_U64)
_TAG0 = np.array([n << 56 for n in range(8)] + [0] * 9, dtype=_U64)
_MASK1 = np.array([0] * 8 + _LOW + [0], dtype=_U64)
_TAG1 = np.array([0] * 8 + [(n - 7) << 56 for n in range(8, 16)] + [15 << 60], dtype=_U64)


def _mark_unicode_spaces(data: np.ndarray, is_word: np.ndarray) -> None:
    """Clear ``is_word`` on every byte of a non-ASCII whitespace character in UTF-8 ``data``."""
    lead = np.flatnonzero(_IS_LEAD[data])
    if not len(lead):
        return
    padded = np.concatenate([data, np.zeros(2, dtype=np.uint8)]).astype(np.int64)
    two = (padded[lead] << 8) | padded[lead + 1]
    three = (two << 8) | padded[lead + 2]
    for length, codes, seqs in ((2, two, _SEQ2), (3, three, _SEQ3)):
        hit = lead[np.isin(codes, seqs)]
        for k in range(length):
            is_word[hit + k] = False


def _tokenize(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split every text like ``str.split()`` and give each token an exact code.

    Returns (first code word, second code word, tokens per text); tokens are in text order and
    two tokens are the same word exactly when both code words are equal. Tokens of up to 7 bytes
    are (bytes | length << 56, 0); of 8 to 15 bytes (first 8 bytes, last bytes | (length - 7)
    << 56); longer ones (an id from a dict of their bytes, 15 << 60). Lone surrogates are kept by
    ``surrogatepass`` and compare like any other character.
    """
    joined = "\n".join(texts)
    ascii_only = joined.isascii()
    if ascii_only:
        buffer = joined.encode("ascii")
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    else:
        encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(texts))
        buffer = b"\n".join(encoded)
    size = len(buffer)
    data = np.zeros(size + 24, dtype=np.uint8)             # zero padding for 16-byte reads
    data[:size] = np.frombuffer(buffer, dtype=np.uint8)
    text = data[:size]
    word = np.zeros(size + 2, dtype=bool)                  # padded with a space on each side
    np.greater(text, 32, out=word[1:-1])
    low = np.flatnonzero(text < 28)                        # newlines, tabs and control bytes
    word[1 + low[(text[low] < 9) | (text[low] > 13)]] = True
    if not ascii_only:
        _mark_unicode_spaces(text, word[1:-1])
    edges = np.flatnonzero(word[1:] != word[:-1])          # start, end, start, end, ...
    starts, ends = edges[0::2], edges[1::2]
    length = ends - starts

    # The 16 bytes from each token's start, read through a view with a stride of one byte, as two
    # little-endian words; masks and tags by length make them exact (see the docstring).
    read16 = np.ndarray((size + 8,), dtype="V16", buffer=data, strides=(1,))
    kind = np.minimum(length, 16)
    codes = read16[starts].view("<u8").reshape(-1, 2)
    code0, code1 = codes[:, 0], codes[:, 1]
    code0 &= _MASK0[kind]
    code0 |= _TAG0[kind]
    code1 &= _MASK1[kind]
    code1 |= _TAG1[kind]
    if len(length) and int(length.max()) > 15:
        long_ = np.flatnonzero(length > 15)
        code0[long_] = _long_ids(buffer, edges, long_)

    text_start = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=text_start[1:])             # +1: the "\n" after each text
    per_text = np.diff(np.searchsorted(starts, text_start))
    return code0, code1, per_text


def _long_ids(buffer: bytes, edges: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Exact ids of the tokens ``which`` (over 15 bytes): their order of first appearance among them.

    One dict of the tokens' bytes; such tokens are rare (a fraction of a percent of LaMP's), and a
    dict costs less than importing a columnar library into every worker process.
    """
    ids: dict[bytes, int] = {}
    spans = zip(edges[0::2][which].tolist(), edges[1::2][which].tolist())
    return np.array([ids.setdefault(buffer[s:e], len(ids)) for s, e in spans], dtype=_U64)


def _hash(code0: np.ndarray, code1: np.ndarray, bits: int) -> np.ndarray:
    """``bits`` of a multiply-shift hash of both code words (wrapping uint64 arithmetic), as int64."""
    h = code1 * _U64(0x9E3779B97F4A7C15)
    h ^= code0
    h *= _U64(0xFF51AFD7ED558CCD)
    h >>= _U64(64 - bits)
    return h.view(np.int64)


# --------------------------------------------------------------------------- scores

def bm25_scores(batch: Sequence[Profile], k1: float = K1, b: float = B,
                epsilon: float = EPSILON) -> list[np.ndarray]:
    """The ``BM25Okapi([d.split() for d in docs]).get_scores(query.split())`` of each profile.

    Scores are bit-identical to rank_bm25 0.2.2 (see the module docstring). Large batches are
    scored in slices of about ``SLICE_CHARS`` characters, whose arrays stay in the CPU caches.
    """
    if _compiled is not None:
        return _scores_compiled(batch, k1, b, epsilon)
    out: list[np.ndarray] = []
    lo, chars = 0, 0
    for i, (query, docs) in enumerate(batch):
        chars += len(query) + sum(map(len, docs))
        if chars >= SLICE_CHARS or i == len(batch) - 1:
            out += _scores(batch[lo:i + 1], k1, b, epsilon)
            lo, chars = i + 1, 0
    return out


def _scores_compiled(batch: Sequence[Profile], k1: float, b: float, epsilon: float) -> list[np.ndarray]:
    """:func:`bm25_scores` by the C extension: one float64 array for the batch, a view per profile."""
    sizes = [len(docs) for _, docs in batch]
    logs = _log_half(max(sizes, default=0) + 1)
    out = np.empty(sum(sizes))
    _compiled.scores(batch, logs, float(k1), float(b), float(epsilon), out)
    bounds = np.cumsum([0] + sizes).tolist()
    return [out[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


def _scores(batch: Sequence[Profile], k1: float, b: float, epsilon: float) -> list[np.ndarray]:
    """:func:`bm25_scores` of one slice."""
    nq = len(batch)
    if nq == 0:
        return []
    sizes = np.fromiter((len(docs) for _, docs in batch), dtype=np.int64, count=nq)
    ndocs = int(sizes.sum())
    doc_start = np.zeros(nq + 1, dtype=np.int64)
    np.cumsum(sizes, out=doc_start[1:])
    texts = [d for _, docs in batch for d in docs]
    texts += [query for query, _ in batch]
    code0, code1, per_text = _tokenize(texts)
    doc_len, q_len = per_text[:ndocs], per_text[ndocs:]
    cum = np.zeros(ndocs + 1, dtype=np.int64)
    np.cumsum(doc_len, out=cum[1:])
    token_start = cum[doc_start]                            # each profile's first token
    tokens_per_q = np.diff(token_start)
    n_tokens = int(token_start[-1])

    # Sort keys (hash, token index), one sort per profile in place: each profile's words become
    # runs, and each run lists the word's tokens in text order (so by document, and its first
    # token is its first appearance). Runs of one hash holding two words (a collision) are found
    # by comparing codes and split exactly.
    tbits = max(n_tokens, 1).bit_length()
    hbits = min(HASH_BITS, 63 - max(tbits, max(nq - 1, 1).bit_length()))
    hashes = _hash(code0, code1, hbits)
    keys = hashes[:n_tokens] << tbits
    keys |= np.arange(n_tokens, dtype=np.int64)
    for q in np.flatnonzero(tokens_per_q > 1).tolist():
        keys[token_start[q]:token_start[q + 1]].sort()
    position = keys & ((1 << tbits) - 1)                    # token index, in sorted order
    keys >>= tbits                                          # hash of each sorted token
    c0, c1 = code0[position], code1[position]
    new_word = np.ones(n_tokens, dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=new_word[1:])
    new_word[token_start[:-1][tokens_per_q > 0]] = True
    differ = np.zeros(n_tokens, dtype=bool)
    np.not_equal(c0[1:], c0[:-1], out=differ[1:])
    differ[1:] |= c1[1:] != c1[:-1]
    if (differ & ~new_word).any():                          # a hash collision: separate the words
        _separate_collisions(position, new_word, differ, code0, code1)
        c0, c1 = code0[position], code1[position]
        np.not_equal(c0[1:], c0[:-1], out=differ[1:])
        differ[1:] |= c1[1:] != c1[:-1]
    new_word |= differ

    token_doc = np.repeat(np.arange(ndocs, dtype=np.int64), doc_len)
    doc_sorted = token_doc[position]
    new_pair = new_word.copy()
    new_pair[1:] |= doc_sorted[1:] != doc_sorted[:-1]
    pair_head = np.flatnonzero(new_pair)
    word_head = np.flatnonzero(new_word)
    tf = np.empty(len(pair_head), dtype=np.int64)
    np.subtract(pair_head[1:], pair_head[:-1], out=tf[:-1])
    tf[-1:] = n_tokens - pair_head[-1:]
    pair_doc = doc_sorted[pair_head]
    word_pairs = np.flatnonzero(new_word[pair_head])        # each word's first pair
    df = np.diff(word_pairs, append=len(pair_head))
    n_words = len(word_head)
    word_q = np.searchsorted(token_start, word_head, side="right") - 1
    logs = _log_half(int(sizes.max()))
    idf = logs[sizes[word_q] - df] - logs[df]

    # Average idf: a sequential sum in order of first appearance (the library's idf dict order),
    # divided by the number of words. First appearances are distinct token positions that grow
    # with the profile, so one sort puts every profile's words in that order, profile by profile.
    wbits = max(n_words, 1).bit_length()
    appearance = position[word_head] << wbits
    appearance |= np.arange(n_words, dtype=np.int64)
    appearance.sort()
    idf_seq = idf[appearance & ((1 << wbits) - 1)]
    words_per_q = np.bincount(word_q, minlength=nq)
    word_start = np.zeros(nq + 1, dtype=np.int64)
    np.cumsum(words_per_q, out=word_start[1:])
    eps = np.zeros(nq)
    for q in np.flatnonzero(words_per_q).tolist():
        lo, hi = int(word_start[q]), int(word_start[q + 1])
        eps[q] = epsilon * (float(np.cumsum(idf_seq[lo:hi])[-1]) / (hi - lo))
    idf = np.where(idf < 0, eps[word_q], idf)

    # Length normalisation as the library computes it (int / int, then the same float ops).
    with np.errstate(divide="ignore", invalid="ignore"):
        avgdl = np.where(sizes > 0, tokens_per_q / np.maximum(sizes, 1), 1.0)
        norm = k1 * (1 - b + b * doc_len / np.repeat(avgdl, sizes))

    hits = _query_words(nq, q_len, hashes[n_tokens:], code0[n_tokens:], code1[n_tokens:],
                        (word_q << hbits) | keys[word_head], c0[word_head], c1[word_head], hbits)

    # Every (query position, document) contribution, query positions in order: np.bincount adds
    # its weights one by one in input order into a zeroed float64 array, which reproduces the
    # library's ``score += ...`` sequence for every document.
    reps = df[hits]
    total = int(reps.sum())
    pair = np.repeat(word_pairs[hits] - (np.cumsum(reps) - reps), reps) + np.arange(total, dtype=np.int64)
    e_tf = tf[pair]
    e_doc = pair_doc[pair]
    contrib = np.repeat(idf[hits], reps) * (e_tf * (k1 + 1) / (e_tf + norm[e_doc]))
    scores = np.bincount(e_doc, weights=contrib, minlength=ndocs)
    return [scores[doc_start[q]:doc_start[q + 1]].copy() for q in range(nq)]


def _separate_collisions(position: np.ndarray, new_word: np.ndarray, differ: np.ndarray,
                         code0: np.ndarray, code1: np.ndarray) -> None:
    """Within each run of equal hashes holding several words, order tokens by (code, position).

    Rare: it needs two distinct words of one profile with equal hash bits.
    """
    runs = np.flatnonzero(new_word)
    bounds = np.append(runs, len(position))
    bad = np.unique(np.searchsorted(runs, np.flatnonzero(differ & ~new_word), side="right") - 1)
    for r in bad.tolist():
        lo, hi = int(bounds[r]), int(bounds[r + 1])
        p = position[lo:hi]
        order = np.lexsort((p, code1[p], code0[p]))
        position[lo:hi] = p[order]


def _query_words(nq: int, q_len: np.ndarray, q_hash: np.ndarray, q_code0: np.ndarray,
                 q_code1: np.ndarray, word_key: np.ndarray, w_code0: np.ndarray,
                 w_code1: np.ndarray, hbits: int) -> np.ndarray:
    """The word index of every query token found in its own profile, in query order.

    ``word_key`` is (profile, hash) per word, sorted; equal keys (collisions) are stepped through.
    """
    n_words = len(word_key)
    if not n_words or not len(q_hash):
        return np.zeros(0, dtype=np.int64)
    q_key = (np.repeat(np.arange(nq, dtype=np.int64), q_len) << hbits) | q_hash
    found = np.searchsorted(word_key, q_key)
    alive = np.arange(len(q_key))
    hit = np.zeros(len(q_key), dtype=bool)
    while len(alive):
        f = found[alive]
        inside = f < n_words
        alive, f = alive[inside], f[inside]
        same_key = word_key[f] == q_key[alive]
        alive, f = alive[same_key], f[same_key]
        same = (w_code0[f] == q_code0[alive]) & (w_code1[f] == q_code1[alive])
        hit[alive[same]] = True
        alive = alive[~same]
        found[alive] += 1
    return found[hit]


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


#: Batches that forked workers inherit instead of receiving them through a pipe, by call.
_INHERITED: dict[int, Sequence[Sequence[Profile]]] = {}


def _rank_inherited(job: tuple[int, int]) -> list[list[int]]:
    call, index = job
    return _rank_lists(_INHERITED[call][index])


def rank_stream(batches: Iterable[Sequence[Profile]], workers: int = 1) -> Iterator[list[list[int]]]:
    """Rank batches of profiles in order, spread over ``workers`` processes when more than one.

    With the ``fork`` start method and batches given as a list or tuple, the workers read the
    batches from the memory they inherit (pickling the texts through a pipe costs the parent
    about a tenth of the ranking work); otherwise each batch is sent to a worker.
    """
    if workers <= 1:
        for batch in batches:
            yield _rank_lists(batch)
        return
    fork = "fork" in mp.get_all_start_methods()
    context = mp.get_context("fork" if fork else "spawn")
    if not (fork and isinstance(batches, (list, tuple))):
        with context.Pool(workers) as pool:
            yield from pool.imap(_rank_lists, batches)
        return
    call = id(batches)
    _INHERITED[call] = batches
    try:
        with context.Pool(workers) as pool:
            yield from pool.imap(_rank_inherited, [(call, i) for i in range(len(batches))])
    finally:
        _INHERITED.pop(call, None)
