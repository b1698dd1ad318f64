/* ec_config.h - decoder for the retained DeviceConfig message (gateway -> device).
 *
 * Accepts exactly what edgecascade.protocol.decode(DeviceConfig, data) accepts:
 * a msgpack map, key 0 = schema version (integer >= 1), key 1 revision (uint32),
 * 2 conf_threshold and 3 margin_threshold (numbers in 0..1 after rounding to
 * float32), 4 complexity_limit (finite float32 >= 0), optional 5 epoch (uint32),
 * optional 6 audit_share (uint16, 1/65536 of confident reports; absent: 0, no audit).
 * Unknown keys (of any hashable type) are skipped; a repeated key keeps its last value.
 * Anything else is rejected with an error code and the offending key in *bad_key,
 * never a crash. The output is written only on success.
 */
#ifndef EC_CONFIG_H
#define EC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ec_err.h"
#include "ec_msgpack.h"
#include "ec_policy.h"

typedef struct {
    uint32_t revision;
    float conf_threshold;
    float margin_threshold;
    float complexity_limit;
    bool has_epoch;
    uint32_t epoch;
    uint16_t audit_share; /* 0 when absent */
} ec_config_t;

/* bad_key (may be NULL) gets the field key at fault, or -1 for the message as a whole. */
int ec_config_decode(const uint8_t *data, size_t len, ec_config_t *out, int *bad_key);

/* The device's session: identity of its reports and the thresholds in force. */
typedef struct {
    uint32_t epoch;           /* boot counter, or the epoch a config assigned */
    uint32_t seq;             /* next report's sequence number */
    uint32_t config_revision; /* last applied config revision (0 before any) */
    ec_policy_t policy;
} ec_session_t;

typedef enum {
    EC_CONFIG_STALE = 0,      /* older revision: ignored */
    EC_CONFIG_APPLIED = 1,    /* thresholds adopted */
    EC_CONFIG_NEW_EPOCH = 2   /* thresholds adopted; a new epoch starts, seq back to 0 */
} ec_config_outcome_t;

/* Apply a decoded config (same rules as the emulator's DeviceCore.apply_config):
 * a revision below ours is stale; otherwise the thresholds (and the audit share) are
 * adopted, and a newer
 * revision carrying a different epoch starts a new session at seq 0.
 * Returns an ec_config_outcome_t (>= 0) or EC_ERR_RANGE (thresholds unusable). */
int ec_session_apply_config(ec_session_t *session, const ec_config_t *config);

/* A msgpack number as float32 within lo..hi, exactly as Python's to_float32(float(v))
 * (the rule every Float field follows; ec_ota.c decodes manifest thresholds with it). */
int ec_mp_as_float32(const ec_mp_value_t *v, float lo, float hi, float *out);

#endif /* EC_CONFIG_H */
