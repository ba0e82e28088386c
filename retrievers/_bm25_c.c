/* rank_bm25 0.2.2 BM25Okapi scores at C speed, bit for bit (see retrievers/bm25.py).
 *
 * scores(batch, logs, k1, b, epsilon, out): batch is a sequence of (query, documents) pairs of
 * str; out a writable float64 buffer with one slot per document of the whole batch, filled in
 * order; logs[x] == math.log(x + 0.5) for x up to the largest profile (computed by Python's
 * math.log, so the idfs are the library's to the bit).
 *
 * Tokens are str.split()'s: runs of code points that are not Py_UNICODE_ISSPACE, the very test
 * str.split() makes. Words are compared by code points, so a word is the same word whether its
 * str is stored with 1, 2 or 4 bytes per character. Every float operation is the library's, in
 * its order; build with -ffp-contract=off so that no compiler fuses a multiply and an add.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Interface version, checked by retrievers/bm25.py so that a stale build is never used. */
#define BM25_C_VERSION 1

static unsigned char SPACE1[256];          /* Py_UNICODE_ISSPACE for code points below 256 */
static Py_UCS4 SPACE_LO = 0, SPACE_HI = 0; /* the range holding every space at or above 256 */

static inline int is_space(Py_UCS4 c)
{
    if (c < 256)
        return SPACE1[c];
    return c >= SPACE_LO && c <= SPACE_HI && Py_UNICODE_ISSPACE(c);
}

typedef struct {
    const void *data;   /* the token's first character */
    uint64_t hash;
    Py_ssize_t len;     /* in code points */
    int kind;           /* bytes per character of the str it lies in */
    int32_t df;         /* documents holding the word */
    int32_t last_doc;   /* the last document counted in df */
    int32_t qidx;       /* index among the query's distinct words found in the profile, or -1 */
} Word;

typedef struct {
    Word *words;
    Py_ssize_t n_words, cap_words;
    int32_t *slots;     /* open addressing: word index + 1, 0 when empty */
    Py_ssize_t mask;    /* slots - 1, a power of two minus one */
    int32_t *tok_word;  /* each token's word, in text order */
    Py_ssize_t cap_tok;
    int32_t *doc_len;
    Py_ssize_t cap_doc;
    int32_t *hits;      /* qidx of every query token found in the profile, in query order */
    int32_t *count;     /* per qidx: occurrences in the current document */
    int32_t *touched;
    double *qidf;
    Py_ssize_t cap_hits, cap_count, cap_touched, cap_qidf;
} Work;

static void work_free(Work *w)
{
    free(w->words); free(w->slots); free(w->tok_word); free(w->doc_len);
    free(w->hits); free(w->count); free(w->touched); free(w->qidf);
}

static int grow(void **p, Py_ssize_t *cap, Py_ssize_t need, size_t item)
{
    if (need <= *cap)
        return 0;
    Py_ssize_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, (size_t)n * item);
    if (!q) {
        PyErr_NoMemory();
        return -1;
    }
    *p = q;
    *cap = n;
    return 0;
}

static inline uint64_t mix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return h;
}

static inline Py_UCS4 at(int kind, const void *data, Py_ssize_t i)
{
    return kind == 1 ? ((const Py_UCS1 *)data)[i] : kind == 2 ? ((const Py_UCS2 *)data)[i]
                                                               : ((const Py_UCS4 *)data)[i];
}

static int same_word(const Word *w, int kind, const void *data, Py_ssize_t len)
{
    if (w->len != len)
        return 0;
    if (w->kind == kind)
        return memcmp(w->data, data, (size_t)len * (size_t)kind) == 0;
    for (Py_ssize_t i = 0; i < len; i++)
        if (at(w->kind, w->data, i) != at(kind, data, i))
            return 0;
    return 1;
}

static int rehash(Work *w, Py_ssize_t n_slots)
{
    int32_t *slots = calloc((size_t)n_slots, sizeof(int32_t));
    if (!slots) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t mask = n_slots - 1;
    for (Py_ssize_t i = 0; i < w->n_words; i++) {
        Py_ssize_t s = (Py_ssize_t)(w->words[i].hash & (uint64_t)mask);
        while (slots[s])
            s = (s + 1) & mask;
        slots[s] = (int32_t)(i + 1);
    }
    free(w->slots);
    w->slots = slots;
    w->mask = mask;
    return 0;
}

