/* ec_outbox.h - publish a report now, or keep it in the ring and send it later,
 * without ever reordering reports.
 *
 * send: when the ring is empty and ec_platform_publish() accepts the report, it is
 * sent; otherwise it goes to the ring (behind older reports, so order is kept), where
 * the ring's drop rules and counters apply. drain: publishes the oldest kept reports
 * until the platform refuses one (which stays first in line) or max is reached.
 */
#ifndef EC_OUTBOX_H
#define EC_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ec_ring.h"

typedef struct {
    ec_ring_t *ring;
    const char *topic;
    uint32_t sent;   /* reports accepted by ec_platform_publish */
    uint32_t queued; /* reports that went to the ring */
} ec_outbox_t;

int ec_outbox_init(ec_outbox_t *ob, ec_ring_t *ring, const char *topic);

/* EC_OK (sent or kept), or the ring's EC_ERR_DROPPED / EC_ERR_TOO_BIG (counted there).
 * *was_sent (may be NULL) tells which. QoS 1, not retained. */
int ec_outbox_send(ec_outbox_t *ob, const uint8_t *data, size_t len, bool has_frame,
                   bool *was_sent);

/* Publish up to max kept reports, oldest first; returns how many were sent. */
int ec_outbox_drain(ec_outbox_t *ob, int max);

#endif /* EC_OUTBOX_H */
