/*
 * Compiled inner loops of the CTC decoders (medocr.decode._kernels).
 *
 * Each function does exactly what its Python reference does, operation for operation,
 * so that the results are bit-identical (tests/test_decode_kernels.py checks it):
 *
 *   prefix_beam  <->  medocr.decode.beam._prefix_beam_python
 *   word_beam    <->  medocr.decode.wordbeam._Search._run_python
 *   align        <->  medocr.decode._common._align_python
 *
 * Arrays come in through the buffer protocol (C-contiguous float64 / int32 numpy arrays),
 * so the module needs no numpy headers. The build is optional (pyproject.toml): without
 * a C compiler medocr runs the Python references.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* log(exp(a) + exp(b)), as medocr.decode._common.lse computes it. */
static double lse(double a, double b) {
    if (a < b) {
        double t = a;
        a = b;
        b = t;
    }
    if (b == -INFINITY) return a;
    return a + log1p(exp(b - a));
}

/* ----- a growable prefix tree: parent, last column, children by (node, column) ---------- */

typedef struct {
    Py_ssize_t *parent;
    int *last;
    Py_ssize_t count, capacity;
    /* open-addressing map (node * columns + column) -> child */
    int64_t *keys;
    Py_ssize_t *values;
    Py_ssize_t slots, used;
    /* per node: the frame it was last scored at, and its slot in that frame */
    Py_ssize_t *seen_at, *slot_of;
} Tree;

static int tree_grow_nodes(Tree *tree) {
    Py_ssize_t capacity = tree->capacity ? tree->capacity * 2 : 1024;
    Py_ssize_t *parent = realloc(tree->parent, capacity * sizeof(Py_ssize_t));
    if (parent) tree->parent = parent;
    int *last = realloc(tree->last, capacity * sizeof(int));
    if (last) tree->last = last;
    Py_ssize_t *seen_at = realloc(tree->seen_at, capacity * sizeof(Py_ssize_t));
    if (seen_at) tree->seen_at = seen_at;
    Py_ssize_t *slot_of = realloc(tree->slot_of, capacity * sizeof(Py_ssize_t));
    if (slot_of) tree->slot_of = slot_of;
    if (!parent || !last || !seen_at || !slot_of) return -1;
    tree->capacity = capacity;
    return 0;
}

static Py_ssize_t tree_add(Tree *tree, Py_ssize_t parent, int column) {
    if (tree->count == tree->capacity && tree_grow_nodes(tree) < 0) return -1;
    Py_ssize_t id = tree->count++;
    tree->parent[id] = parent;
    tree->last[id] = column;
    tree->seen_at[id] = -1;
    tree->slot_of[id] = -1;
    return id;
}

static int tree_grow_map(Tree *tree);

static Py_ssize_t *tree_find(Tree *tree, int64_t key, int insert) {
    if (insert && (tree->used + 1) * 2 > tree->slots && tree_grow_map(tree) < 0) return NULL;
    uint64_t mask = (uint64_t)tree->slots - 1;
    uint64_t at = ((uint64_t)key * 0x9E3779B97F4A7C15ULL) & mask;
    while (tree->keys[at] != -1) {
        if (tree->keys[at] == key) return &tree->values[at];
        at = (at + 1) & mask;
    }
    if (!insert) return NULL;
    tree->keys[at] = key;
    tree->values[at] = -1;
    tree->used++;
    return &tree->values[at];
}

static int tree_grow_map(Tree *tree) {
    Py_ssize_t old_slots = tree->slots;
    int64_t *old_keys = tree->keys;
    Py_ssize_t *old_values = tree->values;
    Py_ssize_t slots = old_slots ? old_slots * 2 : 4096;
    tree->keys = malloc(slots * sizeof(int64_t));
    tree->values = malloc(slots * sizeof(Py_ssize_t));
    if (!tree->keys || !tree->values) {
        free(tree->keys);
        free(tree->values);
        tree->keys = old_keys;
        tree->values = old_values;
        return -1;
    }
    memset(tree->keys, 0xff, slots * sizeof(int64_t)); /* -1: empty */
    tree->slots = slots;
    tree->used = 0;
    for (Py_ssize_t i = 0; i < old_slots; i++) {
        if (old_keys[i] != -1) *tree_find(tree, old_keys[i], 1) = old_values[i];
    }
    free(old_keys);
    free(old_values);
    return 0;
}

static void tree_free(Tree *tree) {
    free(tree->parent);
    free(tree->last);
    free(tree->keys);
    free(tree->values);
    free(tree->seen_at);
    free(tree->slot_of);
}

/* ----- prefix beam search -------------------------------------------------------------- */

typedef struct {
    Py_ssize_t id;
    double pb, pnb;
} Beam;

typedef struct {
    double total;
    Py_ssize_t id;
    double pnb;
} Scored;

/* Python's reverse sort of (total, id, pnb) tuples: the largest first. */
static int scored_descending(const void *x, const void *y) {
    const Scored *a = x, *b = y;
    if (a->total != b->total) return a->total < b->total ? 1 : -1;
    if (a->id != b->id) return a->id < b->id ? 1 : -1;
    if (a->pnb != b->pnb) return a->pnb < b->pnb ? 1 : -1;
    return 0;
}

typedef struct {
    Py_ssize_t *ids;  /* slot -> node, in insertion order (dict order in Python) */
    double *nb, *b;   /* per slot: log P(paths ending in a character / in a blank) */
    char *has_b;
    Py_ssize_t count, capacity;
} Frame;

