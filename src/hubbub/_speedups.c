/* hubbub._speedups: the C twin of hubbub.server.fastpath.scan_block_py.
 *
 * A busy sender's socket read is a block of lines that all start with the same
 * "PRIVMSG <target> :". Checking such a block and rewriting each line with the sender's
 * prefix took about ten passes of bytes methods in Python (count, find, isascii, split,
 * replace), more than half of the server's time for private messages; here it is one pass
 * that checks and one that copies. The pure-Python function is the reference: both must give
 * the same answer for every input (tests/server/test_fastpath_twins.py), and the package runs
 * on the Python one where this module could not be built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Bytes that end or break a line's text: NUL, CR, LF, and anything outside ASCII. */
static unsigned char special[256];

static void init_special(void) {
    for (int c = 0; c < 256; c++)
        special[c] = (c == 0 || c == '\r' || c == '\n' || c >= 0x80);
}

PyDoc_STRVAR(scan_block_doc,
"scan_block(data, head_len, new_head, room, /)\n--\n\n"
"The lines of ``data`` rewritten to start with ``new_head``, and their count, or None when\n"
"the block is not a plain one (see hubbub.server.fastpath.scan_block_py).");

static PyObject *scan_block(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "scan_block takes exactly 4 arguments");
        return NULL;
    }
    if (!PyBytes_Check(args[0]) || !PyBytes_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "scan_block: data and new_head must be bytes");
        return NULL;
    }
    if (!PyLong_Check(args[1]) || !PyLong_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "scan_block: head_len and room must be int");
        return NULL;
    }
    /* Clamped, not refused, past the range of Py_ssize_t, as the Python twin compares them:
     * a head longer than any data gives None, a room larger than any line is no limit. */
    Py_ssize_t head_len = PyNumber_AsSsize_t(args[1], NULL);
    if (head_len == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t room = PyNumber_AsSsize_t(args[3], NULL);
    if (room == -1 && PyErr_Occurred()) return NULL;

    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    const char *nh = PyBytes_AS_STRING(args[2]);
    Py_ssize_t nh_len = PyBytes_GET_SIZE(args[2]);

    if (n == 0 || d[n - 1] != '\n' || head_len <= 0 || head_len >= n) Py_RETURN_NONE;
    for (Py_ssize_t i = 0; i < head_len; i++)  /* the head: plain ASCII on one line */
        if (special[d[i]]) Py_RETURN_NONE;

    /* Pass 1: every line is the head, a text that is not empty, then LF or CR LF; no NUL,
     * no CR elsewhere, nothing beyond ASCII; no line longer than room (LF not counted). */
    Py_ssize_t lines = 0, text_bytes = 0, pos = 0;
    while (pos < n) {
        if (n - pos <= head_len || memcmp(d + pos, d, (size_t)head_len) != 0) Py_RETURN_NONE;
        Py_ssize_t p = pos + head_len, q = p;
        if (d[p] == '\n' || d[p] == '\r') Py_RETURN_NONE;  /* an empty text */
        for (;;) {
            unsigned char c = d[q];
            if (!special[c]) {
                q++;
                continue;
            }
            if (c == '\n') break;
            if (c == '\r' && d[q + 1] == '\n') {  /* (data ends with LF: q + 1 < n) */
                q++;
                break;
            }
            Py_RETURN_NONE;  /* NUL, a CR inside a text, or not ASCII */
        }
        if (q - pos > room) Py_RETURN_NONE;
        text_bytes += q - p - (d[q - 1] == '\r');
        lines++;
        pos = q + 1;
    }

    /* Pass 2: new_head + text + CR LF for each line. (The size is checked, not trusted to
     * fit: lines * (nh_len + 2) could pass PY_SSIZE_T_MAX for a huge new_head.) */
    if (nh_len > (PY_SSIZE_T_MAX - text_bytes) / lines - 2) return PyErr_NoMemory();
    PyObject *out = PyBytes_FromStringAndSize(NULL, lines * (nh_len + 2) + text_bytes);
    if (out == NULL) return NULL;
    char *o = PyBytes_AS_STRING(out);
    pos = 0;
    while (pos < n) {
        const unsigned char *p = d + pos + head_len;
        const unsigned char *lf = memchr(p, '\n', (size_t)(n - (pos + head_len)));
        Py_ssize_t text = lf - p - (lf[-1] == '\r');
        memcpy(o, nh, (size_t)nh_len);
        o += nh_len;
        memcpy(o, p, (size_t)text);
        o += text;
        *o++ = '\r';
        *o++ = '\n';
        pos = (lf - d) + 1;
    }
    PyObject *result = PyTuple_New(2);
    if (result == NULL) {
        Py_DECREF(out);
        return NULL;
    }
    PyObject *count = PyLong_FromSsize_t(lines);
    if (count == NULL) {
        Py_DECREF(out);
        Py_DECREF(result);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, out);
    PyTuple_SET_ITEM(result, 1, count);
    return result;
}

static PyMethodDef methods[] = {
    {"scan_block", (PyCFunction)(void (*)(void))scan_block, METH_FASTCALL, scan_block_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "hubbub._speedups",
    "C twins of hubbub's hottest pure-Python functions (optional: see hubbub.server.fastpath).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    init_special();
    return PyModule_Create(&module_def);
}
