/* The native fast paths of detection scoring (evalserver.scoring.detection_native): the
 * reader of a plain CSV (parse), and one pass of the box matching (box_pass).
 *
 * One pass over the bytes of a plainly valid CSV body: each line is split into its nine
 * fields and each field converted and checked as it is met, straight into the caller's
 * numpy arrays, with the GIL released (the caller parses two parts of a file at once).
 *
 * It words no error and accepts a strict subset of what the streaming reader of
 * detection_csv.py accepts, with the same numbers: on anything else (a byte it does not
 * expect, an unknown id or class, a number it cannot convert exactly, a value out of
 * range, a degenerate box, a blank line) it gives up and the caller reads the same bytes
 * with the next reader, which words every problem. What it accepts:
 *
 *   video_id  1-64 bytes above the space, an exact match of a clip id (UTF-8)
 *   tube_id   1-18 ASCII digits            frame  1-18 ASCII digits, below the clip's frames
 *   class     1-64 bytes above the space, an exact match of a class token (name or id)
 *   score, x1, y1, x2, y2
 *             -?[0-9]+(\.[0-9]+)? with a mantissa of at most 2^53 and at most 22 digits
 *             after the point; score within [0, 1], x2 > x1 and y2 > y1
 *
 * The numbers are computed as the streaming reader's fast path computes them (Clinger's
 * fast path): the digits as an exact integer, divided by an exact power of ten. IEEE
 * division rounds that correctly, so the double is the one Python's float() gives.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELD_CHARS 64
#define MAX_INT_DIGITS 18
#define MAX_MANTISSA (UINT64_C(1) << 53)
#define MAX_SCALE 22

static const double POW10[MAX_SCALE + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Exact byte strings to values by open addressing (a power-of-two table, at most half
 * full): the clip ids or the class tokens of a phase, a few thousand at most. A slot holds
 * what a lookup compares first, so that most lookups read one slot and nothing else: the
 * token's length, its first 8 bytes and its value. */
typedef struct {
    uint64_t head;   /* the token's first 8 bytes (fewer: zeros after them) */
    int32_t length;  /* -1 for an empty slot */
    int32_t index;   /* the token's index among the table's tokens */
} Slot;

typedef struct {
    const char *blob;       /* the tokens, one after the other */
    const int64_t *offsets; /* token k is blob[offsets[k]:offsets[k + 1]] */
    const int64_t *values;  /* its value (NULL: its index) */
    Slot *slots;
    uint64_t mask;
} Table;

/* The first 8 bytes of s[0:n] (fewer: zeros after them), little-endian. */
static inline uint64_t head_bytes(const char *s, Py_ssize_t n) {
    uint64_t head = 0;
    for (Py_ssize_t i = 0; i < n && i < 8; i++) head |= (uint64_t)(unsigned char)s[i] << (8 * i);
    return head;
}

/* 8 bytes from s, in any alignment. */
static inline uint64_t load8(const char *s) {
    uint64_t x;
    memcpy(&x, s, 8);
    return x;
}

/* A few thousand short, distinct ids: the head and the length mixed by one multiplication,
 * the bytes after the eighth (long ids, class names) folded in first, a word at a time
 * (a byte at a time, a long class name's hash was a chain of ~20 multiplications, a
 * fifth of its line's time). A last partial word is read as the token's last 8 bytes,
 * shifted: nothing is read beyond the token. Whatever an attacker sends, a lookup probes
 * at most the table's run of full slots, which the phase's ids bound. */
static inline uint64_t hash_token(const char *s, Py_ssize_t n, uint64_t head) {
    uint64_t tail = 0;
    Py_ssize_t off = 8;
    for (; off + 8 <= n; off += 8) tail = (tail ^ load8(s + off)) * UINT64_C(0xFF51AFD7ED558CCD);
    if (off < n) {
        uint64_t last = load8(s + n - 8) >> (8 * (8 - (n - off)));
        tail = (tail ^ last) * UINT64_C(0xFF51AFD7ED558CCD);
    }
    uint64_t h = (head ^ (tail * UINT64_C(0xC2B2AE3D27D4EB4F)) ^ (uint64_t)n) *
                 UINT64_C(0x9E3779B97F4A7C15);
    return h ^ (h >> 32);
}

/* The bytes after the eighth of two tokens of n bytes, a word at a time. */
static inline int same_tail(const char *a, const char *b, Py_ssize_t n) {
    Py_ssize_t off = 8;
    for (; off + 8 <= n; off += 8)
        if (load8(a + off) != load8(b + off)) return 0;
    return off == n || load8(a + n - 8) == load8(b + n - 8);
}

static inline int same_token(const Table *t, const Slot *slot, const char *s, Py_ssize_t n,
                             uint64_t head) {
    if (slot->length != n || slot->head != head) return 0;
    /* Equal heads are equal first 8 bytes: only longer tokens have more to compare. */
    return n <= 8 || same_tail(t->blob + t->offsets[slot->index], s, n);
}

