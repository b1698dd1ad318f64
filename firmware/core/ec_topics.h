/* ec_topics.h - the device's topics, built like protocol/topics.py:
 *   {prefix}/dev/{device_id}/{report|state|config}
 * Checked against the Python Topics builder by the host tests. */
#ifndef EC_TOPICS_H
#define EC_TOPICS_H

#include <stddef.h>

#include "../generated/ec_limits.h" /* EC_MAX_TOPIC_BYTES, EC_TOPIC_PREFIX_DEFAULT */
#include "ec_err.h"

/* Longest topic (bytes, without the NUL): the AWS limit, protocol/limits.py. */
#define EC_TOPIC_MAX EC_MAX_TOPIC_BYTES

typedef enum {
    EC_TOPIC_REPORT = 0,
    EC_TOPIC_STATE = 1,
    EC_TOPIC_CONFIG = 2,
    EC_TOPIC_OTA = 3 /* the device's OtaStatus (retained) */
} ec_topic_kind_t;

/* EC_ERR_ARG for an invalid device id or prefix, EC_ERR_NOSPACE when buf is short. */
int ec_topic_build(char *buf, size_t cap, const char *prefix, const char *device_id,
                   ec_topic_kind_t kind);

#endif /* EC_TOPICS_H */
