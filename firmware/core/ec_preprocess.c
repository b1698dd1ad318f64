/* ec_preprocess.c - sensor output -> model input, integer only (rules in the header). */
#include "ec_preprocess.h"

#include "ec_err.h"

size_t ec_pre_pixel_bytes(ec_pixfmt_t fmt)
{
    switch (fmt) {
    case EC_PIX_GRAY8:
        return 1u;
    case EC_PIX_RGB565_BE:
        return 2u;
    case EC_PIX_RGB888:
        return 3u;
    default:
        return 0u;
    }
}

int ec_pre_center_crop(uint16_t src_w, uint16_t src_h, uint16_t out_w, uint16_t out_h,
                       ec_rect_t *crop)
{
    uint32_t w;
    uint32_t h;
    if (crop == NULL || src_w == 0u || src_h == 0u || out_w == 0u || out_h == 0u) {
        return EC_ERR_ARG;
    }
    /* the widest w <= src_w with w / h == out_w / out_h and h <= src_h */
    if ((uint32_t)src_w * out_h <= (uint32_t)src_h * out_w) {
        w = src_w;
        h = (uint32_t)src_w * out_h / out_w;
    } else {
        h = src_h;
        w = (uint32_t)src_h * out_w / out_h;
    }
    if (w == 0u) {
        w = 1u;
    }
    if (h == 0u) {
        h = 1u;
    }
    crop->x = (uint16_t)((src_w - w) / 2u);
    crop->y = (uint16_t)((src_h - h) / 2u);
    crop->w = (uint16_t)w;
    crop->h = (uint16_t)h;
    return EC_OK;
}

static uint32_t gray_at(const uint8_t *p, ec_pixfmt_t fmt)
{
    uint32_t r;
    uint32_t g;
    uint32_t b;
    if (fmt == EC_PIX_GRAY8) {
        return p[0];
    }
    if (fmt == EC_PIX_RGB565_BE) {
        uint32_t v = ((uint32_t)p[0] << 8) | p[1];
        uint32_t r5 = v >> 11;
        uint32_t g6 = (v >> 5) & 0x3Fu;
        uint32_t b5 = v & 0x1Fu;
        r = (r5 << 3) | (r5 >> 2);
        g = (g6 << 2) | (g6 >> 4);
        b = (b5 << 3) | (b5 >> 2);
    } else {
        r = p[0];
        g = p[1];
        b = p[2];
    }
    return (77u * r + 150u * g + 29u * b + 128u) >> 8;
}

/* [lo, hi) of box i of n over a span of len, at least one element wide. */
static void box(uint32_t i, uint32_t n, uint32_t len, uint32_t *lo, uint32_t *hi)
{
    *lo = i * len / n;
    *hi = (i + 1u) * len / n;
    if (*hi <= *lo) {
        *hi = *lo + 1u;
    }
}

/* (sum + count / 2) / count for a mean of 8-bit values (at most 255), by shift and
 * subtract: no 64-bit division helper is linked (the sum of a large box needs 64 bits) */
static uint32_t rounded_mean(uint64_t sum, uint32_t count)
{
    uint64_t rest = sum + count / 2u;
    uint32_t mean = 0;
    int bit;
    for (bit = 7; bit >= 0; bit--) {
        uint64_t step = (uint64_t)count << bit;
        if (rest >= step) {
            rest -= step;
            mean |= 1u << bit;
        }
    }
    return mean;
}

int ec_pre_image(const uint8_t *src, size_t src_len, ec_pixfmt_t fmt, uint16_t src_w,
                 uint16_t src_h, const ec_rect_t *crop, uint16_t out_w, uint16_t out_h,
                 int invert, uint8_t *out)
{
    size_t bpp = ec_pre_pixel_bytes(fmt);
    uint32_t oy;
    uint32_t ox;
    if (src == NULL || crop == NULL || out == NULL || bpp == 0u || src_w == 0u ||
        src_h == 0u || out_w == 0u || out_h == 0u || crop->w == 0u || crop->h == 0u ||
        (uint32_t)crop->x + crop->w > src_w || (uint32_t)crop->y + crop->h > src_h) {
        return EC_ERR_ARG;
    }
    if (src_len / bpp / src_w < src_h) {
        return EC_ERR_TRUNCATED;
    }
    for (oy = 0; oy < out_h; oy++) {
        uint32_t y0;
        uint32_t y1;
        box(oy, out_h, crop->h, &y0, &y1);
        for (ox = 0; ox < out_w; ox++) {
            uint32_t x0;
            uint32_t x1;
            uint32_t y;
            uint64_t sum = 0; /* a box of a large frame holds more than 2^32 / 255 pixels */
            uint32_t count;
            uint32_t mean;
            box(ox, out_w, crop->w, &x0, &x1);
            for (y = y0; y < y1; y++) {
                const uint8_t *row = src + ((size_t)(crop->y + y) * src_w + crop->x) * bpp;
                uint32_t row_sum = 0; /* < 65536 * 256 */
                uint32_t x;
                for (x = x0; x < x1; x++) {
                    row_sum += gray_at(row + (size_t)x * bpp, fmt);
                }
                sum += row_sum;
            }
            count = (y1 - y0) * (x1 - x0); /* < 2^32: each side < 65536 */
            mean = rounded_mean(sum, count);
            out[(size_t)oy * out_w + ox] = (uint8_t)(invert ? 255u - mean : mean);
        }
    }
    return EC_OK;
}

int8_t ec_pre_quantize_one(int32_t x, int32_t mult, int shift, int32_t zero_point)
{
    /* >> of a negative int64 is an arithmetic shift (floor) on GCC and Clang, every
     * target; no 64-bit division helper is linked. */
    int64_t q = (((int64_t)x * mult + ((int64_t)1 << (shift - 1))) >> shift) + zero_point;
    return (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
}

int ec_pre_quantize_u8(const uint8_t *pixels, size_t n, int32_t mult, int shift,
                       int32_t zero_point, int8_t *out)
{
    size_t i;
    if (pixels == NULL || out == NULL || shift < 1 || shift > 30) {
        return EC_ERR_ARG;
    }
    for (i = 0; i < n; i++) {
        out[i] = ec_pre_quantize_one(pixels[i], mult, shift, zero_point);
    }
    return EC_OK;
}

int ec_pre_imu_window(const int16_t *samples, size_t steps, size_t channels,
                      const int32_t *mult, int shift, int32_t zero_point, int8_t *out)
{
    size_t t;
    size_t c;
    if (samples == NULL || mult == NULL || out == NULL || steps == 0u || channels == 0u ||
        shift < 1 || shift > 30) {
        return EC_ERR_ARG;
    }
    for (c = 0; c < channels; c++) {
        for (t = 0; t < steps; t++) {
            out[c * steps + t] =
                ec_pre_quantize_one(samples[t * channels + c], mult[c], shift, zero_point);
        }
    }
    return EC_OK;
}