static int frame_reserve(Frame *frame, Py_ssize_t need) {
    if (need <= frame->capacity) return 0;
    Py_ssize_t capacity = frame->capacity ? frame->capacity : 256;
    while (capacity < need) capacity *= 2;
    Py_ssize_t *ids = realloc(frame->ids, capacity * sizeof(Py_ssize_t));
    if (ids) frame->ids = ids;
    double *nb = realloc(frame->nb, capacity * sizeof(double));
    if (nb) frame->nb = nb;
    double *b = realloc(frame->b, capacity * sizeof(double));
    if (b) frame->b = b;
    char *has_b = realloc(frame->has_b, capacity);
    if (has_b) frame->has_b = has_b;
    if (!ids || !nb || !b || !has_b) return -1;
    frame->capacity = capacity;
    return 0;
}

/* The slot of node `id` at frame `t`, created (nb -inf, no b) on first use. */
static Py_ssize_t frame_slot(Frame *frame, Tree *tree, Py_ssize_t id, Py_ssize_t t, int *fresh) {
    if (tree->seen_at[id] == t) {
        *fresh = 0;
        return tree->slot_of[id];
    }
    if (frame_reserve(frame, frame->count + 1) < 0) return -1;
    Py_ssize_t slot = frame->count++;
    frame->ids[slot] = id;
    frame->nb[slot] = -INFINITY;
    frame->b[slot] = -INFINITY;
    frame->has_b[slot] = 0;
    tree->seen_at[id] = t;
    tree->slot_of[id] = slot;
    *fresh = 1;
    return slot;
}

static int get_buffer(PyObject *obj, Py_buffer *view, const char *format, Py_ssize_t itemsize,
                      const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (view->itemsize != itemsize || strcmp(view->format, format) != 0) {
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous %s array", name,
                     itemsize == 8 ? "float64" : "int32");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *paths_of(Tree *tree, Scored *final, Py_ssize_t n) {
    PyObject *out = PyList_New(n);
    if (!out) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t length = 0;
        for (Py_ssize_t id = final[i].id; id > 0; id = tree->parent[id]) length++;
        PyObject *path = PyList_New(length);
        if (!path) {
            Py_DECREF(out);
            return NULL;
        }
        Py_ssize_t at = length;
        for (Py_ssize_t id = final[i].id; id > 0; id = tree->parent[id]) {
            PyObject *column = PyLong_FromLong(tree->last[id]);
            if (!column) {
                Py_DECREF(path);
                Py_DECREF(out);
                return NULL;
            }
            PyList_SET_ITEM(path, --at, column);
        }
        PyObject *pair = Py_BuildValue("(Nd)", path, final[i].total);
        if (!pair) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, pair);
    }
    return out;
}

/* Offsets rise from 0 to the candidates' count; every candidate is a non-blank column. */
static int candidates_valid(const int *cand, Py_ssize_t n_cand, const int *offsets,
                            Py_ssize_t n_frames, Py_ssize_t blank) {
    if (offsets[0] != 0 || offsets[n_frames] != n_cand) return 0;
    for (Py_ssize_t t = 0; t < n_frames; t++)
        if (offsets[t + 1] < offsets[t]) return 0;
    for (Py_ssize_t i = 0; i < n_cand; i++)
        if (cand[i] < 0 || cand[i] >= blank) return 0;
    return 1;
}

/* The search itself, without the GIL. Returns the number of final beams, -1 when out of
 * memory. `beams` holds beam_width + 1 entries. */
static Py_ssize_t search(const double *rows, Py_ssize_t n_cols, const int *cand,
                         const int *offsets, Py_ssize_t n_frames, Py_ssize_t beam_width,
                         double margin, Tree *tree, Frame *frame, Beam *beams) {
    Scored *scored = NULL;
    Py_ssize_t n_beams = 1, scored_capacity = 0;
    int blank = (int)(n_cols - 1);
    if (tree_grow_map(tree) < 0 || tree_add(tree, -1, blank) < 0) return -1;
    beams[0] = (Beam){0, 0.0, -INFINITY};
    double best = 0.0;
    for (Py_ssize_t t = 0; t < n_frames; t++) {
        const double *row = rows + t * n_cols;
        const int *chars = cand + offsets[t];
        int n_chars = offsets[t + 1] - offsets[t];
        double p_blank = row[blank];
        double floor_ = best + p_blank - margin;
        frame->count = 0;
        for (Py_ssize_t i = 0; i < n_beams; i++) {
            Py_ssize_t id = beams[i].id;
            double pb = beams[i].pb, pnb = beams[i].pnb, ptot;
            if (pb >= pnb)
                ptot = pnb == -INFINITY ? pb : pb + log1p(exp(pnb - pb));
            else
                ptot = pb == -INFINITY ? pnb : pnb + log1p(exp(pb - pnb));
            int c_last = tree->last[id];
            int fresh;
            Py_ssize_t slot = frame_slot(frame, tree, id, t, &fresh);
            if (slot < 0) goto oom;
            frame->b[slot] = ptot + p_blank;
            frame->has_b[slot] = 1;
            double stay = c_last != blank ? pnb + row[c_last] : -INFINITY;
            frame->nb[slot] = fresh ? stay : lse(frame->nb[slot], stay);
            for (int k = 0; k < n_chars; k++) {
                int c = chars[k];
                double score = (c == c_last ? pb : ptot) + row[c];
                if (score < floor_) continue;
                Py_ssize_t *child = tree_find(tree, (int64_t)id * n_cols + c, 1);
                if (!child) goto oom;
                if (*child < 0) { /* tree_add leaves the map, and so `child`, in place */
                    *child = tree_add(tree, id, c);
                    if (*child < 0) goto oom;
                }
                Py_ssize_t to = frame_slot(frame, tree, *child, t, &fresh);
                if (to < 0) goto oom;
                frame->nb[to] = fresh ? score : lse(frame->nb[to], score);
            }
        }
        if (frame->count <= beam_width && n_chars == 0) {
            for (Py_ssize_t s = 0; s < frame->count; s++)
                beams[s] = (Beam){frame->ids[s], frame->has_b[s] ? frame->b[s] : -INFINITY,
                                  frame->nb[s]};
            n_beams = frame->count;
            best += p_blank;
            continue;
        }
        if (frame->count > scored_capacity) {
            Scored *grown = realloc(scored, frame->count * 2 * sizeof(Scored));
            if (!grown) goto oom;
            scored = grown;
            scored_capacity = frame->count * 2;
        }
        for (Py_ssize_t s = 0; s < frame->count; s++) {
            double pnb = frame->nb[s];
            scored[s] = (Scored){frame->has_b[s] ? lse(frame->b[s], pnb) : pnb, frame->ids[s], pnb};
        }
        qsort(scored, frame->count, sizeof(Scored), scored_descending);
        best = scored[0].total;
        double cut = best - margin;
        n_beams = 0;
        for (Py_ssize_t s = 0; s < frame->count && s < beam_width; s++) {
            if (scored[s].total < cut) continue;
            Py_ssize_t id = scored[s].id, slot = tree->slot_of[id];
            beams[n_beams++] = (Beam){id, frame->has_b[slot] ? frame->b[slot] : -INFINITY,
                                      scored[s].pnb};
        }
    }
    free(scored);
    return n_beams;
oom:
    free(scored);
    return -1;
}

