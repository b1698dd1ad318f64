/* ec_platform_host.h - the host implementation of ec_platform.h, for tests.
 * A fake at a seam we own: a settable clock, a recorded list of publishes (with an
 * injectable failure), and an in-memory key/value store (with an injectable failure). */
#ifndef EC_PLATFORM_HOST_H
#define EC_PLATFORM_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ec_platform.h"

#define HOST_MAX_PUBLISHED 32
#define HOST_MAX_PAYLOAD 2048
#define HOST_MAX_KEYS 16

typedef struct {
    char topic[128];
    uint8_t payload[HOST_MAX_PAYLOAD];
    size_t len;
    int qos;
    bool retain;
} host_publish_t;

extern uint64_t host_now_ms;
extern bool host_publish_fails;
extern bool host_storage_fails;
extern host_publish_t host_published[HOST_MAX_PUBLISHED];
extern int host_published_count;

void host_platform_reset(void);

#endif