static int table_init(Table *t, const char *blob, const int64_t *offsets, Py_ssize_t count,
                      const int64_t *values) {
    uint64_t size = 16;
    while (size < (uint64_t)count * 2) size <<= 1;
    t->blob = blob;
    t->offsets = offsets;
    t->values = values;
    t->mask = size - 1;
    t->slots = malloc(size * sizeof(Slot));
    if (!t->slots || count >= INT32_MAX) return -1;
    for (uint64_t k = 0; k < size; k++) t->slots[k].length = -1;
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t n = (Py_ssize_t)(offsets[k + 1] - offsets[k]);
        const char *s = blob + offsets[k];
        if (n > MAX_FIELD_CHARS) continue; /* no field could name it */
        uint64_t head = head_bytes(s, n);
        uint64_t at = hash_token(s, n, head) & t->mask;
        for (;;) {
            Slot *slot = &t->slots[at];
            if (slot->length < 0) {
                *slot = (Slot){.head = head, .length = (int32_t)n, .index = (int32_t)k};
                break;
            }
            /* An equal token already there keeps its place (the first one wins). */
            if (same_token(t, slot, s, n, head)) break;
            at = (at + 1) & t->mask;
        }
    }
    return 0;
}

/* The value of the token s[0:n], or -1 if it is not in the table. */
static inline int64_t table_find(const Table *t, const char *s, Py_ssize_t n) {
    uint64_t head = head_bytes(s, n);
    uint64_t at = hash_token(s, n, head) & t->mask;
    for (;;) {
        const Slot *slot = &t->slots[at];
        if (slot->length < 0) return -1;
        if (same_token(t, slot, s, n, head)) return t->values ? t->values[slot->index] : slot->index;
        at = (at + 1) & t->mask;
    }
}

/* The loops below test no bound: the part ends in a newline, or is followed by a
 * sentinel, a byte that is neither a digit, a point, a minus, a comma nor a token's byte
 * (parse() checks that it is a newline or a bytes object's closing NUL, or gives up).
 * Every loop stops at either, so a line cut short by the end of the part fails its next
 * delimiter check. A bound check per byte was a third of the branches of the parse. */

/* A field ends at its delimiter; at the end of the part, a line's last field also ends
 * without one (the last line has no newline). p moves past it; 0, or -1 otherwise. */
static inline int field_end(const char **p, const char *q, const char *end, char delimiter) {
    if (*q == delimiter) {
        *p = q + 1;
        return 0;
    }
    if (delimiter == '\n' && q == end) {
        *p = q;
        return 0;
    }
    return -1;
}

/* A token ends at the comma; p moves past it. Returns its length, or -1 if it is empty,
 * too long, ends the line or the part, or holds a byte at or below the space (controls,
 * NUL, carriage return, tab, space). */
static inline Py_ssize_t token(const char **p, const char *end) {
    const char *s = *p;
    const char *q = s;
    while (*q != ',' && (unsigned char)*q > ' ') q++;
    Py_ssize_t n = q - s;
    if (*q != ',' || n == 0 || n > MAX_FIELD_CHARS) return -1;
    *p = q + 1;
    return n;
}

/* 1-18 ASCII digits ending at the delimiter; -1 otherwise. */
static inline int64_t uint_field(const char **p, const char *end, char delimiter) {
    const char *q = *p;
    uint64_t v = 0; /* wraps on a long run of digits, which is then refused */
    while ((unsigned)(*q - '0') < 10) v = v * 10 + (uint64_t)(*q++ - '0');
    Py_ssize_t digits = q - *p;
    if (digits == 0 || digits > MAX_INT_DIGITS || field_end(p, q, end, delimiter)) return -1;
    return (int64_t)v;
}

/* The digits of [s, q) (a point among them skipped) as an integer, if at most 2^53. */
static int exact_mantissa(const char *s, const char *q, uint64_t *m) {
    uint64_t v = 0;
    for (; s < q; s++) {
        if (*s == '.') continue;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > MAX_MANTISSA) return -1; /* long before v could wrap around */
    }
    *m = v;
    return 0;
}

/* A number of the accepted form ending at the delimiter, into *out; 0, or -1 otherwise. */
static inline int float_field(const char **p, const char *end, char delimiter, double *out) {
    const char *q = *p;
    int negative = *q == '-';
    q += negative;
    const char *digits = q;
    uint64_t m = 0; /* exact for up to 19 digits; more are added again with a check */
    while ((unsigned)(*q - '0') < 10) m = m * 10 + (uint64_t)(*q++ - '0');
    Py_ssize_t n_digits = q - digits, scale = 0;
    if (n_digits == 0) return -1;
    if (*q == '.') {
        const char *point = ++q;
        while ((unsigned)(*q - '0') < 10) m = m * 10 + (uint64_t)(*q++ - '0');
        scale = q - point;
        if (scale == 0 || scale > MAX_SCALE) return -1;
        n_digits += scale;
    }
    /* Leading zeros could make it long: the streaming reader refuses a field that is. */
    if (q - *p > MAX_FIELD_CHARS) return -1;
    if (n_digits > 19 && exact_mantissa(digits, q, &m)) return -1;
    if (m > MAX_MANTISSA || field_end(p, q, end, delimiter)) return -1;
    double v = (double)m;
    if (scale) v /= POW10[scale];
    *out = negative ? -v : v;
    return 0;
}

