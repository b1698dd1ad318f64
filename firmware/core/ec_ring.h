/* ec_ring.h - bounded store of encoded reports kept while the broker is unreachable.
 *
 * The caller gives a byte pool and a slot array (no allocation, no static state).
 * Reports are kept in FIFO order and drained oldest first. When a new report does not
 * fit (no free slot or not enough pool bytes), reports are evicted from the set
 * {stored reports + the new one}:
 *   1. the oldest stored report WITHOUT a frame (confident answers: the gateway can
 *      live without them), repeatedly;
 *   2. only when no frame-less report is left, the oldest report WITH a frame.
 * A new frame-less report never evicts a frame: when removing every stored frame-less
 * report would still not make room, the new report itself is dropped (and nothing else).
 * A report larger than the whole pool is refused (counted as oversize).
 * Every drop is counted by kind; nothing is lost silently.
 * The Python twin edgecascade.emulator.ring.ReportRing follows the same rules.
 */
#ifndef EC_RING_H
#define EC_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ec_err.h"

typedef struct {
    uint32_t len;
    uint8_t has_frame;
} ec_ring_slot_t;

typedef struct {
    uint32_t dropped_plain; /* reports without a frame evicted or refused */
    uint32_t dropped_frame; /* reports with a frame evicted */
    uint32_t oversize;      /* reports refused because they exceed the pool */
} ec_ring_stats_t;

typedef struct {
    uint8_t *pool;
    size_t pool_size;
    ec_ring_slot_t *slots; /* slots[0] is the oldest */
    uint16_t max_slots;
    uint16_t count;
    size_t used;           /* bytes of the pool in use, entries packed in FIFO order */
    ec_ring_stats_t stats;
} ec_ring_t;

int ec_ring_init(ec_ring_t *ring, uint8_t *pool, size_t pool_size, ec_ring_slot_t *slots,
                 uint16_t max_slots);

/* Store one report. EC_OK when stored (possibly after evicting older ones),
 * EC_ERR_DROPPED when the new report itself was the one dropped,
 * EC_ERR_TOO_BIG when it can never fit. */
int ec_ring_push(ec_ring_t *ring, const uint8_t *data, size_t len, bool has_frame);

/* The oldest report (pointer into the pool, valid until the next push/pop). */
int ec_ring_peek(const ec_ring_t *ring, const uint8_t **data, size_t *len, bool *has_frame);
int ec_ring_pop(ec_ring_t *ring);

uint16_t ec_ring_count(const ec_ring_t *ring);
uint32_t ec_ring_dropped(const ec_ring_t *ring); /* all drops of every kind */

#endif /* EC_RING_H */