static PyObject *prefix_beam(PyObject *self, PyObject *args) {
    PyObject *rows_obj, *cand_obj, *offsets_obj;
    Py_ssize_t n_cols, beam_width;
    double margin;
    if (!PyArg_ParseTuple(args, "OnOOnd", &rows_obj, &n_cols, &cand_obj, &offsets_obj,
                          &beam_width, &margin))
        return NULL;
    Py_buffer rows_view, cand_view, offsets_view;
    if (get_buffer(rows_obj, &rows_view, "d", 8, "rows") < 0) return NULL;
    if (get_buffer(cand_obj, &cand_view, "i", 4, "candidates") < 0) {
        PyBuffer_Release(&rows_view);
        return NULL;
    }
    if (get_buffer(offsets_obj, &offsets_view, "i", 4, "offsets") < 0) {
        PyBuffer_Release(&rows_view);
        PyBuffer_Release(&cand_view);
        return NULL;
    }
    Py_ssize_t n_frames = offsets_view.len / 4 - 1;
    PyObject *result = NULL;
    Tree tree = {0};
    Frame frame = {0};
    Beam *beams = NULL;
    Scored *final = NULL;
    if (n_cols < 1 || beam_width < 1 || n_frames < 1 || rows_view.len / 8 != n_frames * n_cols ||
        !candidates_valid(cand_view.buf, cand_view.len / 4, offsets_view.buf, n_frames,
                          n_cols - 1)) {
        PyErr_SetString(PyExc_ValueError, "prefix_beam: inconsistent shapes or candidates");
        goto done;
    }
    beams = malloc((beam_width + 1) * sizeof(Beam));
    if (!beams) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t n_beams;
    Py_BEGIN_ALLOW_THREADS;
    n_beams = search(rows_view.buf, n_cols, cand_view.buf, offsets_view.buf, n_frames,
                     beam_width, margin, &tree, &frame, beams);
    Py_END_ALLOW_THREADS;
    if (n_beams < 0) {
        PyErr_NoMemory();
        goto done;
    }
    /* the final ranking: (lse(pb, pnb), id), the largest first */
    final = malloc((n_beams ? n_beams : 1) * sizeof(Scored));
    if (!final) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n_beams; i++)
        final[i] = (Scored){lse(beams[i].pb, beams[i].pnb), beams[i].id, 0.0};
    qsort(final, n_beams, sizeof(Scored), scored_descending);
    result = paths_of(&tree, final, n_beams);
done:
    free(final);
    free(beams);
    free(frame.ids);
    free(frame.nb);
    free(frame.b);
    free(frame.has_b);
    tree_free(&tree);
    PyBuffer_Release(&rows_view);
    PyBuffer_Release(&cand_view);
    PyBuffer_Release(&offsets_view);
    return result;
}

/* ----- Viterbi forced alignment ---------------------------------------------------------- */