typedef struct {
    int64_t *clip, *tube_id, *frame, *cls;
    double *score, *x1, *y1, *x2, *y2;
} Columns;

/* Parse the lines of data[0:size] (no newline after the last) into rows from `row` on,
 * at most `capacity` of them. Returns the number of rows, or -1 to give up. */
static Py_ssize_t parse_lines(const char *data, Py_ssize_t size, const Table *clips,
                              const int64_t *clip_frames, const Table *classes,
                              const Columns *out, Py_ssize_t row, Py_ssize_t capacity) {
    const char *p = data;
    const char *end = data + size;
    Py_ssize_t first = row;
    if (size == 0) return 0;
    for (;;) {
        if (row - first >= capacity) return -1;
        const char *s = p;
        Py_ssize_t n = token(&p, end);
        if (n < 0) return -1;
        int64_t clip = table_find(clips, s, n);
        if (clip < 0) return -1;
        int64_t tube_id = uint_field(&p, end, ',');
        if (tube_id < 0) return -1;
        int64_t frame = uint_field(&p, end, ',');
        if (frame < 0 || frame >= clip_frames[clip]) return -1;
        s = p;
        n = token(&p, end);
        if (n < 0) return -1;
        int64_t cls = table_find(classes, s, n);
        if (cls < 0) return -1;
        double score, x1, y1, x2, y2;
        if (float_field(&p, end, ',', &score) || float_field(&p, end, ',', &x1) ||
            float_field(&p, end, ',', &y1) || float_field(&p, end, ',', &x2))
            return -1;
        /* The last field ends the line: at its newline, or at the end of the part. */
        if (float_field(&p, end, '\n', &y2)) return -1;
        if (!(score >= 0.0 && score <= 1.0) || !(x2 > x1) || !(y2 > y1)) return -1;
        out->clip[row] = clip;
        out->tube_id[row] = tube_id;
        out->frame[row] = frame;
        out->cls[row] = cls;
        out->score[row] = score;
        out->x1[row] = x1;
        out->y1[row] = y1;
        out->x2[row] = x2;
        out->y2[row] = y2;
        row++;
        /* The end of the part, after its last line's newline or without one. */
        if (p >= end) return row - first;
    }
}

/* Buffers of the arguments, released together. */
typedef struct {
    Py_buffer views[16];
    int count;
} Views;

/* The kinds of buffer taken: bytes, int64 or float64 items. */
enum { BYTES, INT64, FLOAT64 };

static int get_view(Views *v, PyObject *obj, int writable, int kind, const char *what) {
    Py_buffer *view = &v->views[v->count];
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    v->count++;
    if (kind == BYTES) return 0;
    /* numpy's int64 is 'l' here (or 'q'), float64 'd'; a native-order prefix may come. */
    const char *format = view->format ? view->format : "B";
    if (*format == '@' || *format == '=' || *format == '<') format++;
    int ok = view->itemsize == 8 &&
             (kind == INT64 ? strcmp(format, "l") == 0 || strcmp(format, "q") == 0
                            : strcmp(format, "d") == 0);
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "%s: a buffer of %s expected", what,
                     kind == INT64 ? "int64" : "float64");
        return -1;
    }
    return 0;
}

static void release_views(Views *v) {
    for (int k = 0; k < v->count; k++) PyBuffer_Release(&v->views[k]);
    v->count = 0;
}

PyDoc_STRVAR(count_lines_doc,
             "count_lines(data, start, end) -> the number of newlines in data[start:end]");

static PyObject *count_lines(PyObject *self, PyObject *args) {
    PyObject *data;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "Onn", &data, &start, &end)) return NULL;
    Views v = {.count = 0};
    if (get_view(&v, data, 0, BYTES, "data") < 0) {
        release_views(&v);
        return NULL;
    }
    if (start < 0 || end < start || end > v.views[0].len) {
        release_views(&v);
        PyErr_SetString(PyExc_ValueError, "start and end must lie within data");
        return NULL;
    }
    const char *s = (const char *)v.views[0].buf + start;
    Py_ssize_t n = end - start, count = 0;
    Py_BEGIN_ALLOW_THREADS
    /* In blocks of 255 bytes, whose count fits a byte: the compiler then compares and
     * adds 16 or 32 bytes at a time, where a count as wide as the result widened each
     * byte to 64 bits first (2.5 ms for 14 MB; now a fifth of that). */
    Py_ssize_t i = 0;
    for (; n - i >= 255; i += 255) {
        uint8_t block = 0;
        for (int j = 0; j < 255; j++) block += s[i + j] == '\n';
        count += block;
    }
    for (; i < n; i++) count += s[i] == '\n';
    Py_END_ALLOW_THREADS
    release_views(&v);
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(parse_doc,
             "parse(data, start, end, clip_blob, clip_offsets, clip_frames, class_blob,\n"
             "      class_offsets, class_values, clip, tube_id, frame, cls, score, box, row,\n"
             "      row_end)\n"
             "\n"
             "Parse the lines of data[start:end] (no newline after the last) into the arrays\n"
             "at indexes row..row_end - 1 (box: (4, n) float64, written in its rows). Returns\n"
             "the number of rows parsed, or -1 if some line is not plainly valid or there are\n"
             "more lines than that room.");