/* The index of the word, inserted when `insert` (-1 when absent and not inserted; -2 on error). */
static Py_ssize_t find(Work *w, int kind, const void *data, Py_ssize_t len, uint64_t hash, int insert)
{
    Py_ssize_t s = (Py_ssize_t)(hash & (uint64_t)w->mask);
    for (;;) {
        int32_t e = w->slots[s];
        if (!e)
            break;
        Word *x = &w->words[e - 1];
        if (x->hash == hash && same_word(x, kind, data, len))
            return e - 1;
        s = (s + 1) & w->mask;
    }
    if (!insert)
        return -1;
    if (w->n_words >= INT32_MAX - 1) {
        PyErr_SetString(PyExc_OverflowError, "too many distinct words in one profile");
        return -2;
    }
    if (grow((void **)&w->words, &w->cap_words, w->n_words + 1, sizeof(Word)) < 0)
        return -2;
    Py_ssize_t i = w->n_words++;
    Word *x = &w->words[i];
    x->data = data;
    x->hash = hash;
    x->len = len;
    x->kind = kind;
    x->df = 0;
    x->last_doc = -1;
    x->qidx = -1;
    w->slots[s] = (int32_t)(i + 1);
    if (2 * w->n_words > w->mask && rehash(w, 2 * (w->mask + 1)) < 0)
        return -2;
    return i;
}

/* Calls `TOKEN(start, length, hash)` for each token of the str `text` (kind, data, n set). */
#define FOR_TOKENS(TYPE, TOKEN)                                                              \
    do {                                                                                     \
        const TYPE *p_ = (const TYPE *)data;                                                 \
        Py_ssize_t i_ = 0;                                                                   \
        while (i_ < n) {                                                                     \
            while (i_ < n && is_space(p_[i_]))                                               \
                i_++;                                                                        \
            if (i_ >= n)                                                                     \
                break;                                                                       \
            Py_ssize_t s_ = i_;                                                              \
            uint64_t h_ = 0xcbf29ce484222325ULL;                                             \
            while (i_ < n && !is_space(p_[i_])) {                                            \
                h_ = (h_ ^ (uint64_t)p_[i_]) * 0x100000001b3ULL;                             \
                i_++;                                                                        \
            }                                                                                \
            TOKEN((const void *)(p_ + s_), i_ - s_, mix(h_));                                \
        }                                                                                    \
    } while (0)

#define DISPATCH(TOKEN)                                                                      \
    do {                                                                                     \
        if (kind == PyUnicode_1BYTE_KIND)                                                    \
            FOR_TOKENS(Py_UCS1, TOKEN);                                                      \
        else if (kind == PyUnicode_2BYTE_KIND)                                               \
            FOR_TOKENS(Py_UCS2, TOKEN);                                                      \
        else                                                                                 \
            FOR_TOKENS(Py_UCS4, TOKEN);                                                      \
    } while (0)

static int text_of(PyObject *o, const char *what, Py_ssize_t profile, Py_ssize_t index,
                   int *kind, const void **data, Py_ssize_t *n)
{
    if (!PyUnicode_Check(o)) {
        if (index < 0)
            PyErr_Format(PyExc_TypeError, "%s of profile %zd is a %.80s, not a str", what, profile,
                         Py_TYPE(o)->tp_name);
        else
            PyErr_Format(PyExc_TypeError, "%s %zd of profile %zd is a %.80s, not a str", what, index,
                         profile, Py_TYPE(o)->tp_name);
        return -1;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(o) < 0)
        return -1;
#endif
    *kind = PyUnicode_KIND(o);
    *data = PyUnicode_DATA(o);
    *n = PyUnicode_GET_LENGTH(o);
    return 0;
}

