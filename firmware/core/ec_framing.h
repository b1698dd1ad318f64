/* ec_framing.h - serial framing for boards without a network.
 *
 * One frame on the wire:  COBS( payload || crc16_be(payload) ) || 0x00
 * CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected, xorout 0x0000
 * (check value for "123456789" is 0x29B1; Python: binascii.crc_hqx(data, 0xFFFF)).
 * COBS guarantees no 0x00 inside a frame, so the 0x00 delimiter always resyncs.
 *
 * The decoder is streaming: feed bytes as they arrive. A complete, valid frame is
 * returned; garbage, bad COBS, a wrong CRC or an over-long frame is counted as one
 * bad frame and decoding restarts after the next 0x00. Empty frames (0x00 0x00) are
 * idle fill, not errors. The Python twin is edgecascade.protocol.framing.
 */
#ifndef EC_FRAMING_H
#define EC_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ec_err.h"

/* Encoded size bound for a payload of n bytes (COBS overhead, CRC, delimiter). */
#define EC_FRAMING_ENCODED_MAX(n) ((n) + 2u + ((n) + 2u) / 254u + 1u + 1u)

uint16_t ec_crc16(const uint8_t *data, size_t len);

/* Encode one frame into out[cap]; *out_len gets its size (including the 0x00). */
int ec_framing_encode(const uint8_t *payload, size_t len, uint8_t *out, size_t cap,
                      size_t *out_len);

typedef struct {
    uint32_t frames_ok;
    uint32_t bad_frames; /* bad_cobs + bad_crc + too_long + too_short */
    uint32_t bad_cobs;
    uint32_t bad_crc;
    uint32_t too_long;
    uint32_t too_short;
} ec_framing_stats_t;

typedef struct {
    uint8_t *buf;   /* caller's buffer; holds one encoded frame, decoded in place */
    size_t cap;
    size_t len;
    bool overflow;  /* discarding until the next delimiter */
    ec_framing_stats_t stats;
} ec_deframer_t;

int ec_deframer_init(ec_deframer_t *d, uint8_t *buf, size_t cap);

/* Feed one byte. Returns 1 and sets *payload and *len (pointing into the buffer, valid
 * until the next feed) when a valid frame completes, 0 otherwise (or a negative
 * ec_err_t for the bad frame that just ended; already counted in stats). */
int ec_deframer_feed(ec_deframer_t *d, uint8_t byte, const uint8_t **payload, size_t *len);

#endif /* EC_FRAMING_H */
