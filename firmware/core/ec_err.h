/* ec_err.h - the one error type of the portable core.
 *
 * Every core function that can fail returns an ec_err_t: 0 (EC_OK) on success,
 * a negative code otherwise. ec_err_name() gives a short stable label for logs and
 * metrics (the same strings the Python twins use where they have an equivalent).
 */
#ifndef EC_ERR_H
#define EC_ERR_H

typedef enum {
    EC_OK = 0,
    EC_ERR_ARG = -1,       /* a NULL pointer or an argument outside its domain */
    EC_ERR_NOSPACE = -2,   /* the output buffer is too small */
    EC_ERR_TRUNCATED = -3, /* input ended in the middle of a value */
    EC_ERR_MALFORMED = -4, /* input is not valid msgpack / COBS / line syntax */
    EC_ERR_TYPE = -5,      /* a value has the wrong msgpack type */
    EC_ERR_RANGE = -6,     /* a value is outside its allowed range */
    EC_ERR_MISSING = -7,   /* a required field is absent */
    EC_ERR_SCHEMA = -8,    /* schema version (key 0) missing or bad */
    EC_ERR_CRC = -9,       /* a frame's checksum does not match */
    EC_ERR_TOO_BIG = -10,  /* an item can never fit (larger than the whole pool) */
    EC_ERR_DROPPED = -11,  /* the item was dropped by policy (counted) */
    EC_ERR_EMPTY = -12,    /* nothing to take */
    EC_ERR_NOT_FOUND = -13,/* storage key absent */
    EC_ERR_IO = -14        /* a platform seam failed (publish, storage) */
} ec_err_t;

/* Short lower-case label for an error code ("ok", "nospace", ...). Never NULL. */
const char *ec_err_name(int err);

#endif /* EC_ERR_H */