/* Scores of one profile into out[0:n_docs]; 0 on success. */
static int profile_scores(Work *w, Py_ssize_t p, PyObject *query, PyObject *const *docs,
                          Py_ssize_t n_docs, const double *logs, Py_ssize_t n_logs, double k1,
                          double b, double epsilon, double *out)
{
    int kind;
    const void *data;
    Py_ssize_t n, n_tok = 0, err = 0;

    if (n_docs == 0)
        return 0;
    if (n_docs >= n_logs) {
        PyErr_SetString(PyExc_ValueError, "logs is shorter than a profile");
        return -1;
    }
    w->n_words = 0;
    if (w->mask + 1 < 1024 || w->mask + 1 > 65536) {
        if (rehash(w, 1024) < 0)
            return -1;
    } else {
        memset(w->slots, 0, (size_t)(w->mask + 1) * sizeof(int32_t));
    }
    if (grow((void **)&w->doc_len, &w->cap_doc, n_docs, sizeof(int32_t)) < 0)
        return -1;

    /* Pass 1: every token's word, each word's document frequency, each document's length. */
    for (Py_ssize_t d = 0; d < n_docs; d++) {
        if (text_of(docs[d], "document", p, d, &kind, &data, &n) < 0)
            return -1;
        Py_ssize_t first = n_tok;
        if (grow((void **)&w->tok_word, &w->cap_tok, n_tok + n / 2 + 1, sizeof(int32_t)) < 0)
            return -1;
#define DOC_TOKEN(START, LEN, HASH)                                                          \
        {                                                                                    \
            Py_ssize_t k_ = find(w, kind, START, LEN, HASH, 1);                              \
            if (k_ < 0) {                                                                    \
                err = 1;                                                                     \
                break;                                                                       \
            }                                                                                \
            Word *x_ = &w->words[k_];                                                        \
            if (x_->last_doc != (int32_t)d) {                                                \
                x_->last_doc = (int32_t)d;                                                   \
                x_->df++;                                                                    \
            }                                                                                \
            w->tok_word[n_tok++] = (int32_t)k_;                                              \
        }
        DISPATCH(DOC_TOKEN);
        if (err)
            return -1;
        if (n_tok - first > INT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "a document has too many tokens");
            return -1;
        }
        w->doc_len[d] = (int32_t)(n_tok - first);
    }
    memset(out, 0, (size_t)n_docs * sizeof(double));
    if (w->n_words == 0)             /* no word at all: BM25Okapi divides by zero; all scores 0 */
        return 0;

    /* The query's tokens found in the profile, in query order, duplicates included. */
    if (text_of(query, "the query", p, -1, &kind, &data, &n) < 0)
        return -1;
    Py_ssize_t most = n / 2 + 1;    /* tokens a query of n characters can hold */
    if (grow((void **)&w->hits, &w->cap_hits, most, sizeof(int32_t)) < 0 ||
        grow((void **)&w->count, &w->cap_count, most, sizeof(int32_t)) < 0 ||
        grow((void **)&w->touched, &w->cap_touched, most, sizeof(int32_t)) < 0 ||
        grow((void **)&w->qidf, &w->cap_qidf, most, sizeof(double)) < 0)
        return -1;
    Py_ssize_t n_hits = 0, n_q = 0;
#define QUERY_TOKEN(START, LEN, HASH)                                                        \
    {                                                                                        \
        Py_ssize_t k_ = find(w, kind, START, LEN, HASH, 0);                                  \
        if (k_ >= 0) {                                                                       \
            Word *x_ = &w->words[k_];                                                        \
            if (x_->qidx < 0) {                                                              \
                x_->qidx = (int32_t)n_q;                                                     \
                w->touched[n_q++] = (int32_t)k_;                                             \
            }                                                                                \
            w->hits[n_hits++] = x_->qidx;                                                    \
        }                                                                                    \
    }
    DISPATCH(QUERY_TOKEN);
    if (n_hits == 0)
        return 0;

    /* idf as the library computes it: every word in order of first appearance. */
    double idf_sum = 0.0;
    for (Py_ssize_t i = 0; i < w->n_words; i++) {
        int32_t df = w->words[i].df;
        idf_sum += logs[n_docs - df] - logs[df];
    }
    double eps = epsilon * (idf_sum / (double)w->n_words);
    for (Py_ssize_t q = 0; q < n_q; q++) {
        int32_t df = w->words[w->touched[q]].df;
        double idf = logs[n_docs - df] - logs[df];
        w->qidf[q] = idf < 0 ? eps : idf;
        w->count[q] = 0;
    }
    double avgdl = (double)n_tok / (double)n_docs;
    double k1p1 = k1 + 1.0, one_b = 1.0 - b;

    /* Pass 2: per document, each query token's term frequency, added in query order. */
    Py_ssize_t t = 0;
    for (Py_ssize_t d = 0; d < n_docs; d++) {
        Py_ssize_t end = t + w->doc_len[d], n_seen = 0;
        for (; t < end; t++) {
            int32_t q = w->words[w->tok_word[t]].qidx;
            if (q >= 0 && w->count[q]++ == 0)
                w->touched[n_seen++] = q;
        }
        if (!n_seen)
            continue;
        double norm = k1 * (one_b + b * (double)w->doc_len[d] / avgdl);
        double score = 0.0;
        for (Py_ssize_t j = 0; j < n_hits; j++) {
            int32_t tf = w->count[w->hits[j]];
            if (tf)
                score += w->qidf[w->hits[j]] * ((double)tf * k1p1 / ((double)tf + norm));
        }
        out[d] = score;
        for (Py_ssize_t j = 0; j < n_seen; j++)
            w->count[w->touched[j]] = 0;
    }
    return 0;
}