static PyObject *align(PyObject *self, PyObject *args) {
    PyObject *logp_obj, *labels_obj;
    Py_ssize_t n_classes;
    int blank;
    if (!PyArg_ParseTuple(args, "OnOi", &logp_obj, &n_classes, &labels_obj, &blank)) return NULL;
    Py_buffer logp_view, labels_view;
    if (get_buffer(logp_obj, &logp_view, "d", 8, "logp") < 0) return NULL;
    if (get_buffer(labels_obj, &labels_view, "i", 4, "labels") < 0) {
        PyBuffer_Release(&logp_view);
        return NULL;
    }
    const double *logp = logp_view.buf;
    const int *labels = labels_view.buf;
    Py_ssize_t n_labels = labels_view.len / 4;
    Py_ssize_t n_frames = n_classes > 0 ? logp_view.len / 8 / n_classes : 0;
    Py_ssize_t n_states = 2 * n_labels + 1;
    PyObject *result = NULL;
    int valid = n_classes >= 1 && n_labels >= 1 && blank >= 0 && blank < n_classes;
    for (Py_ssize_t i = 0; valid && i < n_labels; i++)
        valid = labels[i] >= 0 && labels[i] < n_classes;
    if (!valid || n_frames < 1 || logp_view.len / 8 != n_frames * n_classes) {
        PyBuffer_Release(&logp_view);
        PyBuffer_Release(&labels_view);
        PyErr_SetString(PyExc_ValueError, "align: inconsistent shapes or no labels");
        return NULL;
    }
    int *ext = malloc(n_states * sizeof(int));
    char *skip = malloc(n_states);
    double *score = malloc((size_t)n_frames * n_states * sizeof(double));
    Py_ssize_t *spans = malloc(2 * (n_labels ? n_labels : 1) * sizeof(Py_ssize_t));
    if (!ext || !skip || !score || !spans) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t s = 0; s < n_states; s++) {
        ext[s] = s % 2 ? labels[s / 2] : blank;
        skip[s] = s >= 3 && s % 2 && ext[s] != ext[s - 2];
    }
    for (Py_ssize_t s = 0; s < n_states; s++)
        score[s] = s < 2 ? logp[ext[s]] : -INFINITY;
    for (Py_ssize_t t = 1; t < n_frames; t++) {
        const double *prev = score + (t - 1) * n_states, *emit = logp + t * n_classes;
        double *cur = score + t * n_states;
        for (Py_ssize_t s = 0; s < n_states; s++) {
            double value = prev[s];
            double before = s >= 1 ? prev[s - 1] : -INFINITY;
            if (before > value) value = before;
            double jump = s >= 2 ? prev[s - 2] + (skip[s] ? 0.0 : -INFINITY) : -INFINITY;
            if (jump > value) value = jump;
            cur[s] = value + emit[ext[s]];
        }
    }
    const double *last = score + (n_frames - 1) * n_states;
    Py_ssize_t state = last[n_states - 1] >= last[n_states - 2] ? n_states - 1 : n_states - 2;
    if (last[state] == -INFINITY) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    for (Py_ssize_t i = 0; i < n_labels; i++) {
        spans[2 * i] = n_frames;
        spans[2 * i + 1] = 0;
    }
    for (Py_ssize_t t = n_frames - 1; t >= 0; t--) {
        if (state % 2) {
            Py_ssize_t *span = spans + 2 * (state / 2);
            span[0] = t;
            if (span[1] == 0) span[1] = t + 1;
        }
        if (t == 0) break;
        const double *prev = score + (t - 1) * n_states;
        Py_ssize_t best = state;
        double value = prev[state];
        if (state >= 1 && prev[state - 1] > value) {
            best = state - 1;
            value = prev[state - 1];
        }
        if (skip[state] && prev[state - 2] > value) best = state - 2;
        state = best;
    }
    result = PyList_New(n_labels);
    if (!result) goto done;
    for (Py_ssize_t i = 0; i < n_labels; i++) {
        PyObject *pair = Py_BuildValue("(nn)", spans[2 * i], spans[2 * i + 1]);
        if (!pair) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, i, pair);
    }
done:
    free(ext);
    free(skip);
    free(score);
    free(spans);
    PyBuffer_Release(&logp_view);
    PyBuffer_Release(&labels_view);
    return result;
}

/* ----- word beam search ----------------------------------------------------------------
 *
 * The loop of medocr.decode.wordbeam._Search._run_python (with _admit, extend,
 * _finish_word, _complete and _keep_one_that_ends), compiled. The lexicon trie comes as
 * its CSR arrays; the language model stays in Python: `lm_score(context, word)` is called
 * once per pair met (then cached here), and `intern_oov(labels)` names each
 * out-of-vocabulary word the model must score. Word tokens are ints: -1 = no context
 * (start of line), w >= 0 = canonical word w of the trie, <= -3 = an interned OOV word.
 * The final ranking (_final) stays in Python, on the prefix tree this returns.
 */

#define STATE_BETWEEN (-1)
#define STATE_OOV (-2)
#define NO_CONTEXT (-1)

typedef struct {
    Py_ssize_t count, capacity;
    Py_ssize_t *parent;
    int *last, *state, *wlen, *context;
    double *text;
    char *ends;
} Prefixes;

static int prefixes_add(Prefixes *p, Py_ssize_t parent, int last, double text, int state,
                        int wlen, int context, char ends) {
    if (p->count == p->capacity) {
        Py_ssize_t capacity = p->capacity ? p->capacity * 2 : 1024;
#define GROW(field, type)                                                   \
    do {                                                                    \
        type *grown = realloc(p->field, capacity * sizeof(type));           \
        if (!grown) return -1;                                              \
        p->field = grown;                                                   \
    } while (0)
        GROW(parent, Py_ssize_t);
        GROW(last, int);
        GROW(state, int);
        GROW(wlen, int);
        GROW(context, int);
        GROW(text, double);
        GROW(ends, char);
#undef GROW
        p->capacity = capacity;
    }
    Py_ssize_t id = p->count++;
    p->parent[id] = parent;
    p->last[id] = last;
    p->text[id] = text;
    p->state[id] = state;
    p->wlen[id] = wlen;
    p->context[id] = context;
    p->ends[id] = ends;
    return 0;
}

static void prefixes_free(Prefixes *p) {
    free(p->parent);
    free(p->last);
    free(p->state);
    free(p->wlen);
    free(p->context);
    free(p->text);
    free(p->ends);
}

/* (context, word) -> weighted LM score, open addressing */
typedef struct {
    int *ctx, *word;
    double *score;
    char *full;
    Py_ssize_t slots, used;
} LmCache;

