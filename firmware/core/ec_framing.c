#include "ec_framing.h"

uint16_t ec_crc16(const uint8_t *data, size_t len)
{
    uint32_t crc = 0xffffu;
    size_t i;
    unsigned bit;
    for (i = 0; i < len; i++) {
        crc ^= (uint32_t)data[i] << 8;
        for (bit = 0; bit < 8u; bit++) {
            crc = (crc & 0x8000u) != 0u ? ((crc << 1) ^ 0x1021u) : (crc << 1);
            crc &= 0xffffu;
        }
    }
    return (uint16_t)crc;
}

/* COBS-encode one byte at a time; code_pos is where the current block's code goes. */
typedef struct {
    uint8_t *out;
    size_t cap;
    size_t len;
    size_t code_pos;
    uint8_t code;
    int err;
} cobs_writer_t;

static void cobs_next_block(cobs_writer_t *c)
{
    c->out[c->code_pos] = c->code;
    if (c->len >= c->cap) {
        c->err = EC_ERR_NOSPACE;
        return;
    }
    c->code_pos = c->len++;
    c->code = 1;
}

/* Standard COBS: a block is closed by a zero, or when 254 data bytes are followed
 * by another byte (so 254 bytes at the very end give no extra empty block). */
static void cobs_put(cobs_writer_t *c, uint8_t byte)
{
    if (c->err != EC_OK) {
        return;
    }
    if (byte == 0u) {
        cobs_next_block(c);
        return;
    }
    if (c->code == 0xffu) {
        cobs_next_block(c);
        if (c->err != EC_OK) {
            return;
        }
    }
    if (c->len >= c->cap) {
        c->err = EC_ERR_NOSPACE;
        return;
    }
    c->out[c->len++] = byte;
    c->code++;
}

int ec_framing_encode(const uint8_t *payload, size_t len, uint8_t *out, size_t cap,
                      size_t *out_len)
{
    cobs_writer_t c;
    uint16_t crc;
    size_t i;
    if ((payload == NULL && len > 0) || out == NULL) {
        return EC_ERR_ARG;
    }
    if (cap < 2u) {
        return EC_ERR_NOSPACE;
    }
    crc = ec_crc16(payload, len);
    c.out = out;
    c.cap = cap;
    c.len = 1;
    c.code_pos = 0;
    c.code = 1;
    c.err = EC_OK;
    for (i = 0; i < len; i++) {
        cobs_put(&c, payload[i]);
    }
    cobs_put(&c, (uint8_t)(crc >> 8));
    cobs_put(&c, (uint8_t)(crc & 0xffu));
    if (c.err != EC_OK) {
        return c.err;
    }
    c.out[c.code_pos] = c.code;
    if (c.len >= c.cap) {
        return EC_ERR_NOSPACE;
    }
    c.out[c.len++] = 0u;
    if (out_len != NULL) {
        *out_len = c.len;
    }
    return EC_OK;
}

int ec_deframer_init(ec_deframer_t *d, uint8_t *buf, size_t cap)
{
    if (d == NULL || buf == NULL || cap == 0) {
        return EC_ERR_ARG;
    }
    d->buf = buf;
    d->cap = cap;
    d->len = 0;
    d->overflow = false;
    d->stats.frames_ok = 0;
    d->stats.bad_frames = 0;
    d->stats.bad_cobs = 0;
    d->stats.bad_crc = 0;
    d->stats.too_long = 0;
    d->stats.too_short = 0;
    return EC_OK;
}

/* Decode COBS in place; returns the decoded length or -1 when malformed. */
static long cobs_decode_in_place(uint8_t *buf, size_t len)
{
    size_t in = 0;
    size_t out = 0;
    while (in < len) {
        uint8_t code = buf[in++];
        uint8_t k;
        if (code == 0u || (size_t)(code - 1u) > len - in) {
            return -1;
        }
        for (k = 1; k < code; k++) {
            buf[out++] = buf[in++];
        }
        if (code != 0xffu && in < len) {
            buf[out++] = 0u;
        }
    }
    return (long)out;
}

static int end_frame(ec_deframer_t *d, const uint8_t **payload, size_t *len)
{
    long n;
    size_t size = d->len;
    d->len = 0;
    if (d->overflow) {
        d->overflow = false;
        d->stats.too_long++;
        d->stats.bad_frames++;
        return EC_ERR_TOO_BIG;
    }
    if (size == 0) {
        return 0; /* idle fill between frames */
    }
    n = cobs_decode_in_place(d->buf, size);
    if (n < 0) {
        d->stats.bad_cobs++;
        d->stats.bad_frames++;
        return EC_ERR_MALFORMED;
    }
    if (n < 2) {
        d->stats.too_short++;
        d->stats.bad_frames++;
        return EC_ERR_TRUNCATED;
    }
    if (ec_crc16(d->buf, (size_t)n - 2u) !=
        (uint16_t)(((uint16_t)d->buf[n - 2] << 8) | d->buf[n - 1])) {
        d->stats.bad_crc++;
        d->stats.bad_frames++;
        return EC_ERR_CRC;
    }
    d->stats.frames_ok++;
    *payload = d->buf;
    *len = (size_t)n - 2u;
    return 1;
}

int ec_deframer_feed(ec_deframer_t *d, uint8_t byte, const uint8_t **payload, size_t *len)
{
    if (d == NULL || payload == NULL || len == NULL) {
        return EC_ERR_ARG;
    }
    if (byte == 0u) {
        return end_frame(d, payload, len);
    }
    if (d->overflow) {
        return 0;
    }
    if (d->len >= d->cap) {
        d->overflow = true;
        return 0;
    }
    d->buf[d->len++] = byte;
    return 0;
}
