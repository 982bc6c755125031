/*
 * Compiled inner loops of the CTC decoders (medocr.decode._kernels).
 *
 * Each function does exactly what its Python reference does, operation for operation,
 * so that the results are bit-identical (tests/test_decode_kernels.py checks it):
 *
 *   prefix_beam  <->  medocr.decode.beam._prefix_beam_python
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

static PyMethodDef methods[] = {
    {"prefix_beam", prefix_beam, METH_VARARGS,
     "prefix_beam(rows, n_cols, candidates, offsets, beam_width, margin) -> "
     "[(columns, log_prob)], best first: medocr.decode.beam's search, compiled."},
    {"align", align, METH_VARARGS,
     "align(logp, n_classes, labels, blank) -> [(start, end)] or None: "
     "medocr.decode._common.align's Viterbi alignment, compiled."},
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