static int lm_cache_grow(LmCache *cache) {
    LmCache old = *cache;
    Py_ssize_t slots = old.slots ? old.slots * 2 : 1024;
    cache->ctx = malloc(slots * sizeof(int));
    cache->word = malloc(slots * sizeof(int));
    cache->score = malloc(slots * sizeof(double));
    cache->full = calloc(slots, 1);
    if (!cache->ctx || !cache->word || !cache->score || !cache->full) {
        free(cache->ctx);
        free(cache->word);
        free(cache->score);
        free(cache->full);
        *cache = old;
        return -1;
    }
    cache->slots = slots;
    cache->used = 0;
    for (Py_ssize_t i = 0; i < old.slots; i++) {
        if (!old.full[i]) continue;
        uint64_t mask = (uint64_t)slots - 1;
        uint64_t at = (((uint64_t)(uint32_t)old.ctx[i] << 32 | (uint32_t)old.word[i]) *
                       0x9E3779B97F4A7C15ULL) & mask;
        while (cache->full[at]) at = (at + 1) & mask;
        cache->full[at] = 1;
        cache->ctx[at] = old.ctx[i];
        cache->word[at] = old.word[i];
        cache->score[at] = old.score[i];
        cache->used++;
    }
    free(old.ctx);
    free(old.word);
    free(old.score);
    free(old.full);
    return 0;
}

typedef struct {
    const double *rows;
    Py_ssize_t n_cols;
    const int *cand, *offsets;
    Py_ssize_t n_frames, beam_width;
    double margin;
    const int *label_of;   /* column -> alphabet class */
    const char *is_word;   /* column -> letter of words? */
    const int *first, *edge_label, *edge_child, *word_of; /* the trie (CSR) */
    int has_oov;
    double oov;
    PyObject *lm_score, *intern_oov; /* None when there is no language model */
    Prefixes tree;
    Tree kids;  /* (prefix, column) -> child prefix, -1 = not allowed; uses only its map */
    LmCache cache;
} WordSearch;