static PyObject *parse(PyObject *self, PyObject *args) {
    PyObject *data, *clip_blob, *clip_offsets, *clip_frames, *class_blob, *class_offsets,
        *class_values, *o_clip, *o_tube, *o_frame, *o_cls, *o_score, *o_box;
    Py_ssize_t start, end, row, row_end;
    if (!PyArg_ParseTuple(args, "OnnOOOOOOOOOOOOnn", &data, &start, &end, &clip_blob,
                          &clip_offsets, &clip_frames, &class_blob, &class_offsets,
                          &class_values, &o_clip, &o_tube, &o_frame, &o_cls, &o_score, &o_box,
                          &row, &row_end))
        return NULL;
    Views v = {.count = 0};
    Py_ssize_t result = -1;
    Table clips = {.slots = NULL}, classes = {.slots = NULL};
    if (get_view(&v, data, 0, BYTES, "data") < 0 ||
        get_view(&v, clip_blob, 0, BYTES, "clip_blob") < 0 ||
        get_view(&v, clip_offsets, 0, INT64, "clip_offsets") < 0 ||
        get_view(&v, clip_frames, 0, INT64, "clip_frames") < 0 ||
        get_view(&v, class_blob, 0, BYTES, "class_blob") < 0 ||
        get_view(&v, class_offsets, 0, INT64, "class_offsets") < 0 ||
        get_view(&v, class_values, 0, INT64, "class_values") < 0 ||
        get_view(&v, o_clip, 1, INT64, "clip") < 0 || get_view(&v, o_tube, 1, INT64, "tube_id") < 0 ||
        get_view(&v, o_frame, 1, INT64, "frame") < 0 || get_view(&v, o_cls, 1, INT64, "cls") < 0 ||
        get_view(&v, o_score, 1, FLOAT64, "score") < 0 || get_view(&v, o_box, 1, FLOAT64, "box") < 0)
        goto done;
    Py_buffer *b = v.views;
    Py_ssize_t n_rows = b[7].len / 8;
    Py_ssize_t n_clips = b[2].len / 8 - 1, n_tokens = b[5].len / 8 - 1;
    if (start < 0 || end < start || end > b[0].len || row < 0 || row_end < row ||
        row_end > n_rows ||
        n_clips < 0 || b[3].len / 8 != n_clips || n_tokens < 0 || b[6].len / 8 != n_tokens ||
        b[8].len / 8 != n_rows || b[9].len / 8 != n_rows || b[10].len / 8 != n_rows ||
        b[11].len / 8 != n_rows || b[12].len / 8 != 4 * n_rows) {
        PyErr_SetString(PyExc_ValueError, "inconsistent arguments");
        goto done;
    }
    const int64_t *co = b[2].buf, *ko = b[5].buf;
    double *box = b[12].buf;
    Columns out = {
        .clip = b[7].buf, .tube_id = b[8].buf, .frame = b[9].buf, .cls = b[10].buf,
        .score = b[11].buf, .x1 = box, .y1 = box + n_rows, .x2 = box + 2 * n_rows,
        .y2 = box + 3 * n_rows,
    };
    const int64_t *frames = b[3].buf;
    /* The loops' sentinel: the part ends in a newline, which stops them all, or is
     * followed by one, or by the NUL that closes every bytes object. */
    const char *text = b[0].buf;
    int bounded = (end > start && text[end - 1] == '\n') ||
                  (end < b[0].len ? text[end] == '\n' || text[end] == '\0'
                                  : PyBytes_Check(data));
    Py_ssize_t blob_len = b[1].len, class_blob_len = b[4].len;
    int failed = 0; /* 1: offsets out of order, 2: no memory */
    /* The tables too are built without the GIL: the threads parsing the other parts of
     * the file build theirs at the same time (they queued for it, one after the other,
     * and the second part started ~1.5 ms after the first). */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < n_clips && !failed; k++)
        if (co[k] < 0 || co[k + 1] < co[k] || co[k + 1] > blob_len) failed = 1;
    for (Py_ssize_t k = 0; k < n_tokens && !failed; k++)
        if (ko[k] < 0 || ko[k + 1] < ko[k] || ko[k + 1] > class_blob_len) failed = 1;
    if (!failed && (table_init(&clips, b[1].buf, co, n_clips, NULL) < 0 ||
                    table_init(&classes, b[4].buf, ko, n_tokens, b[6].buf) < 0))
        failed = 2;
    if (!failed && bounded)
        result = parse_lines(text + start, end - start, &clips, frames, &classes, &out, row,
                             row_end - row);
    Py_END_ALLOW_THREADS
    free(clips.slots);
    free(classes.slots);
    release_views(&v);
    if (failed == 1) {
        PyErr_SetString(PyExc_ValueError, "token offsets out of order or out of their blob");
        return NULL;
    }
    if (failed == 2) return PyErr_NoMemory();
    return PyLong_FromSsize_t(result);
