#include "ec_config.h"

#include <string.h>

#include "ec_msgpack.h"

#define KEY_SCHEMA 0
#define KEY_REVISION 1
#define KEY_CONF 2
#define KEY_MARGIN 3
#define KEY_COMPLEXITY 4
#define KEY_EPOCH 5
#define KEY_AUDIT 6
#define NKEYS 7

static int as_uint32(const ec_mp_value_t *v, uint32_t *out)
{
    if (v->type == EC_MP_INT) {
        return EC_ERR_RANGE;
    }
    if (v->type != EC_MP_UINT) {
        return EC_ERR_TYPE;
    }
    if (v->u > 0xffffffffu) {
        return EC_ERR_RANGE;
    }
    *out = (uint32_t)v->u;
    return EC_OK;
}

/* ---- numbers to float32 exactly as Python's to_float32(float(value)) does, with
 * integer arithmetic only (no soft-double helpers on an FPU-less MCU). */

static unsigned bit_length(uint64_t m)
{
    unsigned n = 0;
    while (m != 0u) {
        m >>= 1;
        n++;
    }
    return n;
}

/* m * 2^e rounded to at most `bits` significant bits, ties to even. */
static void round_bits(uint64_t *m, int *e, unsigned bits)
{
    unsigned len = bit_length(*m);
    unsigned shift;
    uint64_t rest;
    uint64_t half;
    if (len <= bits) {
        return;
    }
    shift = len - bits;
    rest = *m & ((UINT64_C(1) << shift) - 1u);
    half = UINT64_C(1) << (shift - 1u);
    *m >>= shift;
    *e += (int)shift;
    if (rest > half || (rest == half && (*m & 1u) != 0u)) {
        (*m)++;
        if (bit_length(*m) > bits) {
            *m >>= 1;
            (*e)++;
        }
    }
}

/* A non-negative integer m * 2^e with m < 2^24, as float32 bits (e small enough). */
static uint32_t f32_from_int(uint64_t m, int e)
{
    unsigned top;
    if (m == 0u) {
        return 0u;
    }
    top = bit_length(m) - 1u; /* value = 1.xxx * 2^(top + e) */
    return ((uint32_t)(top + (unsigned)(e + 127)) << 23) |
           ((uint32_t)(m << (23u - top)) & 0x7fffffu);
}

/* An integer magnitude the way Python converts it: to double (53 bits), then float. */
static uint32_t f32_bits_of_int(uint64_t mag)
{
    int e = 0;
    round_bits(&mag, &e, 53);
    round_bits(&mag, &e, 24);
    return f32_from_int(mag, e);
}

/* float64 bits -> float32 bits, round to nearest even; EC_ERR_RANGE on overflow,
 * infinity or NaN (all rejected by the protocol's finite-float rule). */
static int f32_bits_of_f64(uint64_t d, uint32_t *out)
{
    uint32_t sign = (uint32_t)(d >> 63) << 31;
    int exp = (int)((d >> 52) & 0x7ffu);
    uint64_t m = d & ((UINT64_C(1) << 52) - 1u);
    int e;
    if (exp == 0x7ff) {
        return EC_ERR_RANGE;
    }
    if (exp == 0) {
        *out = sign; /* zero or a double subnormal: far below float32's smallest */
        return EC_OK;
    }
    m |= UINT64_C(1) << 52;
    e = exp - 1075; /* value = m * 2^e */
    if (e + 52 >= -126) {
        round_bits(&m, &e, 24); /* normal float32 range (or overflow) */
        if (e + (int)bit_length(m) - 1 > 127) {
            return EC_ERR_RANGE;
        }
        *out = sign | f32_from_int(m, e);
        return EC_OK;
    }
    /* float32 subnormal: units of 2^-149 */
    {
        int shift = -149 - e;
        uint64_t q;
        uint64_t rest;
        uint64_t half;
        if (shift >= 64) {
            *out = sign;
            return EC_OK;
        }
        q = m >> shift;
        rest = m & ((UINT64_C(1) << shift) - 1u);
        half = UINT64_C(1) << (shift - 1);
        if (rest > half || (rest == half && (q & 1u) != 0u)) {
            q++; /* may reach 2^23: the smallest normal, whose bits are exactly q */
        }
        *out = sign | (uint32_t)q;
        return EC_OK;
    }
}

/* A number rounded to float32 like Python's struct.pack("<f"): overflow is an error. */
static int as_float32(const ec_mp_value_t *v, float lo, float hi, float *out)
{
    uint32_t bits;
    float f;
    int rc = EC_OK;
    if (v->type == EC_MP_UINT) {
        bits = f32_bits_of_int(v->u);
    } else if (v->type == EC_MP_INT) {
        bits = f32_bits_of_int((uint64_t)0 - (uint64_t)v->i) | 0x80000000u;
    } else if (v->type == EC_MP_FLOAT && !v->f64) {
        bits = (uint32_t)v->fbits;
        if ((bits & 0x7f800000u) == 0x7f800000u) {
            return EC_ERR_RANGE; /* inf or NaN */
        }
    } else if (v->type == EC_MP_FLOAT) {
        rc = f32_bits_of_f64(v->fbits, &bits);
        if (rc != EC_OK) {
            return rc;
        }
    } else {
        return EC_ERR_TYPE;
    }
    memcpy(&f, &bits, sizeof f);
    if (!(f >= lo && f <= hi)) {
        return EC_ERR_RANGE;
    }
    *out = f;
    return EC_OK;
}

