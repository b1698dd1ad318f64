/* ec_msgpack.h - the msgpack subset the device needs, with no allocation.
 *
 * Writer: a sticky-error cursor over a caller buffer. Integers are written in their
 * smallest form (positive fixint, uint8..uint64; negative fixint, int8..int64), floats
 * as float32 (0xca), strings as fixstr/str8/str16/str32 and bytes as bin8/bin16/bin32:
 * exactly what Python's msgpack.packb(use_bin_type=True, use_single_float=True) writes.
 *
 * No double arithmetic anywhere (an FPU-less MCU would pull in soft-double helpers):
 * floats are handed over as raw IEEE bits.
 *
 * Reader: ec_mp_read() returns one value header (scalars, str, bin and ext are fully
 * consumed; arrays and maps leave their items to read); ec_mp_skip() skips one whole
 * value. Strings are checked to be valid UTF-8 and map keys may not be arrays or maps,
 * as Python's decoder requires; nesting deeper than EC_MP_MAX_DEPTH is rejected.
 */
#ifndef EC_MSGPACK_H
#define EC_MSGPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ec_err.h"

#define EC_MP_MAX_DEPTH 16

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int err; /* first error (EC_ERR_NOSPACE), sticky; EC_OK while all fits */
} ec_mp_writer_t;

void ec_mp_writer_init(ec_mp_writer_t *w, uint8_t *buf, size_t cap);
void ec_mp_write_map(ec_mp_writer_t *w, uint32_t count);
void ec_mp_write_array(ec_mp_writer_t *w, uint32_t count);
void ec_mp_write_uint(ec_mp_writer_t *w, uint64_t value);
void ec_mp_write_int(ec_mp_writer_t *w, int64_t value);
void ec_mp_write_float32(ec_mp_writer_t *w, float value);
void ec_mp_write_bool(ec_mp_writer_t *w, bool value);
void ec_mp_write_str(ec_mp_writer_t *w, const char *s, size_t len);
void ec_mp_write_bin(ec_mp_writer_t *w, const uint8_t *data, size_t len);

typedef enum {
    EC_MP_NIL,
    EC_MP_BOOL,
    EC_MP_UINT,  /* any integer >= 0, whatever form it was written in */
    EC_MP_INT,   /* a negative integer */
    EC_MP_FLOAT, /* float32 or float64: raw IEEE bits in fbits, f64 says which */
    EC_MP_STR,
    EC_MP_BIN,
    EC_MP_ARRAY,
    EC_MP_MAP,
    EC_MP_EXT
} ec_mp_type_t;

typedef struct {
    ec_mp_type_t type;
    bool b;
    uint64_t u;
    int64_t i;
    uint64_t fbits; /* float32 bits (f64 false) or float64 bits (f64 true) */
    bool f64;
    uint32_t n;          /* str/bin/ext byte length, array items, map pairs */
    const uint8_t *ptr;  /* str/bin/ext bytes (inside the input buffer) */
    int8_t ext_type;
} ec_mp_value_t;

typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos;
} ec_mp_reader_t;

void ec_mp_reader_init(ec_mp_reader_t *r, const uint8_t *buf, size_t len);
/* Read one value header. EC_ERR_TRUNCATED / EC_ERR_MALFORMED on bad input. */
int ec_mp_read(ec_mp_reader_t *r, ec_mp_value_t *v);
/* Skip one complete value (recursing into arrays and maps up to EC_MP_MAX_DEPTH). */
int ec_mp_skip(ec_mp_reader_t *r);
/* Skip the items of an array/map whose header was just read into v. */
int ec_mp_skip_items(ec_mp_reader_t *r, const ec_mp_value_t *v);

#endif /* EC_MSGPACK_H */