done:
    free(clips.slots);
    free(classes.slots);
    release_views(&v);
    return NULL;
}

PyDoc_STRVAR(box_pass_doc,
             "box_pass(rows, row_tube, row_frame, j_start, j_end, j_base, boxes, row_box,\n"
             "         row_best, row_target, hit, iou) -> the number of hits\n"
             "\n"
             "detection_metrics._box_pass in one loop: each of `rows` (file rows) whose frame\n"
             "lies within its tube's span [j_start, j_end] meets ground-truth box\n"
             "j_base[tube] + frame of `boxes` ((n, 4) float64); the row and the IoU go to hit\n"
             "and iou (in the order of `rows`), and row_best/row_target keep each row's best\n"
             "IoU and box so far (strictly better only). The IoU's float operations are\n"
             "box_iou's, in its order (the module is built without contracting them into\n"
             "fused multiply-adds), so its bits are box_iou's.");

static PyObject *box_pass(PyObject *self, PyObject *args) {
    PyObject *o[12];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6],
                          &o[7], &o[8], &o[9], &o[10], &o[11]))
        return NULL;
    static const int kinds[12] = {INT64, INT64, INT64, INT64, INT64, INT64,
                                  FLOAT64, FLOAT64, FLOAT64, INT64, INT64, FLOAT64};
    static const char *names[12] = {"rows", "row_tube", "row_frame", "j_start", "j_end", "j_base",
                                    "boxes", "row_box", "row_best", "row_target", "hit", "iou"};
    Views v = {.count = 0};
    for (int k = 0; k < 12; k++) {
        if (get_view(&v, o[k], k >= 8, kinds[k], names[k]) < 0) {
            release_views(&v);
            return NULL;
        }
    }
    Py_buffer *b = v.views;
    Py_ssize_t n = b[0].len / 8, n_rows = b[1].len / 8, n_tubes = b[3].len / 8;
    Py_ssize_t n_boxes = b[6].len / 32;
    if (b[2].len / 8 != n_rows || b[4].len / 8 != n_tubes || b[5].len / 8 != n_tubes ||
        b[6].len % 32 != 0 || b[7].len / 8 != 4 * n_rows || b[8].len / 8 != n_rows ||
        b[9].len / 8 != n_rows || b[10].len / 8 < n || b[11].len / 8 < n) {
        release_views(&v);
        PyErr_SetString(PyExc_ValueError, "inconsistent arguments");
        return NULL;
    }
    const int64_t *rows = b[0].buf, *row_tube = b[1].buf, *row_frame = b[2].buf;
    const int64_t *j_start = b[3].buf, *j_end = b[4].buf, *j_base = b[5].buf;
    const double *boxes = b[6].buf, *row_box = b[7].buf;
    double *row_best = b[8].buf, *out_iou = b[11].buf;
    int64_t *row_target = b[9].buf, *out_hit = b[10].buf;
    Py_ssize_t hits = 0;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    const double *ax1 = row_box, *ay1 = row_box + n_rows, *ax2 = row_box + 2 * n_rows,
                 *ay2 = row_box + 3 * n_rows;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t r = rows[i];
        if (r < 0 || r >= n_rows) {
            bad = 1;
            break;
        }
        int64_t t = row_tube[r], f = row_frame[r];
        if (t < 0 || t >= n_tubes) {
            bad = 1;
            break;
        }
        if (!(j_start[t] <= f && f <= j_end[t])) continue;
        int64_t g = j_base[t] + f;
        if (g < 0 || g >= n_boxes) {
            bad = 1;
            break;
        }
        const double *gb = boxes + 4 * g;
        /* box_iou, operation for operation. */
        double iw = (ax2[r] < gb[2] ? ax2[r] : gb[2]) - (ax1[r] > gb[0] ? ax1[r] : gb[0]);
        iw = iw > 0.0 ? iw : 0.0;
        double ih = (ay2[r] < gb[3] ? ay2[r] : gb[3]) - (ay1[r] > gb[1] ? ay1[r] : gb[1]);
        ih = ih > 0.0 ? ih : 0.0;
        double inter = iw * ih;
        double union_ = (ax2[r] - ax1[r]) * (ay2[r] - ay1[r]);
        double area_b = (gb[2] - gb[0]) * (gb[3] - gb[1]);
        union_ += area_b;
        union_ -= inter;
        double iou = inter / union_;
        out_hit[hits] = r;
        out_iou[hits] = iou;
        hits++;
        if (iou > row_best[r]) {
            row_best[r] = iou;
            row_target[r] = g;
        }
    }
    Py_END_ALLOW_THREADS
    release_views(&v);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "a row, tube or box index out of range");
        return NULL;
    }
    return PyLong_FromSsize_t(hits);
}

