#include "ec_msgpack.h"

#include <string.h>

void ec_mp_writer_init(ec_mp_writer_t *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->err = EC_OK;
}

static void put(ec_mp_writer_t *w, const uint8_t *data, size_t n)
{
    if (w->err != EC_OK) {
        return;
    }
    if (n > w->cap - w->len) {
        w->err = EC_ERR_NOSPACE;
        return;
    }
    if (n > 0) {
        memcpy(w->buf + w->len, data, n);
    }
    w->len += n;
}

static void put_be(ec_mp_writer_t *w, uint8_t tag, uint64_t value, unsigned nbytes)
{
    uint8_t tmp[9];
    unsigned i;
    tmp[0] = tag;
    for (i = 0; i < nbytes; i++) {
        tmp[1 + i] = (uint8_t)(value >> (8u * (nbytes - 1u - i)));
    }
    put(w, tmp, 1u + nbytes);
}

static void put_len(ec_mp_writer_t *w, uint32_t n, uint8_t fix, uint32_t fixmax, uint8_t t8,
                    uint8_t t16, uint8_t t32)
{
    if (n <= fixmax) {
        uint8_t b = (uint8_t)(fix | n);
        put(w, &b, 1);
    } else if (t8 != 0 && n <= 0xffu) {
        put_be(w, t8, n, 1);
    } else if (n <= 0xffffu) {
        put_be(w, t16, n, 2);
    } else {
        put_be(w, t32, n, 4);
    }
}

void ec_mp_write_map(ec_mp_writer_t *w, uint32_t count)
{
    put_len(w, count, 0x80, 15, 0, 0xde, 0xdf);
}

void ec_mp_write_array(ec_mp_writer_t *w, uint32_t count)
{
    put_len(w, count, 0x90, 15, 0, 0xdc, 0xdd);
}

void ec_mp_write_uint(ec_mp_writer_t *w, uint64_t v)
{
    if (v <= 0x7fu) {
        uint8_t b = (uint8_t)v;
        put(w, &b, 1);
    } else if (v <= 0xffu) {
        put_be(w, 0xcc, v, 1);
    } else if (v <= 0xffffu) {
        put_be(w, 0xcd, v, 2);
    } else if (v <= 0xffffffffu) {
        put_be(w, 0xce, v, 4);
    } else {
        put_be(w, 0xcf, v, 8);
    }
}

void ec_mp_write_int(ec_mp_writer_t *w, int64_t v)
{
    if (v >= 0) {
        ec_mp_write_uint(w, (uint64_t)v);
    } else if (v >= -32) {
        uint8_t b = (uint8_t)(int8_t)v;
        put(w, &b, 1);
    } else if (v >= -128) {
        put_be(w, 0xd0, (uint64_t)v, 1);
    } else if (v >= -32768) {
        put_be(w, 0xd1, (uint64_t)v, 2);
    } else if (v >= -2147483647L - 1) {
        put_be(w, 0xd2, (uint64_t)v, 4);
    } else {
        put_be(w, 0xd3, (uint64_t)v, 8);
    }
}

void ec_mp_write_float32(ec_mp_writer_t *w, float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    put_be(w, 0xca, bits, 4);
}

void ec_mp_write_bool(ec_mp_writer_t *w, bool value)
{
    uint8_t b = value ? 0xc3 : 0xc2;
    put(w, &b, 1);
}

void ec_mp_write_str(ec_mp_writer_t *w, const char *s, size_t len)
{
    if (len > 0xffffffffu) {
        w->err = EC_ERR_ARG;
        return;
    }
    put_len(w, (uint32_t)len, 0xa0, 31, 0xd9, 0xda, 0xdb);
    put(w, (const uint8_t *)s, len);
}

void ec_mp_write_bin(ec_mp_writer_t *w, const uint8_t *data, size_t len)
{
    if (len > 0xffffffffu) {
        w->err = EC_ERR_ARG;
        return;
    }
    if (len <= 0xffu) {
        put_be(w, 0xc4, len, 1);
    } else if (len <= 0xffffu) {
        put_be(w, 0xc5, len, 2);
    } else {
        put_be(w, 0xc6, len, 4);
    }
    put(w, data, len);
}

/* ---------------------------------------------------------------- reader */

void ec_mp_reader_init(ec_mp_reader_t *r, const uint8_t *buf, size_t len)
{
    r->buf = buf;
    r->len = len;
    r->pos = 0;
}

