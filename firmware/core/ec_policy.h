/* ec_policy.h - what the device reports and whether it attaches the frame.
 *
 * Pure functions, float32 only, written so that the Python twin
 * (edgecascade.emulator.policy) computes bit-identical results:
 *   - confidence of an int8 softmax output q: c = (float)(q - zp) * scale, clamped to
 *     0..1, to wire as (uint16_t)(c * 65535.0f + 0.5f) (== protocol confidence_to_wire);
 *   - top-k: highest q first, ties broken by the lower class index;
 *   - complexity: (float)(sum |x_i - mean_i|) / (float)(n * 255), the sum exact in uint32;
 *   - attach the frame when top1 < conf threshold (low_confidence), else when
 *     top1 - top2 < margin threshold (small_margin), else when complexity > limit
 *     (complex_input); thresholds are converted to u16 once, with the same rounding.
 *     top2 is the second confidence SENT (0 when k == 1), the margin the gateway
 *     computes from the report (protocol Report.margin).
 * Build with -ffp-contract=off so no compiler fuses the multiply-add.
 */
#ifndef EC_POLICY_H
#define EC_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ec_err.h"
#include "ec_report.h"

typedef enum {
    EC_REASON_CONFIDENT = 0, /* no frame attached */
    EC_REASON_LOW_CONFIDENCE = 1,
    EC_REASON_SMALL_MARGIN = 2,
    EC_REASON_COMPLEX_INPUT = 3,
    EC_REASON_AUDIT = 4 /* confident, frame attached for the gateway to audit */
} ec_reason_t;

/* The edgecascade.protocol.Reason value of a reason ("confident", "low_confidence"...). */
const char *ec_reason_name(ec_reason_t reason);

typedef struct {
    float conf_threshold;   /* 0..1 */
    float margin_threshold; /* 0..1 */
    float complexity_limit; /* >= 0 */
} ec_thresholds_t;

typedef struct {
    uint16_t conf_u16;
    uint16_t margin_u16;
    float complexity_limit;
    uint16_t audit_share; /* confident reports audited, in 1/65536 (0: none) */
} ec_policy_t;

typedef struct {
    uint8_t k;
    uint16_t classes[EC_MAX_TOPK];
    uint16_t confidences[EC_MAX_TOPK];
    uint16_t top2_confidence; /* confidences[1], or 0 when k == 1 (as Report.margin) */
    float complexity;
    bool attach;
    ec_reason_t reason;
} ec_decision_t;

/* Fixed-point confidence of a float (clamped to 0..1; NaN counts as 0). */
uint16_t ec_confidence_to_wire(float confidence);
/* Confidence of one int8 output with the output tensor's quantization. */
uint16_t ec_confidence_from_q(int8_t q, float scale, int32_t zero_point);

/* EC_ERR_RANGE unless 0 <= conf, margin <= 1 and limit >= 0 (+inf: never complex). */
int ec_policy_init(ec_policy_t *policy, const ec_thresholds_t *thresholds);

/* Complexity of n uint8 pixels against a uint8 mean image (0 when n == 0). */
float ec_complexity(const uint8_t *pixels, const uint8_t *mean, size_t n);

/* The generic complexity signal over any int8 input tensor (an image, an IMU window):
 * (float)(sum |x_i - mean_i|) / (float)(n * 255), the sum exact in uint32, against the
 * int8 mean input of the calibration set (0 when n == 0). Equals ec_complexity on raw
 * pixels quantized with scale 1/255 and zero point -128 (q == pixel - 128).
 * Twin: edgecascade.emulator.policy.complexity_q. */
float ec_complexity_q(const int8_t *x, const int8_t *mean, size_t n);

/* Top-k of n int8 outputs (n <= 255), k = min(k, n, EC_MAX_TOPK). */
int ec_topk(const int8_t *q, size_t n, uint8_t k, uint8_t *out_idx);

/* The whole decision for one inference. n_classes 1..255, k 1..EC_MAX_TOPK. */
int ec_policy_decide(const ec_policy_t *policy, const int8_t *outputs, size_t n_classes,
                     float out_scale, int32_t out_zero_point, uint8_t k,
                     const uint8_t *pixels, const uint8_t *mean, size_t n_pixels,
                     ec_decision_t *out);

/* Audit sampling: whether report (device_id, epoch, seq) is in the audited subset of a
 * share in 1/65536. Deterministic and stateless:
 *   h = fmix32(seq ^ (epoch * 0x9E3779B1) ^ fnv1a32(device_id))
 * (fmix32: the MurmurHash3 finalizer; fnv1a32 over the id's bytes, so devices sharing an
 * epoch audit different reports), picked when (h >> 16) < share. The gateway can
 * recompute it. Twin: edgecascade.protocol.audit.audit_pick. */
bool ec_audit_pick(const char *device_id, uint32_t epoch, uint32_t seq, uint16_t share);

/* After ec_policy_decide: a confident decision of a picked report attaches the frame
 * with reason EC_REASON_AUDIT (the device's answer stands; the gateway only measures). */
void ec_policy_audit(const ec_policy_t *policy, const char *device_id, uint32_t epoch,
                     uint32_t seq, ec_decision_t *d);

/* uint8 pixels -> the model's int8 input: q = round_half_away(p/255/scale) + zp, clamped. */
int ec_quantize_pixels(const uint8_t *pixels, size_t n, float scale, int32_t zero_point,
                       int8_t *out);

#endif /* EC_POLICY_H */