int ec_config_decode(const uint8_t *data, size_t len, ec_config_t *out, int *bad_key)
{
    ec_mp_reader_t r;
    ec_mp_value_t head;
    ec_mp_value_t vals[NKEYS];
    bool seen[NKEYS];
    ec_config_t cfg;
    uint32_t i;
    int rc;
    int dummy;
    if (bad_key == NULL) {
        bad_key = &dummy;
    }
    *bad_key = -1;
    if (data == NULL || out == NULL) {
        return EC_ERR_ARG;
    }
    if (len == 0) {
        return EC_ERR_TRUNCATED;
    }
    memset(seen, 0, sizeof seen);
    memset(&cfg, 0, sizeof cfg);
    ec_mp_reader_init(&r, data, len);
    rc = ec_mp_read(&r, &head);
    if (rc != EC_OK) {
        return rc;
    }
    /* Validate the whole document first (Python unpacks it whole before looking). */
    rc = ec_mp_skip_items(&r, &head);
    if (rc != EC_OK) {
        return rc;
    }
    if (r.pos != len) {
        return EC_ERR_MALFORMED; /* trailing bytes */
    }
    if (head.type != EC_MP_MAP) {
        return EC_ERR_TYPE;
    }
    ec_mp_reader_init(&r, data, len);
    rc = ec_mp_read(&r, &head);
    if (rc != EC_OK) {
        return rc;
    }
    for (i = 0; i < head.n; i++) {
        ec_mp_value_t key;
        rc = ec_mp_read(&r, &key);
        if (rc != EC_OK) {
            return rc;
        }
        if (key.type == EC_MP_UINT && key.u < NKEYS) {
            rc = ec_mp_read(&r, &vals[key.u]);
            if (rc != EC_OK) {
                return rc;
            }
            seen[key.u] = true;
            rc = ec_mp_skip_items(&r, &vals[key.u]);
        } else {
            rc = ec_mp_skip(&r);
        }
        if (rc != EC_OK) {
            return rc;
        }
    }
    if (!seen[KEY_SCHEMA] || vals[KEY_SCHEMA].type != EC_MP_UINT || vals[KEY_SCHEMA].u < 1u) {
        *bad_key = KEY_SCHEMA;
        return EC_ERR_SCHEMA;
    }
    for (i = KEY_REVISION; i < NKEYS; i++) {
        const ec_mp_value_t *v = &vals[i];
        *bad_key = (int)i;
        if (!seen[i]) {
            if (i == KEY_EPOCH || i == KEY_AUDIT) {
                continue;
            }
            return EC_ERR_MISSING;
        }
        if (v->type == EC_MP_NIL) {
            return EC_ERR_TYPE; /* null is never a valid value */
        }
        switch (i) {
        case KEY_REVISION: rc = as_uint32(v, &cfg.revision); break;
        case KEY_CONF: rc = as_float32(v, 0.0f, 1.0f, &cfg.conf_threshold); break;
        case KEY_MARGIN: rc = as_float32(v, 0.0f, 1.0f, &cfg.margin_threshold); break;
        case KEY_COMPLEXITY:
            rc = as_float32(v, 0.0f, 3.4028235e38f, &cfg.complexity_limit);
            break;
        case KEY_AUDIT: {
            uint32_t share = 0;
            rc = as_uint32(v, &share);
            if (rc == EC_OK && share > 0xffffu) {
                rc = EC_ERR_RANGE; /* UInt(16) */
            }
            cfg.audit_share = (uint16_t)share;
            break;
        }
        default:
            rc = as_uint32(v, &cfg.epoch);
            cfg.has_epoch = true;
            break;
        }
        if (rc != EC_OK) {
            return rc;
        }
    }
    *bad_key = -1;
    *out = cfg;
    return EC_OK;
}

int ec_session_apply_config(ec_session_t *session, const ec_config_t *config)
{
    ec_thresholds_t t;
    ec_policy_t policy;
    bool newer;
    if (session == NULL || config == NULL) {
        return EC_ERR_ARG;
    }
    if (config->revision < session->config_revision) {
        return EC_CONFIG_STALE;
    }
    t.conf_threshold = config->conf_threshold;
    t.margin_threshold = config->margin_threshold;
    t.complexity_limit = config->complexity_limit;
    if (ec_policy_init(&policy, &t) != EC_OK) {
        return EC_ERR_RANGE;
    }
    policy.audit_share = config->audit_share;
    newer = config->revision > session->config_revision;
    session->policy = policy;
    session->config_revision = config->revision;
    if (newer && config->has_epoch && config->epoch != session->epoch) {
        session->epoch = config->epoch;
        session->seq = 0;
        return EC_CONFIG_NEW_EPOCH;
    }
    return EC_CONFIG_APPLIED;
}

int ec_mp_as_float32(const ec_mp_value_t *v, float lo, float hi, float *out)
{
    return as_float32(v, lo, hi, out);
}