static int take_be(ec_mp_reader_t *r, unsigned nbytes, uint64_t *out)
{
    unsigned i;
    uint64_t v = 0;
    if (r->len - r->pos < nbytes) {
        return EC_ERR_TRUNCATED;
    }
    for (i = 0; i < nbytes; i++) {
        v = (v << 8) | r->buf[r->pos + i];
    }
    r->pos += nbytes;
    *out = v;
    return EC_OK;
}

static bool utf8_valid(const uint8_t *s, uint32_t n)
{
    uint32_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        uint32_t need;
        uint32_t cp;
        uint32_t k;
        if (c < 0x80u) {
            i++;
            continue;
        }
        if (c >= 0xc2u && c <= 0xdfu) {
            need = 1;
            cp = c & 0x1fu;
        } else if (c >= 0xe0u && c <= 0xefu) {
            need = 2;
            cp = c & 0x0fu;
        } else if (c >= 0xf0u && c <= 0xf4u) {
            need = 3;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (n - i - 1u < need) {
            return false;
        }
        for (k = 1; k <= need; k++) {
            uint8_t cc = s[i + k];
            if ((cc & 0xc0u) != 0x80u) {
                return false;
            }
            cp = (cp << 6) | (cc & 0x3fu);
        }
        if ((need == 2 && cp < 0x800u) || (need == 3 && (cp < 0x10000u || cp > 0x10ffffu)) ||
            (cp >= 0xd800u && cp <= 0xdfffu)) {
            return false; /* overlong, out of range or a surrogate */
        }
        i += need + 1u;
    }
    return true;
}

static int take_bytes(ec_mp_reader_t *r, ec_mp_value_t *v, uint32_t n)
{
    if (r->len - r->pos < n) {
        return EC_ERR_TRUNCATED;
    }
    v->n = n;
    v->ptr = r->buf + r->pos;
    r->pos += n;
    return EC_OK;
}

/* msgpack timestamps (ext -1) must be 4, 8 or 12 bytes with nanoseconds < 1e9. */
static int check_ext(const ec_mp_value_t *v)
{
    uint32_t ns;
    if (v->ext_type != -1) {
        return EC_OK;
    }
    if (v->n == 4) {
        return EC_OK;
    }
    if (v->n == 8) {
        ns = ((uint32_t)v->ptr[0] << 22) | ((uint32_t)v->ptr[1] << 14) |
             ((uint32_t)v->ptr[2] << 6) | ((uint32_t)v->ptr[3] >> 2);
    } else if (v->n == 12) {
        ns = ((uint32_t)v->ptr[0] << 24) | ((uint32_t)v->ptr[1] << 16) |
             ((uint32_t)v->ptr[2] << 8) | (uint32_t)v->ptr[3];
    } else {
        return EC_ERR_MALFORMED;
    }
    return ns < 1000000000u ? EC_OK : EC_ERR_MALFORMED;
}

static int read_ext(ec_mp_reader_t *r, ec_mp_value_t *v, uint32_t n)
{
    uint64_t t;
    int rc = take_be(r, 1, &t);
    if (rc != EC_OK) {
        return rc;
    }
    v->type = EC_MP_EXT;
    v->ext_type = (int8_t)(uint8_t)t;
    rc = take_bytes(r, v, n);
    return rc != EC_OK ? rc : check_ext(v);
}

