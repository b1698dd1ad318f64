/* ec_config.h - decoder for the retained DeviceConfig message (gateway -> device).
 *
 * Accepts exactly what edgecascade.protocol.decode(DeviceConfig, data) accepts:
 * a msgpack map, key 0 = schema version (integer >= 1), key 1 revision (uint32),
 * 2 conf_threshold and 3 margin_threshold (numbers in 0..1 after rounding to
 * float32), 4 complexity_limit (finite float32 >= 0), optional 5 epoch (uint32).
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

typedef struct {
    uint32_t revision;
    float conf_threshold;
    float margin_threshold;
    float complexity_limit;
    bool has_epoch;
    uint32_t epoch;
} ec_config_t;

/* bad_key (may be NULL) gets the field key at fault, or -1 for the message as a whole. */
int ec_config_decode(const uint8_t *data, size_t len, ec_config_t *out, int *bad_key);

#endif /* EC_CONFIG_H */