/* Weighted LM score of `word` after `context` (medocr's _Search._lm), -INFINITY-safe. */
static int lm(WordSearch *w, int context, int word, double *out) {
    if (w->lm_score == Py_None) {
        *out = 0.0;
        return 0;
    }
    if ((w->cache.used + 1) * 2 > w->cache.slots && lm_cache_grow(&w->cache) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    uint64_t mask = (uint64_t)w->cache.slots - 1;
    uint64_t at = (((uint64_t)(uint32_t)context << 32 | (uint32_t)word) *
                   0x9E3779B97F4A7C15ULL) & mask;
    while (w->cache.full[at]) {
        if (w->cache.ctx[at] == context && w->cache.word[at] == word) {
            *out = w->cache.score[at];
            return 0;
        }
        at = (at + 1) & mask;
    }
    PyObject *value = PyObject_CallFunction(w->lm_score, "ii", context, word);
    if (!value) return -1;
    double score = PyFloat_AsDouble(value);
    Py_DECREF(value);
    if (score == -1.0 && PyErr_Occurred()) return -1;
    w->cache.full[at] = 1;
    w->cache.ctx[at] = context;
    w->cache.word[at] = word;
    w->cache.score[at] = score;
    w->cache.used++;
    *out = score;
    return 0;
}

/* The token of the out-of-vocabulary word that prefix `id` ends with. */
static int oov_token(WordSearch *w, Py_ssize_t id, int *token) {
    int length = w->tree.wlen[id];
    PyObject *labels = PyList_New(length);
    if (!labels) return -1;
    for (int i = length - 1; i >= 0; i--) {
        PyObject *label = PyLong_FromLong(w->label_of[w->tree.last[id]]);
        if (!label) {
            Py_DECREF(labels);
            return -1;
        }
        PyList_SET_ITEM(labels, i, label);
        id = w->tree.parent[id];
    }
    PyObject *value = PyObject_CallFunctionObjArgs(w->intern_oov, labels, NULL);
    Py_DECREF(labels);
    if (!value) return -1;
    long number = PyLong_AsLong(value);
    Py_DECREF(value);
    if (number == -1 && PyErr_Occurred()) return -1;
    *token = (int)number;
    return 0;
}

static int trie_child(const WordSearch *w, int node, int label) {
    for (int e = w->first[node]; e < w->first[node + 1]; e++)
        if (w->edge_label[e] == label) return w->edge_child[e];
    return -1;
}

/* _finish_word: 1 and (text, context) when the current word of `id` can end, 0 when it
 * cannot, -1 on a Python error. */
static int finish_word(WordSearch *w, Py_ssize_t id, double *text_out, int *context_out) {
    int state = w->tree.state[id], context = w->tree.context[id];
    double text = w->tree.text[id], score;
    if (state >= 0) {
        int word = w->word_of[state];
        if (word >= 0) {
            if (lm(w, context, word, &score) < 0) return -1;
            *text_out = text + score;
            *context_out = word;
            return 1;
        }
        if (!w->has_oov) return 0;
        text += w->oov * w->tree.wlen[id];
    } else if (state == STATE_BETWEEN) {
        *text_out = text;
        *context_out = context;
        return 1;
    }
    if (w->lm_score == Py_None) {
        *text_out = text;
        *context_out = NO_CONTEXT;
        return 1;
    }
    int token;
    if (oov_token(w, id, &token) < 0 || lm(w, context, token, &score) < 0) return -1;
    *text_out = text + score;
    *context_out = token;
    return 1;
}

/* extend: 1 and the new prefix's fields when `id` + column `c` is allowed, 0 when not. */
static int extend(WordSearch *w, Py_ssize_t id, int c, double *text, int *state, int *wlen,
                  int *context) {
    int old_state = w->tree.state[id], old_wlen = w->tree.wlen[id];
    *context = w->tree.context[id];
    if (w->is_word[c]) {
        *wlen = old_wlen + 1;
        if (old_state == STATE_OOV) {
            *text = w->tree.text[id] + (w->has_oov ? w->oov : 0.0);
            *state = STATE_OOV;
            return 1;
        }
        int node = trie_child(w, old_state >= 0 ? old_state : 0, w->label_of[c]);
        if (node >= 0) {
            *text = w->tree.text[id];
            *state = node;
            return 1;
        }
        if (!w->has_oov) return 0;
        *text = w->tree.text[id] + w->oov * (old_wlen + 1);
        *state = STATE_OOV;
        return 1;
    }
    int done = finish_word(w, id, text, context);
    if (done <= 0) return done;
    *state = STATE_BETWEEN;
    *wlen = 0;
    return 1;
}

static char completes(const WordSearch *w, int state) {
    return w->has_oov || state < 0 || w->word_of[state] >= 0;
}

typedef struct {
    double bound, score;
    Py_ssize_t id;
    int c;
} Pending;

/* Python's reverse sort of (bound, score, id, c) tuples. */
static int pending_descending(const void *x, const void *y) {
    const Pending *a = x, *b = y;
    if (a->bound != b->bound) return a->bound < b->bound ? 1 : -1;
    if (a->score != b->score) return a->score < b->score ? 1 : -1;
    if (a->id != b->id) return a->id < b->id ? 1 : -1;
    if (a->c != b->c) return a->c < b->c ? 1 : -1;
    return 0;
}

/* A min-heap of doubles (only its minimum is ever read, as in _admit). */
static void heap_push(double *heap, Py_ssize_t *size, double value) {
    Py_ssize_t i = (*size)++;
    while (i > 0) {
        Py_ssize_t up = (i - 1) / 2;
        if (heap[up] <= value) break;
        heap[i] = heap[up];
        i = up;
    }
    heap[i] = value;
}

static void heap_replace_min(double *heap, Py_ssize_t size, double value) {
    Py_ssize_t i = 0;
    for (;;) {
        Py_ssize_t child = 2 * i + 1;
        if (child >= size) break;
        if (child + 1 < size && heap[child + 1] < heap[child]) child++;
        if (heap[child] >= value) break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = value;
}

typedef struct {
    Py_ssize_t id;
    double pb, pnb, ptot;
    int has_ptot;
} WordBeam;

static int scored_reserve(Scored **scored, Py_ssize_t *capacity, Py_ssize_t need) {
    if (need <= *capacity) return 0;
    Py_ssize_t grown_capacity = *capacity ? *capacity : 256;
    while (grown_capacity < need) grown_capacity *= 2;
    Scored *grown = realloc(*scored, grown_capacity * sizeof(Scored));
    if (!grown) return -1;
    *scored = grown;
    *capacity = grown_capacity;
    return 0;
}

/* The frame loop; returns the number of final beams in `beams`, -1 on error (set). */
static Py_ssize_t word_search(WordSearch *w, WordBeam *beams) {
    Py_ssize_t n_beams = 1, n_scored = 0, scored_capacity = 0, pending_capacity = 0;
    Scored *scored = NULL;
    Pending *pending = NULL;
    double *heap = malloc((w->beam_width + 1) * sizeof(double));
    Frame frame = {0};
    Py_ssize_t result = -1;
    int blank = (int)(w->n_cols - 1);
    if (!heap || tree_grow_map(&w->kids) < 0 ||
        prefixes_add(&w->tree, -1, blank, 0.0, STATE_BETWEEN, 0, NO_CONTEXT, 1) < 0 ||
        tree_add(&w->kids, -1, blank) < 0)
        goto oom;
    beams[0] = (WordBeam){0, 0.0, -INFINITY, 0.0, 1};
    for (Py_ssize_t t = 0; t < w->n_frames; t++) {
        const double *row = w->rows + t * w->n_cols;
        const int *chars = w->cand + w->offsets[t];
        int n_chars = w->offsets[t + 1] - w->offsets[t];
        double p_blank = row[blank];
        int fresh;
        frame.count = 0;
        if (n_chars == 0) {
            for (Py_ssize_t i = 0; i < n_beams; i++) {
                WordBeam *b = &beams[i];
                double ptot = b->has_ptot ? b->ptot : lse(b->pb, b->pnb);
                int c_last = w->tree.last[b->id];
                b->pb = ptot + p_blank;
                b->pnb = c_last != blank ? b->pnb + row[c_last] : -INFINITY;
                b->has_ptot = 0;
            }
            continue;
        }
        WordBeam *top = &beams[0];
        double reach = (top->has_ptot ? top->ptot : lse(top->pb, top->pnb)) + p_blank;
        int top_last = w->tree.last[top->id];
        if (top_last != blank && top->pnb + row[top_last] > reach) reach = top->pnb + row[top_last];
        double floor_ = reach + w->tree.text[top->id] - w->margin;
        double top_char = row[chars[0]];
        for (int k = 1; k < n_chars; k++)
            if (row[chars[k]] > top_char) top_char = row[chars[k]];
        Py_ssize_t n_pending = 0;
        for (Py_ssize_t i = 0; i < n_beams; i++) {
            Py_ssize_t id = beams[i].id;
            double pb = beams[i].pb, pnb = beams[i].pnb, ptot = beams[i].ptot;
            if (!beams[i].has_ptot) {
                if (pb >= pnb)
                    ptot = pnb == -INFINITY ? pb : pb + log1p(exp(pnb - pb));
                else
                    ptot = pb == -INFINITY ? pnb : pnb + log1p(exp(pb - pnb));
            }
            Py_ssize_t slot = frame_slot(&frame, &w->kids, id, t, &fresh);
            if (slot < 0) goto oom;
            frame.b[slot] = ptot + p_blank;
            frame.has_b[slot] = 1;
            int c_last = w->tree.last[id];
            double stay = c_last != blank ? pnb + row[c_last] : -INFINITY;
            frame.nb[slot] = fresh ? stay : lse(frame.nb[slot], stay);
            double bound = w->tree.text[id];
            if (ptot + top_char + bound < floor_) continue;
            for (int k = 0; k < n_chars; k++) {
                int c = chars[k];
                double score = (c == c_last ? pb : ptot) + row[c];
                if (score + bound < floor_) continue;
                Py_ssize_t *child = tree_find(&w->kids, (int64_t)id * w->n_cols + c, 0);
                if (!child) {
                    if (n_pending == pending_capacity) {
                        Py_ssize_t capacity = pending_capacity ? pending_capacity * 2 : 256;
                        Pending *grown = realloc(pending, capacity * sizeof(Pending));
                        if (!grown) goto oom;
                        pending = grown;
                        pending_capacity = capacity;
                    }
                    pending[n_pending++] = (Pending){score + bound, score, id, c};
                } else if (*child >= 0) {
                    Py_ssize_t to = frame_slot(&frame, &w->kids, *child, t, &fresh);
                    if (to < 0) goto oom;
                    frame.nb[to] = fresh ? score : lse(frame.nb[to], score);
                }
            }
        }
        if (scored_reserve(&scored, &scored_capacity, frame.count + n_pending) < 0) goto oom;
        n_scored = frame.count;
        for (Py_ssize_t s = 0; s < frame.count; s++) {
            Py_ssize_t id = frame.ids[s];
            double pnb = frame.nb[s];
            double total = (frame.has_b[s] ? lse(frame.b[s], pnb) : pnb) + w->tree.text[id];
            scored[s] = (Scored){total, id, pnb};
        }
        qsort(scored, n_scored, sizeof(Scored), scored_descending);
        if (n_pending) {
            /* _admit: create the new prefixes that enter the beam, best bound first */
            Py_ssize_t heap_size = 0;
            for (Py_ssize_t s = 0; s < n_scored && s < w->beam_width; s++)
                heap_push(heap, &heap_size, scored[s].total);
            int full = heap_size >= w->beam_width;
            double cut = scored[0].total - w->margin;
            qsort(pending, n_pending, sizeof(Pending), pending_descending);
            for (Py_ssize_t i = 0; i < n_pending; i++) {
                Pending *e = &pending[i];
                if (e->bound < cut || (full && e->bound <= heap[0])) break;
                double text;
                int state, wlen, context;
                int allowed = extend(w, e->id, e->c, &text, &state, &wlen, &context);
                if (allowed < 0) goto error;
                int64_t key = (int64_t)e->id * w->n_cols + e->c;
                if (!allowed) { /* remembered as not allowed */
                    Py_ssize_t *entry = tree_find(&w->kids, key, 1);
                    if (!entry) goto oom;
                    *entry = -1;
                    continue;
                }
                double total = e->score + text;
                if (total < cut || (full && total <= heap[0])) continue; /* not created */
                Py_ssize_t child = w->tree.count;
                if (prefixes_add(&w->tree, e->id, e->c, text, state, wlen, context,
                                 completes(w, state)) < 0 ||
                    tree_add(&w->kids, e->id, e->c) < 0)
                    goto oom;
                Py_ssize_t *entry = tree_find(&w->kids, key, 1);
                if (!entry) goto oom;
                *entry = child;
                Py_ssize_t slot = frame_slot(&frame, &w->kids, child, t, &fresh);
                if (slot < 0) goto oom;
                frame.nb[slot] = e->score;
                scored[n_scored++] = (Scored){total, child, e->score};
                if (total - w->margin > cut) cut = total - w->margin;
                if (full) {
                    heap_replace_min(heap, heap_size, total);
                } else {
                    heap_push(heap, &heap_size, total);
                    full = heap_size >= w->beam_width;
                }
            }
            qsort(scored, n_scored, sizeof(Scored), scored_descending);
        }
        double cut = scored[0].total - w->margin;
        n_beams = 0;
        int any_end = 0;
        for (Py_ssize_t s = 0; s < n_scored && s < w->beam_width; s++) {
            if (scored[s].total < cut) continue;
            Py_ssize_t id = scored[s].id, slot = w->kids.slot_of[id];
            beams[n_beams++] = (WordBeam){id, frame.has_b[slot] ? frame.b[slot] : -INFINITY,
                                          scored[s].pnb, scored[s].total - w->tree.text[id], 1};
            any_end |= w->tree.ends[id];
        }
        if (!w->has_oov && !any_end) {
            /* _keep_one_that_ends */
            for (Py_ssize_t s = n_beams; s < n_scored; s++) {
                if (scored[s].total == -INFINITY) break;
                Py_ssize_t id = scored[s].id;
                if (w->tree.ends[id]) {
                    Py_ssize_t slot = w->kids.slot_of[id];
                    beams[n_beams++] = (WordBeam){
                        id, frame.has_b[slot] ? frame.b[slot] : -INFINITY, scored[s].pnb,
                        scored[s].total - w->tree.text[id], 1};
                    break;
                }
            }
        }
    }
    result = n_beams;
    goto done;
oom:
    PyErr_NoMemory();
error:
    result = -1;
done:
    free(heap);
    free(scored);
    free(pending);
    free(frame.ids);
    free(frame.nb);
    free(frame.b);
    free(frame.has_b);
    return result;
}

static PyObject *word_beam(PyObject *self, PyObject *args) {
    PyObject *objects[10], *oov_obj, *lm_score, *intern_oov;
    WordSearch w = {0};
    if (!PyArg_ParseTuple(args, "OnOOndOOOOOOOOO", &objects[0], &w.n_cols, &objects[1],
                          &objects[2], &w.beam_width, &w.margin, &objects[3], &objects[4],
                          &objects[5], &objects[6], &objects[7], &objects[8], &oov_obj,
                          &lm_score, &intern_oov))
        return NULL;
    /* rows, candidates, offsets, label_of, is_word, first, edge_label, edge_child, word_of */
    static const char *formats[] = {"d", "i", "i", "i", "B", "i", "i", "i", "i"};
    static const Py_ssize_t sizes[] = {8, 4, 4, 4, 1, 4, 4, 4, 4};
    static const char *names[] = {"rows", "candidates", "offsets", "label_of", "is_word",
                                  "first", "edge_label", "edge_child", "word_of"};
    Py_buffer views[9];
    int held = 0;
    PyObject *result = NULL;
    WordBeam *beams = NULL;
    for (; held < 9; held++) {
        PyObject *obj = objects[held];
        if (PyObject_GetBuffer(obj, &views[held], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
            goto done;
        if (views[held].itemsize != sizes[held] || strcmp(views[held].format, formats[held])) {
            PyErr_Format(PyExc_TypeError, "word_beam: %s has the wrong dtype", names[held]);
            held++;
            goto done;
        }
    }
    w.rows = views[0].buf;
    w.cand = views[1].buf;
    w.offsets = views[2].buf;
    w.label_of = views[3].buf;
    w.is_word = views[4].buf;
    w.first = views[5].buf;
    w.edge_label = views[6].buf;
    w.edge_child = views[7].buf;
    w.word_of = views[8].buf;
    w.n_frames = views[2].len / 4 - 1;
    Py_ssize_t n_nodes = views[8].len / 4, n_edges = views[7].len / 4;
    int valid = w.n_cols >= 1 && w.beam_width >= 1 && w.n_frames >= 1 &&
                views[0].len / 8 == w.n_frames * w.n_cols && views[3].len / 4 == w.n_cols &&
                views[4].len == w.n_cols && views[5].len / 4 == n_nodes + 1 &&
                views[6].len / 4 == n_edges && n_nodes >= 1 &&
                candidates_valid(w.cand, views[1].len / 4, w.offsets, w.n_frames, w.n_cols - 1);
    for (Py_ssize_t i = 0; valid && i <= n_nodes; i++)
        valid = w.first[i] >= 0 && w.first[i] <= n_edges && (i == 0 || w.first[i] >= w.first[i - 1]);
    for (Py_ssize_t e = 0; valid && e < n_edges; e++)
        valid = w.edge_child[e] > 0 && w.edge_child[e] < n_nodes;
    if (!valid) {
        PyErr_SetString(PyExc_ValueError, "word_beam: inconsistent shapes, candidates or trie");
        goto done;
    }
    w.has_oov = oov_obj != Py_None;
    w.oov = w.has_oov ? PyFloat_AsDouble(oov_obj) : 0.0;
    if (w.has_oov && w.oov == -1.0 && PyErr_Occurred()) goto done;
    if (lm_score != Py_None && (!PyCallable_Check(lm_score) || !PyCallable_Check(intern_oov))) {
        PyErr_SetString(PyExc_TypeError, "word_beam: lm_score and intern_oov must be callable");
        goto done;
    }
    w.lm_score = lm_score;
    w.intern_oov = intern_oov;
    beams = malloc((w.beam_width + 1) * sizeof(WordBeam));
    if (!beams) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t n_beams = word_search(&w, beams);
    if (n_beams < 0) goto done;
    PyObject *final = PyList_New(n_beams);
    if (!final) goto done;
    for (Py_ssize_t i = 0; i < n_beams; i++) {
        PyObject *item = Py_BuildValue("(ndd)", beams[i].id, beams[i].pb, beams[i].pnb);
        if (!item) {
            Py_DECREF(final);
            goto done;
        }
        PyList_SET_ITEM(final, i, item);
    }
    Py_ssize_t n = w.tree.count;
    result = Py_BuildValue(
        "(Ny#y#y#y#y#y#)", final, (char *)w.tree.parent, n * (Py_ssize_t)sizeof(Py_ssize_t),
        (char *)w.tree.last, n * (Py_ssize_t)sizeof(int), (char *)w.tree.text,
        n * (Py_ssize_t)sizeof(double), (char *)w.tree.state, n * (Py_ssize_t)sizeof(int),
        (char *)w.tree.wlen, n * (Py_ssize_t)sizeof(int), (char *)w.tree.context,
        n * (Py_ssize_t)sizeof(int));
done:
    free(beams);
    prefixes_free(&w.tree);
    tree_free(&w.kids);
    free(w.cache.ctx);
    free(w.cache.word);
    free(w.cache.score);
    free(w.cache.full);
    for (int i = 0; i < held; i++) PyBuffer_Release(&views[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"prefix_beam", prefix_beam, METH_VARARGS,
     "prefix_beam(rows, n_cols, candidates, offsets, beam_width, margin) -> "
     "[(columns, log_prob)], best first: medocr.decode.beam's search, compiled."},
    {"align", align, METH_VARARGS,
     "align(logp, n_classes, labels, blank) -> [(start, end)] or None: "
     "medocr.decode._common.align's Viterbi alignment, compiled."},
    {"word_beam", word_beam, METH_VARARGS,
     "word_beam(rows, n_cols, candidates, offsets, beam_width, margin, label_of, is_word, "
     "first, edge_label, edge_child, word_of, oov, lm_score, intern_oov) -> (final beams "
     "[(id, pb, pnb)], then the prefix tree as bytes: parent (ssize_t), last, text (double), "
     "state, wlen, context (int)): medocr.decode.wordbeam's search loop, compiled."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_kernels",
    .m_doc = "Compiled inner loops of the CTC decoders (bit-identical to their Python "
             "references).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