int ec_mp_read(ec_mp_reader_t *r, ec_mp_value_t *v)
{
    uint8_t c;
    uint64_t x;
    int rc;
    if (r->pos >= r->len) {
        return EC_ERR_TRUNCATED;
    }
    memset(v, 0, sizeof *v);
    c = r->buf[r->pos++];
    if (c <= 0x7fu) {
        v->type = EC_MP_UINT;
        v->u = c;
        return EC_OK;
    }
    if (c >= 0xe0u) {
        v->type = EC_MP_INT;
        v->i = (int8_t)c;
        return EC_OK;
    }
    if (c >= 0x80u && c <= 0x8fu) {
        v->type = EC_MP_MAP;
        v->n = c & 0x0fu;
        return EC_OK;
    }
    if (c >= 0x90u && c <= 0x9fu) {
        v->type = EC_MP_ARRAY;
        v->n = c & 0x0fu;
        return EC_OK;
    }
    if (c >= 0xa0u && c <= 0xbfu) {
        v->type = EC_MP_STR;
        rc = take_bytes(r, v, c & 0x1fu);
        return rc != EC_OK ? rc : (utf8_valid(v->ptr, v->n) ? EC_OK : EC_ERR_MALFORMED);
    }
    switch (c) {
    case 0xc0:
        v->type = EC_MP_NIL;
        return EC_OK;
    case 0xc2:
    case 0xc3:
        v->type = EC_MP_BOOL;
        v->b = (c == 0xc3);
        return EC_OK;
    case 0xc4:
    case 0xc5:
    case 0xc6:
        rc = take_be(r, c == 0xc4 ? 1u : (c == 0xc5 ? 2u : 4u), &x);
        if (rc != EC_OK) {
            return rc;
        }
        v->type = EC_MP_BIN;
        return take_bytes(r, v, (uint32_t)x);
    case 0xc7:
    case 0xc8:
    case 0xc9:
        rc = take_be(r, c == 0xc7 ? 1u : (c == 0xc8 ? 2u : 4u), &x);
        return rc != EC_OK ? rc : read_ext(r, v, (uint32_t)x);
    case 0xca:
    case 0xcb:
        rc = take_be(r, c == 0xca ? 4u : 8u, &x);
        if (rc != EC_OK) {
            return rc;
        }
        v->type = EC_MP_FLOAT;
        v->fbits = x;
        v->f64 = (c == 0xcb);
        return EC_OK;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        rc = take_be(r, 1u << (c - 0xccu), &x);
        v->type = EC_MP_UINT;
        v->u = x;
        return rc;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        unsigned nbytes = 1u << (c - 0xd0u);
        int64_t s;
        rc = take_be(r, nbytes, &x);
        if (rc != EC_OK) {
            return rc;
        }
        if (nbytes < 8u && (x >> (8u * nbytes - 1u)) != 0u) {
            x |= ~((UINT64_C(1) << (8u * nbytes)) - 1u); /* sign-extend */
        }
        memcpy(&s, &x, sizeof s);
        if (s >= 0) {
            v->type = EC_MP_UINT;
            v->u = (uint64_t)s;
        } else {
            v->type = EC_MP_INT;
            v->i = s;
        }
        return EC_OK;
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        return read_ext(r, v, 1u << (c - 0xd4u));
    case 0xd9:
    case 0xda:
    case 0xdb:
        rc = take_be(r, 1u << (c - 0xd9u), &x);
        if (rc != EC_OK) {
            return rc;
        }
        v->type = EC_MP_STR;
        rc = take_bytes(r, v, (uint32_t)x);
        return rc != EC_OK ? rc : (utf8_valid(v->ptr, v->n) ? EC_OK : EC_ERR_MALFORMED);
    case 0xdc:
    case 0xdd:
    case 0xde:
    case 0xdf:
        rc = take_be(r, (c == 0xdc || c == 0xde) ? 2u : 4u, &x);
        if (rc != EC_OK) {
            return rc;
        }
        v->type = (c <= 0xddu) ? EC_MP_ARRAY : EC_MP_MAP;
        v->n = (uint32_t)x;
        return EC_OK;
    default:
        return EC_ERR_MALFORMED; /* 0xc1: never used */
    }
}

static int skip_items(ec_mp_reader_t *r, const ec_mp_value_t *v, unsigned depth);

static int skip_value(ec_mp_reader_t *r, unsigned depth, bool is_key)
{
    ec_mp_value_t v;
    int rc = ec_mp_read(r, &v);
    if (rc != EC_OK) {
        return rc;
    }
    if (v.type == EC_MP_ARRAY || v.type == EC_MP_MAP) {
        if (is_key) {
            return EC_ERR_MALFORMED; /* unhashable key: Python rejects it too */
        }
        return skip_items(r, &v, depth + 1u);
    }
    return EC_OK;
}

static int skip_items(ec_mp_reader_t *r, const ec_mp_value_t *v, unsigned depth)
{
    uint32_t i;
    int rc;
    if (depth > EC_MP_MAX_DEPTH) {
        return EC_ERR_MALFORMED;
    }
    for (i = 0; i < v->n; i++) {
        if (r->pos >= r->len) {
            return EC_ERR_TRUNCATED; /* also bounds huge counts by the input size */
        }
        if (v->type == EC_MP_MAP) {
            rc = skip_value(r, depth, true);
            if (rc != EC_OK) {
                return rc;
            }
        }
        rc = skip_value(r, depth, false);
        if (rc != EC_OK) {
            return rc;
        }
    }
    return EC_OK;
}

int ec_mp_skip_items(ec_mp_reader_t *r, const ec_mp_value_t *v)
{
    if (v->type != EC_MP_ARRAY && v->type != EC_MP_MAP) {
        return EC_OK;
    }
    return skip_items(r, v, 1);
}

int ec_mp_skip(ec_mp_reader_t *r)
{
    return skip_value(r, 0, false);
}