PyDoc_STRVAR(group_doc,
             "group(clip, tube_id, cls, frame, score, n_clips, n_classes, span, max_table,\n"
             "      max_slots,\n"
             "      row_tube, tube_clip, tube_class, fmin, fmax, first, n_rows, score_sum,\n"
             "      order) -> the number of tubes, or -1\n"
             "\n"
             "detection_metrics.group_tubes's counting path in a few loops: tubes numbered by\n"
             "(clip, tube_id, class) ascending, each tube's frame span, first file row, rows\n"
             "and score sum (added in file order, as bincount adds), and the rows by (tube,\n"
             "frame) through a table of each tube's span. Per-tube outputs need room for one\n"
             "tube a row. -1 (outputs undefined) when a numbering table would be bigger than\n"
             "max_table, the spans' slots more than max_slots, or two rows share a (tube,\n"
             "frame): numpy's path takes over.");

static PyObject *group(PyObject *self, PyObject *args) {
    PyObject *o[14];
    Py_ssize_t n_clips, n_classes, span, max_table, max_slots;
    if (!PyArg_ParseTuple(args, "OOOOOnnnnnOOOOOOOOO", &o[0], &o[1], &o[2], &o[3], &o[4],
                          &n_clips, &n_classes, &span, &max_table, &max_slots, &o[5], &o[6],
                          &o[7], &o[8], &o[9], &o[10], &o[11], &o[12], &o[13]))
        return NULL;
    static const int kinds[14] = {INT64, INT64, INT64, INT64, FLOAT64, INT64, INT64,
                                  INT64, INT64, INT64, INT64, INT64, FLOAT64, INT64};
    static const char *names[14] = {"clip", "tube_id", "cls", "frame", "score", "row_tube",
                                    "tube_clip", "tube_class", "fmin", "fmax", "first",
                                    "n_rows", "score_sum", "order"};
    Views v = {.count = 0};
    for (int k = 0; k < 14; k++) {
        if (get_view(&v, o[k], k >= 5, kinds[k], names[k]) < 0) {
            release_views(&v);
            return NULL;
        }
    }
    Py_buffer *b = v.views;
    Py_ssize_t n = b[0].len / 8;
    int consistent = n_clips >= 0 && n_classes > 0 && span > 0 && max_table >= 0 && max_slots >= 0;
    for (int k = 1; k < 14; k++) consistent &= b[k].len / 8 == n;
    /* Tables of 32-bit numbers: a row count beyond them goes to numpy. */
    if (!consistent || n >= INT32_MAX || max_table >= INT32_MAX ||
        (n_clips > 0 && span > max_table / n_clips)) {
        release_views(&v);
        if (consistent) return PyLong_FromLong(-1);
        PyErr_SetString(PyExc_ValueError, "inconsistent arguments");
        return NULL;
    }
    const int64_t *clip = b[0].buf, *tube_id = b[1].buf, *cls = b[2].buf, *frame = b[3].buf;
    const double *score = b[4].buf;
    int64_t *row_tube = b[5].buf, *tube_clip = b[6].buf, *tube_class = b[7].buf;
    int64_t *fmin = b[8].buf, *fmax = b[9].buf, *first = b[10].buf, *n_rows = b[11].buf;
    double *score_sum = b[12].buf;
    int64_t *order = b[13].buf;
    Py_ssize_t n_tubes = -1;
    int bad = 0;
    int32_t *pair_table = NULL, *tube_table = NULL;
    int64_t *pairs = NULL, *slot_row = NULL;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t n_pair_slots = n_clips * span;
    pair_table = calloc(n_pair_slots ? n_pair_slots : 1, sizeof(int32_t));
    pairs = malloc((n ? n : 1) * sizeof(int64_t));
    if (!pair_table || !pairs) goto out;
    /* The (clip, tube_id) pairs present, numbered in ascending order. */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (clip[i] < 0 || clip[i] >= n_clips || tube_id[i] < 0 || tube_id[i] >= span ||
            cls[i] < 0 || cls[i] >= n_classes || frame[i] < 0) {
            bad = 1;
            goto out;
        }
        pair_table[clip[i] * span + tube_id[i]] = 1;
    }
    Py_ssize_t n_pairs = 0;
    for (Py_ssize_t k = 0; k < n_pair_slots; k++) {
        if (pair_table[k]) {
            pairs[n_pairs] = k;
            pair_table[k] = (int32_t)n_pairs++;
        }
    }
    if (n_pairs > 0 && n_classes > max_table / n_pairs) goto out;
    /* Then (pair, class), numbered likewise: the tubes. */
    Py_ssize_t n_tube_slots = n_pairs * n_classes;
    tube_table = calloc(n_tube_slots ? n_tube_slots : 1, sizeof(int32_t));
    if (!tube_table) goto out;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t key = pair_table[clip[i] * span + tube_id[i]] * n_classes + cls[i];
        tube_table[key] = 1;
        row_tube[i] = key; /* for now */
    }
    Py_ssize_t t = 0;
    for (Py_ssize_t k = 0; k < n_tube_slots; k++) {
        if (tube_table[k]) {
            tube_clip[t] = pairs[k / n_classes] / span;
            tube_class[t] = k % n_classes;
            fmin[t] = INT64_MAX;
            fmax[t] = -1;
            first[t] = n;
            n_rows[t] = 0;
            score_sum[t] = 0.0;
            tube_table[k] = (int32_t)t++;
        }
    }
    Py_ssize_t found = t;
    /* Each tube's span, first row, rows and score sum (in file order). */
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t tube = tube_table[row_tube[i]];
        row_tube[i] = tube;
        if (frame[i] < fmin[tube]) fmin[tube] = frame[i];
        if (frame[i] > fmax[tube]) fmax[tube] = frame[i];
        if (i < first[tube]) first[tube] = i;
        n_rows[tube]++;
        score_sum[tube] += score[i];
    }
    /* Rows by (tube, frame): a slot for every frame of every tube's span, when they fit. */
    Py_ssize_t n_slots = 0;
    for (Py_ssize_t k = 0; k < found; k++) {
        n_slots += fmax[k] - fmin[k] + 1;
        if (n_slots > max_slots) goto out;
    }
    slot_row = malloc((n_slots ? n_slots : 1) * sizeof(int64_t));
    if (!slot_row) goto out;
    for (Py_ssize_t k = 0; k < n_slots; k++) slot_row[k] = -1;
    /* Where each tube's slots start, less its first frame (kept in `pairs`, free now). */
    int64_t at = 0;
    for (Py_ssize_t k = 0; k < found; k++) {
        pairs[k] = at - fmin[k];
        at += fmax[k] - fmin[k] + 1;
    }
    for (Py_ssize_t i = 0; i < n; i++) slot_row[pairs[row_tube[i]] + frame[i]] = i;
    Py_ssize_t m = 0;
    for (Py_ssize_t k = 0; k < n_slots; k++)
        if (slot_row[k] >= 0) order[m++] = slot_row[k];
    if (m == n) n_tubes = found; /* else two rows share a (tube, frame) */
