#include "ec_policy.h"

const char *ec_reason_name(ec_reason_t reason)
{
    switch (reason) {
    case EC_REASON_LOW_CONFIDENCE: return "low_confidence";
    case EC_REASON_SMALL_MARGIN: return "small_margin";
    case EC_REASON_COMPLEX_INPUT: return "complex_input";
    case EC_REASON_AUDIT: return "audit";
    case EC_REASON_CONFIDENT:
    default: return "confident";
    }
}

uint16_t ec_confidence_to_wire(float confidence)
{
    float c = confidence;
    float scaled;
    float rounded;
    if (!(c > 0.0f)) {
        c = 0.0f; /* also NaN */
    }
    if (c > 1.0f) {
        c = 1.0f;
    }
    scaled = c * (float)EC_CONFIDENCE_SCALE;
    rounded = scaled + 0.5f;
    return (uint16_t)rounded;
}

uint16_t ec_confidence_from_q(int8_t q, float scale, int32_t zero_point)
{
    float c = (float)((int32_t)q - zero_point) * scale;
    return ec_confidence_to_wire(c);
}

int ec_policy_init(ec_policy_t *policy, const ec_thresholds_t *t)
{
    if (policy == NULL || t == NULL) {
        return EC_ERR_ARG;
    }
    if (!(t->conf_threshold >= 0.0f && t->conf_threshold <= 1.0f) ||
        !(t->margin_threshold >= 0.0f && t->margin_threshold <= 1.0f) ||
        !(t->complexity_limit >= 0.0f)) { /* +inf allowed: no complexity test */
        return EC_ERR_RANGE;
    }
    policy->conf_u16 = ec_confidence_to_wire(t->conf_threshold);
    policy->margin_u16 = ec_confidence_to_wire(t->margin_threshold);
    policy->complexity_limit = t->complexity_limit;
    policy->audit_share = 0;
    return EC_OK;
}

float ec_complexity(const uint8_t *pixels, const uint8_t *mean, size_t n)
{
    uint32_t sum = 0;
    size_t i;
    if (n == 0 || pixels == NULL || mean == NULL) {
        return 0.0f;
    }
    for (i = 0; i < n; i++) {
        sum += (uint32_t)(pixels[i] > mean[i] ? pixels[i] - mean[i] : mean[i] - pixels[i]);
    }
    return (float)sum / (float)((uint32_t)n * 255u);
}

float ec_complexity_q(const int8_t *x, const int8_t *mean, size_t n)
{
    uint32_t sum = 0;
    size_t i;
    if (n == 0 || x == NULL || mean == NULL) {
        return 0.0f;
    }
    for (i = 0; i < n; i++) {
        int32_t d = (int32_t)x[i] - (int32_t)mean[i];
        sum += (uint32_t)(d < 0 ? -d : d);
    }
    return (float)sum / (float)((uint32_t)n * 255u);
}

int ec_topk(const int8_t *q, size_t n, uint8_t k, uint8_t *out_idx)
{
    uint8_t taken = 0;
    uint8_t j;
    size_t i;
    if (q == NULL || out_idx == NULL || n == 0 || n > 255 || k == 0) {
        return EC_ERR_ARG;
    }
    if (k > EC_MAX_TOPK) {
        k = EC_MAX_TOPK;
    }
    if ((size_t)k > n) {
        k = (uint8_t)n;
    }
    /* Selection by repeated scans: n <= 255 and k <= 10, so no sort is needed.
     * A class is better when its q is higher, or equal with a lower index. */
    while (taken < k) {
        int best = -1;
        for (i = 0; i < n; i++) {
            int used = 0;
            for (j = 0; j < taken; j++) {
                if (out_idx[j] == i) {
                    used = 1;
                    break;
                }
            }
            if (!used && (best < 0 || q[i] > q[best])) {
                best = (int)i;
            }
        }
        out_idx[taken++] = (uint8_t)best;
    }
    return (int)k;
}

int ec_policy_decide(const ec_policy_t *policy, const int8_t *outputs, size_t n_classes,
                     float out_scale, int32_t out_zero_point, uint8_t k,
                     const uint8_t *pixels, const uint8_t *mean, size_t n_pixels,
                     ec_decision_t *out)
{
    uint8_t idx[EC_MAX_TOPK];
    int got;
    uint8_t i;
    uint16_t top1;
    if (policy == NULL || out == NULL || k == 0 || k > EC_MAX_TOPK || !(out_scale > 0.0f)) {
        return EC_ERR_ARG;
    }
    got = ec_topk(outputs, n_classes, k, idx);
    if (got < 0) {
        return got;
    }
    out->k = (uint8_t)got;
    for (i = 0; i < out->k; i++) {
        out->classes[i] = idx[i];
        out->confidences[i] = ec_confidence_from_q(outputs[idx[i]], out_scale, out_zero_point);
    }
    /* The margin the gateway sees (Report.margin): top-2 as sent, 0 when k == 1. */
    top1 = out->confidences[0];
    out->top2_confidence = out->k > 1 ? out->confidences[1] : 0;
    out->complexity = ec_complexity(pixels, mean, n_pixels);
    if (top1 < policy->conf_u16) {
        out->reason = EC_REASON_LOW_CONFIDENCE;
    } else if ((uint16_t)(top1 - out->top2_confidence) < policy->margin_u16) {
        out->reason = EC_REASON_SMALL_MARGIN;
    } else if (out->complexity > policy->complexity_limit) {
        out->reason = EC_REASON_COMPLEX_INPUT;
    } else {
        out->reason = EC_REASON_CONFIDENT;
    }
    out->attach = out->reason != EC_REASON_CONFIDENT;
    return EC_OK;
}

int ec_quantize_pixels(const uint8_t *pixels, size_t n, float scale, int32_t zero_point,
                       int8_t *out)
{
    size_t i;
    if (pixels == NULL || out == NULL || !(scale > 0.0f)) {
        return EC_ERR_ARG;
    }
    for (i = 0; i < n; i++) {
        float v = ((float)pixels[i] / 255.0f) / scale;
        int32_t q = (int32_t)(v + 0.5f) + zero_point; /* v >= 0: half away from zero */
        out[i] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
    }
    return EC_OK;
}

bool ec_audit_pick(const char *device_id, uint32_t epoch, uint32_t seq, uint16_t share)
{
    uint32_t id = 0x811C9DC5u; /* FNV-1a offset basis */
    uint32_t h;
    const unsigned char *c = (const unsigned char *)(device_id != NULL ? device_id : "");
    for (; *c != 0u; c++) {
        id ^= (uint32_t)*c;
        id *= 0x01000193u;
    }
    h = seq ^ (epoch * 0x9E3779B1u) ^ id;
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return (h >> 16) < (uint32_t)share;
}

void ec_policy_audit(const ec_policy_t *policy, const char *device_id, uint32_t epoch,
                     uint32_t seq, ec_decision_t *d)
{
    if (policy == NULL || d == NULL || d->reason != EC_REASON_CONFIDENT) {
        return;
    }
    if (ec_audit_pick(device_id, epoch, seq, policy->audit_share)) {
        d->reason = EC_REASON_AUDIT;
        d->attach = true;
    }
}
