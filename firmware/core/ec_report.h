/* ec_report.h - encoders for the device's own messages (protocol/messages.py).
 *
 * ec_report_encode() writes a Report and ec_state_encode() a DeviceState (birth and
 * last will) exactly as the Python codec does: a map with integer keys in ascending
 * order, key 0 = schema version, optional fields left out while absent/false.
 * Checked against protocol/vectors/report_*.bin and device_{birth,death}.bin.
 */
#ifndef EC_REPORT_H
#define EC_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../generated/ec_limits.h" /* EC_MAX_*, EC_SCHEMA_VERSION: from protocol/limits.py */
#include "ec_err.h"

typedef enum { EC_DTYPE_UINT8 = 0, EC_DTYPE_INT8 = 1 } ec_dtype_t;

typedef struct {
    const uint8_t *data; /* product(shape) bytes */
    uint32_t len;
    uint16_t shape[EC_MAX_FRAME_DIMS];
    uint8_t ndims;       /* 1..EC_MAX_FRAME_DIMS */
    ec_dtype_t dtype;
    float scale;         /* >= 0 */
    int16_t zero_point;  /* -128..255 */
} ec_frame_t;

typedef struct {
    const char *device_id; /* [A-Za-z0-9_-]{1,64} */
    uint32_t epoch;
    uint32_t seq;
    uint64_t ts_ms;
    const char *model_id;  /* 1..64 characters */
    uint32_t model_version;
    uint8_t k;             /* 1..EC_MAX_TOPK classes sent */
    uint16_t classes[EC_MAX_TOPK];
    uint16_t confidences[EC_MAX_TOPK]; /* fixed point /65535, highest first */
    const ec_frame_t *frame;           /* NULL: no frame attached */
    bool has_complexity;
    float complexity;
    bool has_deadline;
    uint32_t deadline_ms;
    bool has_priority;
    uint8_t priority;
    bool is_private;
} ec_report_t;

typedef struct {
    const char *device_id;
    bool online;
    uint64_t ts_ms;
    bool has_epoch;
    uint32_t epoch;
    const char *model_id;   /* NULL: absent */
    bool has_model_version;
    uint32_t model_version;
    const char *fw_version; /* NULL: absent; 1..32 characters */
    bool has_dropped;
    uint32_t dropped;
} ec_state_t;

/* 1 when s is a valid id ([A-Za-z0-9_-]{1,64}), else 0. */
int ec_id_valid(const char *s);

/* Encode into buf[cap]; *out_len gets the size. EC_ERR_ARG for an invalid report
 * (bad id, k out of range, unsorted confidences, frame size/shape mismatch),
 * EC_ERR_NOSPACE when cap is too small. */
int ec_report_encode(const ec_report_t *rep, uint8_t *buf, size_t cap, size_t *out_len);
int ec_state_encode(const ec_state_t *st, uint8_t *buf, size_t cap, size_t *out_len);

#endif /* EC_REPORT_H */