out:
    free(pair_table);
    free(pairs);
    free(tube_table);
    free(slot_row);
    Py_END_ALLOW_THREADS
    release_views(&v);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "a clip, tube id, class or frame out of range");
        return NULL;
    }
    return PyLong_FromSsize_t(n_tubes);
}

static int descending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

PyDoc_STRVAR(rank_doc,
             "rank(classes, scores, n_classes, max_keys, out) -> 0, or -1\n"
             "\n"
             "detection_metrics._rank without a tie order: the items by class, then score\n"
             "descending, then their own order (-0.0 and 0.0 tie), into `out`, as a counting\n"
             "sort over (class, rank of the score among the distinct scores). -1 (out\n"
             "undefined) when that key would take more than max_keys values: numpy sorts.");

static PyObject *rank(PyObject *self, PyObject *args) {
    PyObject *o_classes, *o_scores, *o_out;
    Py_ssize_t n_classes, max_keys;
    if (!PyArg_ParseTuple(args, "OOnnO", &o_classes, &o_scores, &n_classes, &max_keys, &o_out))
        return NULL;
    Views v = {.count = 0};
    if (get_view(&v, o_classes, 0, INT64, "classes") < 0 ||
        get_view(&v, o_scores, 0, FLOAT64, "scores") < 0 ||
        get_view(&v, o_out, 1, INT64, "out") < 0) {
        release_views(&v);
        return NULL;
    }
    Py_buffer *b = v.views;
    Py_ssize_t n = b[0].len / 8;
    if (b[1].len / 8 != n || b[2].len / 8 != n || n_classes <= 0 || max_keys < 0) {
        release_views(&v);
        PyErr_SetString(PyExc_ValueError, "inconsistent arguments");
        return NULL;
    }
    const int64_t *classes = b[0].buf;
    const double *scores = b[1].buf;
    int64_t *out = b[2].buf;
    int result = -1, bad = 0;
    /* Distinct scores fewer than max_keys / n_classes, or this is not the way. */
    Py_ssize_t cap = max_keys / n_classes;
    uint64_t size = 16;
    while (size < (uint64_t)(cap < n ? cap : n) * 2 + 2) size <<= 1;
    uint64_t *table = NULL; /* a score's bits + 1, 0 for empty */
    int32_t *slot_value = NULL, *value_rank = NULL, *row_value = NULL;
    double *values = NULL;
    int64_t *starts = NULL;
    Py_BEGIN_ALLOW_THREADS
    table = calloc(size, sizeof(uint64_t));
    slot_value = malloc(size * sizeof(int32_t));
    row_value = malloc((n ? n : 1) * sizeof(int32_t));
    values = malloc((cap ? cap : 1) * sizeof(double));
    if (!table || !slot_value || !row_value || !values || cap >= INT32_MAX) goto out;
    Py_ssize_t n_values = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (classes[i] < 0 || classes[i] >= n_classes || scores[i] != scores[i]) {
            bad = 1;
            goto out;
        }
        double s = scores[i] == 0.0 ? 0.0 : scores[i]; /* -0.0 ties with 0.0 */
        uint64_t bits;
        memcpy(&bits, &s, 8);
        uint64_t h = (bits ^ (bits >> 31)) * UINT64_C(0x9E3779B97F4A7C15);
        uint64_t at = (h >> 17) & (size - 1);
        for (;;) {
            if (table[at] == 0) {
                if (n_values >= cap) goto out; /* too many distinct scores */
                table[at] = bits + 1;
                slot_value[at] = (int32_t)n_values;
                values[n_values++] = s;
                break;
            }
            if (table[at] == bits + 1) break;
            at = (at + 1) & (size - 1);
        }
        row_value[i] = slot_value[at];
    }
    /* Each distinct score's rank, highest first (they are distinct: no ties here). */
    double *sorted = malloc((n_values ? n_values : 1) * sizeof(double));
    value_rank = malloc((n_values ? n_values : 1) * sizeof(int32_t));
    if (!sorted || !value_rank) {
        free(sorted);
        goto out;
    }
    memcpy(sorted, values, n_values * sizeof(double));
    qsort(sorted, n_values, sizeof(double), descending);
    for (Py_ssize_t k = 0; k < n_values; k++) {
        /* Binary search: where values[k] stands among the sorted distinct scores. */
        Py_ssize_t lo = 0, hi = n_values - 1;
        while (lo < hi) {
            Py_ssize_t mid = (lo + hi) / 2;
            if (sorted[mid] > values[k]) lo = mid + 1;
            else hi = mid;
        }
        value_rank[k] = (int32_t)lo;
    }
    free(sorted);
    /* A stable counting sort by (class, score rank). */
    Py_ssize_t n_keys = n_classes * (n_values ? n_values : 1);
    starts = calloc(n_keys + 1, sizeof(int64_t));
    if (!starts) goto out;
    for (Py_ssize_t i = 0; i < n; i++) {
        row_value[i] = value_rank[row_value[i]];
        starts[classes[i] * n_values + row_value[i] + 1]++;
    }
    for (Py_ssize_t k = 0; k < n_keys; k++) starts[k + 1] += starts[k];
    for (Py_ssize_t i = 0; i < n; i++) out[starts[classes[i] * n_values + row_value[i]]++] = i;
    result = 0;
