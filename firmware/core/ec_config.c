#include "ec_config.h"

#include <string.h>

#include "ec_msgpack.h"

#define KEY_SCHEMA 0
#define KEY_REVISION 1
#define KEY_CONF 2
#define KEY_MARGIN 3
#define KEY_COMPLEXITY 4
#define KEY_EPOCH 5
#define NKEYS 6

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

/* A number rounded to float32 like Python's struct.pack("<f"): overflow is an error. */
static int as_float32(const ec_mp_value_t *v, float lo, float hi, float *out)
{
    double d;
    float f;
    if (v->type == EC_MP_UINT) {
        d = (double)v->u;
    } else if (v->type == EC_MP_INT) {
        d = (double)v->i;
    } else if (v->type == EC_MP_FLOAT) {
        d = v->f;
    } else {
        return EC_ERR_TYPE;
    }
    if (d != d) {
        return EC_ERR_RANGE; /* NaN */
    }
    if (d >= 0x1.ffffffp127 || d <= -0x1.ffffffp127) {
        return EC_ERR_RANGE; /* rounds to +-inf in float32 (incl. inf itself) */
    }
    f = (float)d;
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
            if (i == KEY_EPOCH) {
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
