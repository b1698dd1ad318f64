#include "ec_ring.h"

#include <string.h>

int ec_ring_init(ec_ring_t *ring, uint8_t *pool, size_t pool_size, ec_ring_slot_t *slots,
                 uint16_t max_slots)
{
    if (ring == NULL || pool == NULL || slots == NULL || pool_size == 0 || max_slots == 0) {
        return EC_ERR_ARG;
    }
    memset(ring, 0, sizeof *ring);
    ring->pool = pool;
    ring->pool_size = pool_size;
    ring->slots = slots;
    ring->max_slots = max_slots;
    return EC_OK;
}

static size_t offset_of(const ec_ring_t *ring, uint16_t index)
{
    size_t off = 0;
    uint16_t i;
    for (i = 0; i < index; i++) {
        off += ring->slots[i].len;
    }
    return off;
}

static void remove_at(ec_ring_t *ring, uint16_t index)
{
    size_t off = offset_of(ring, index);
    size_t len = ring->slots[index].len;
    memmove(ring->pool + off, ring->pool + off + len, ring->used - off - len);
    ring->used -= len;
    memmove(&ring->slots[index], &ring->slots[index + 1],
            (size_t)(ring->count - index - 1u) * sizeof ring->slots[0]);
    ring->count--;
}

static int find_oldest(const ec_ring_t *ring, uint8_t has_frame)
{
    uint16_t i;
    for (i = 0; i < ring->count; i++) {
        if (ring->slots[i].has_frame == has_frame) {
            return (int)i;
        }
    }
    return -1;
}

/* Would len bytes fit once every frame-less report were gone? */
static int fits_without_plain(const ec_ring_t *ring, size_t len)
{
    size_t frame_bytes = 0;
    uint16_t frames = 0;
    uint16_t i;
    for (i = 0; i < ring->count; i++) {
        if (ring->slots[i].has_frame) {
            frames++;
            frame_bytes += ring->slots[i].len;
        }
    }
    return frames < ring->max_slots && ring->pool_size - frame_bytes >= len;
}

int ec_ring_push(ec_ring_t *ring, const uint8_t *data, size_t len, bool has_frame)
{
    if (ring == NULL || (data == NULL && len > 0)) {
        return EC_ERR_ARG;
    }
    if (len > ring->pool_size || len > 0xffffffffu) {
        ring->stats.oversize++;
        return EC_ERR_TOO_BIG;
    }
    if (!has_frame && !fits_without_plain(ring, len)) {
        /* Evicting every stored frame-less report would not make room, and frames
         * outrank a frame-less report: the new one is dropped, nothing else is. */
        ring->stats.dropped_plain++;
        return EC_ERR_DROPPED;
    }
    while (ring->count >= ring->max_slots || ring->pool_size - ring->used < len) {
        int victim = find_oldest(ring, 0);
        if (victim < 0) {
            victim = 0; /* only frames left: the oldest goes */
            ring->stats.dropped_frame++;
        } else {
            ring->stats.dropped_plain++;
        }
        remove_at(ring, (uint16_t)victim);
    }
    if (len > 0) {
        memcpy(ring->pool + ring->used, data, len);
    }
    ring->used += len;
    ring->slots[ring->count].len = (uint32_t)len;
    ring->slots[ring->count].has_frame = has_frame ? 1u : 0u;
    ring->count++;
    return EC_OK;
}

int ec_ring_peek(const ec_ring_t *ring, const uint8_t **data, size_t *len, bool *has_frame)
{
    if (ring == NULL || data == NULL || len == NULL) {
        return EC_ERR_ARG;
    }
    if (ring->count == 0) {
        return EC_ERR_EMPTY;
    }
    *data = ring->pool;
    *len = ring->slots[0].len;
    if (has_frame != NULL) {
        *has_frame = ring->slots[0].has_frame != 0;
    }
    return EC_OK;
}

int ec_ring_pop(ec_ring_t *ring)
{
    if (ring == NULL) {
        return EC_ERR_ARG;
    }
    if (ring->count == 0) {
        return EC_ERR_EMPTY;
    }
    remove_at(ring, 0);
    return EC_OK;
}

uint16_t ec_ring_count(const ec_ring_t *ring)
{
    return ring == NULL ? 0 : ring->count;
}

uint32_t ec_ring_dropped(const ec_ring_t *ring)
{
    if (ring == NULL) {
        return 0;
    }
    return ring->stats.dropped_plain + ring->stats.dropped_frame + ring->stats.oversize;
}