out:
    free(table);
    free(slot_value);
    free(row_value);
    free(values);
    free(value_rank);
    free(starts);
    Py_END_ALLOW_THREADS
    release_views(&v);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "a class out of range or a NaN score");
        return NULL;
    }
    return PyLong_FromLong(result);
}

PyDoc_STRVAR(claims_doc,
             "claims(ranked, best, target, threshold, n_targets, tp)\n"
             "\n"
             "detection_metrics._first_claims over np.where(best >= threshold, target, -1)\n"
             "[ranked], in one loop: tp[i] is 1 where the i-th ranked item reaches the\n"
             "threshold and is the first in rank order to claim its target (0..n_targets-1).");

static PyObject *claims(PyObject *self, PyObject *args) {
    PyObject *o_ranked, *o_best, *o_target, *o_tp;
    double threshold;
    Py_ssize_t n_targets;
    if (!PyArg_ParseTuple(args, "OOOdnO", &o_ranked, &o_best, &o_target, &threshold, &n_targets,
                          &o_tp))
        return NULL;
    Views v = {.count = 0};
    if (get_view(&v, o_ranked, 0, INT64, "ranked") < 0 ||
        get_view(&v, o_best, 0, FLOAT64, "best") < 0 ||
        get_view(&v, o_target, 0, INT64, "target") < 0 || get_view(&v, o_tp, 1, BYTES, "tp") < 0) {
        release_views(&v);
        return NULL;
    }
    Py_buffer *b = v.views;
    Py_ssize_t n = b[0].len / 8, n_items = b[1].len / 8;
    if (b[2].len / 8 != n_items || b[3].len != n || n_targets < 0) {
        release_views(&v);
        PyErr_SetString(PyExc_ValueError, "inconsistent arguments");
        return NULL;
    }
    const int64_t *ranked = b[0].buf, *target = b[2].buf;
    const double *best = b[1].buf;
    unsigned char *tp = b[3].buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    unsigned char *claimed = calloc(n_targets ? n_targets : 1, 1);
    if (!claimed) {
        bad = 2;
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t r = ranked[i];
            if (r < 0 || r >= n_items) {
                bad = 1;
                break;
            }
            tp[i] = 0;
            if (!(best[r] >= threshold)) continue;
            int64_t g = target[r];
            if (g < 0) continue; /* as np.where's -1: no target */
            if (g >= n_targets) {
                bad = 1;
                break;
            }
            if (!claimed[g]) {
                claimed[g] = 1;
                tp[i] = 1;
            }
        }
    }
    free(claimed);
    Py_END_ALLOW_THREADS
    release_views(&v);
    if (bad == 2) return PyErr_NoMemory();
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "an item or target index out of range");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"count_lines", count_lines, METH_VARARGS, count_lines_doc},
    {"parse", parse, METH_VARARGS, parse_doc},
    {"box_pass", box_pass, METH_VARARGS, box_pass_doc},
    {"group", group, METH_VARARGS, group_doc},
    {"rank", rank, METH_VARARGS, rank_doc},
    {"claims", claims, METH_VARARGS, claims_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_detection_csv",
    "The native fast paths of detection scoring (see detection_native.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__detection_csv(void) { return PyModule_Create(&module); }