static PyObject *scores(PyObject *self, PyObject *args)
{
    PyObject *batch, *fast = NULL;
    Py_buffer logs_buf = {0}, out_buf = {0};
    double k1, b, epsilon;
    Work w = {0};
    PyObject *result = NULL;

    if (!PyArg_ParseTuple(args, "Oy*dddw*", &batch, &logs_buf, &k1, &b, &epsilon, &out_buf))
        return NULL;
    if (logs_buf.len % sizeof(double) || out_buf.len % sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "logs and out must be float64 buffers");
        goto done;
    }
    fast = PySequence_Fast(batch, "batch must be a sequence of (query, documents) pairs");
    if (!fast)
        goto done;
    const double *logs = (const double *)logs_buf.buf;
    Py_ssize_t n_logs = logs_buf.len / (Py_ssize_t)sizeof(double);
    double *out = (double *)out_buf.buf;
    Py_ssize_t n_out = out_buf.len / (Py_ssize_t)sizeof(double), used = 0;
    Py_ssize_t n_prof = PySequence_Fast_GET_SIZE(fast);
    for (Py_ssize_t p = 0; p < n_prof; p++) {
        PyObject *pair = PySequence_Fast(PySequence_Fast_GET_ITEM(fast, p), "a profile must be a (query, documents) pair");
        if (!pair)
            goto done;
        if (PySequence_Fast_GET_SIZE(pair) != 2) {
            PyErr_Format(PyExc_TypeError, "profile %zd is not a (query, documents) pair", p);
            Py_DECREF(pair);
            goto done;
        }
        PyObject *docs = PySequence_Fast(PySequence_Fast_GET_ITEM(pair, 1), "documents must be a sequence");
        if (!docs) {
            Py_DECREF(pair);
            goto done;
        }
        Py_ssize_t n_docs = PySequence_Fast_GET_SIZE(docs);
        int bad = n_docs > n_out - used;
        if (bad)
            PyErr_SetString(PyExc_ValueError, "out is shorter than the batch's documents");
        else
            bad = profile_scores(&w, p, PySequence_Fast_GET_ITEM(pair, 0), PySequence_Fast_ITEMS(docs),
                                 n_docs, logs, n_logs, k1, b, epsilon, out + used) < 0;
        Py_DECREF(docs);
        Py_DECREF(pair);
        if (bad)
            goto done;
        used += n_docs;
    }
    result = PyLong_FromSsize_t(used);
done:
    work_free(&w);
    Py_XDECREF(fast);
    if (logs_buf.obj)
        PyBuffer_Release(&logs_buf);
    if (out_buf.obj)
        PyBuffer_Release(&out_buf);
    return result;
}

static PyMethodDef methods[] = {
    {"scores", scores, METH_VARARGS,
     "scores(batch, logs, k1, b, epsilon, out) -> documents scored: BM25Okapi scores of every "
     "(query, documents) pair, written to the float64 buffer out in order."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_bm25_c", NULL, -1, methods};

PyMODINIT_FUNC PyInit__bm25_c(void)
{
    for (Py_UCS4 c = 0; c < 256; c++)
        SPACE1[c] = (unsigned char)Py_UNICODE_ISSPACE(c);
    for (Py_UCS4 c = 256; c < 0x110000; c++) {
        if (Py_UNICODE_ISSPACE(c)) {
            if (!SPACE_LO)
                SPACE_LO = c;
            SPACE_HI = c;
        }
    }
    if (!SPACE_LO)
        SPACE_LO = 1, SPACE_HI = 0;
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "VERSION", BM25_C_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
