/* Preprocessing: the golden vectors of firmware/tests/vectors (the Python twin's bytes)
 * and the rules' edges. Runs on the host and under QEMU Cortex-M4. */
#include <stdlib.h>
#include <string.h>

#include "ec_err.h"
#include "ec_policy.h"
#include "ec_pre_vectors.h"
#include "ec_preprocess.h"
#include "ec_test.h"

#define N_IMAGE (sizeof ec_pre_image_vecs / sizeof ec_pre_image_vecs[0])
#define N_IMU (sizeof ec_pre_imu_vecs / sizeof ec_pre_imu_vecs[0])

static int same_bytes(const void *a, const void *b, size_t n, const char *name)
{
    if (memcmp(a, b, n) != 0) {
        fprintf(stderr, "preprocess vector %s: bytes differ\n", name);
        return 0;
    }
    return 1;
}

void test_preprocess_vectors(void)
{
    static uint8_t pixels[64 * 64];
    static int8_t out[64 * 64];
    size_t i;
    CHECK(N_IMAGE >= 3);
    CHECK(N_IMU >= 2);
    for (i = 0; i < N_IMAGE; i++) {
        const ec_pre_image_vec_t *v = &ec_pre_image_vecs[i];
        size_t n = (size_t)v->out_w * v->out_h;
        CHECK(n <= sizeof pixels);
        CHECK_EQ(ec_pre_image(v->in, v->in_len, v->fmt, v->w, v->h, &v->crop, v->out_w,
                              v->out_h, v->invert, pixels),
                 EC_OK);
        CHECK(same_bytes(pixels, v->pixels, n, v->name));
        CHECK_EQ(ec_pre_quantize_u8(pixels, n, v->mult, EC_PRE_SHIFT, v->zp, out), EC_OK);
        CHECK(same_bytes(out, v->out, n, v->name));
    }
    for (i = 0; i < N_IMU; i++) {
        const ec_pre_imu_vec_t *v = &ec_pre_imu_vecs[i];
        CHECK(v->steps * v->channels <= sizeof out);
        CHECK_EQ(ec_pre_imu_window(v->in, v->steps, v->channels, v->mults, EC_PRE_SHIFT, v->zp,
                                   out),
                 EC_OK);
        CHECK(same_bytes(out, v->out, v->steps * v->channels, v->name));
    }
}

void test_preprocess_rules(void)
{
    ec_rect_t c;
    uint8_t px[4];
    int8_t q[256];
    int8_t qf[256];
    uint8_t all[256];
    const uint8_t rgb565_white_red[4] = {0xFF, 0xFF, 0xF8, 0x00};
    const int32_t mult1[1] = {1 << EC_PRE_SHIFT};
    const int16_t s[2] = {-3, 3};
    size_t i;

    /* center crops: wider, taller, same aspect */
    CHECK_EQ(ec_pre_center_crop(160, 120, 28, 28, &c), EC_OK);
    CHECK(c.x == 20 && c.y == 0 && c.w == 120 && c.h == 120);
    CHECK_EQ(ec_pre_center_crop(96, 96, 28, 28, &c), EC_OK);
    CHECK(c.x == 0 && c.y == 0 && c.w == 96 && c.h == 96);
    CHECK_EQ(ec_pre_center_crop(100, 301, 1, 2, &c), EC_OK);
    CHECK(c.x == 0 && c.y == 50 && c.w == 100 && c.h == 200);
    CHECK_EQ(ec_pre_center_crop(0, 1, 1, 1, &c), EC_ERR_ARG);

    /* RGB565 high byte first, bit replication: white is 255, pure red 76 */
    c.x = 0;
    c.y = 0;
    c.w = 1;
    c.h = 1;
    CHECK_EQ(ec_pre_image(rgb565_white_red, 4, EC_PIX_RGB565_BE, 2, 1, &c, 1, 1, 0, px), EC_OK);
    CHECK_EQ(px[0], 255);
    c.x = 1;
    CHECK_EQ(ec_pre_image(rgb565_white_red, 4, EC_PIX_RGB565_BE, 2, 1, &c, 1, 1, 1, px), EC_OK);
    CHECK_EQ(px[0], 255 - ((77 * 255 + 128) >> 8));
    /* box mean rounds half up: (0 + 255 + 1) / 2 */
    c.x = 0;
    c.w = 2;
    {
        const uint8_t g[2] = {0, 255};
        CHECK_EQ(ec_pre_image(g, 2, EC_PIX_GRAY8, 2, 1, &c, 1, 1, 0, px), EC_OK);
        CHECK_EQ(px[0], 128);
        /* bad input: a crop outside the frame, a short buffer, an unknown format */
        c.w = 3;
        CHECK_EQ(ec_pre_image(g, 2, EC_PIX_GRAY8, 2, 1, &c, 1, 1, 0, px), EC_ERR_ARG);
        c.w = 2;
        CHECK_EQ(ec_pre_image(g, 1, EC_PIX_GRAY8, 2, 1, &c, 1, 1, 0, px), EC_ERR_TRUNCATED);
        CHECK_EQ(ec_pre_image(g, 2, (ec_pixfmt_t)7, 2, 1, &c, 1, 1, 0, px), EC_ERR_ARG);
    }

    /* floor rounding of negative halves: -0.5 -> 0 (half up), 0.5 -> 1 */
    CHECK_EQ(ec_pre_quantize_one(-1, 1 << (EC_PRE_SHIFT - 1), EC_PRE_SHIFT, 0), 0);
    CHECK_EQ(ec_pre_quantize_one(1, 1 << (EC_PRE_SHIFT - 1), EC_PRE_SHIFT, 0), 1);
    CHECK_EQ(ec_pre_quantize_one(-3, 1 << (EC_PRE_SHIFT - 1), EC_PRE_SHIFT, 0), -1);
    CHECK_EQ(ec_pre_quantize_one(1000, 1 << EC_PRE_SHIFT, EC_PRE_SHIFT, 0), 127);
    CHECK_EQ(ec_pre_quantize_one(-1000, 1 << EC_PRE_SHIFT, EC_PRE_SHIFT, 0), -128);
    CHECK_EQ(ec_pre_imu_window(s, 2, 1, mult1, EC_PRE_SHIFT, 5, q), EC_OK);
    CHECK(q[0] == 2 && q[1] == 8);
    CHECK_EQ(ec_pre_imu_window(NULL, 2, 1, mult1, EC_PRE_SHIFT, 0, q), EC_ERR_ARG);

    /* The shipped image quantization (1/255, -128) in fixed point equals the float
     * rule of ec_quantize_pixels on every pixel value. */
    for (i = 0; i < 256; i++) {
        all[i] = (uint8_t)i;
    }
    CHECK_EQ(ec_pre_quantize_u8(all, 256, 1 << EC_PRE_SHIFT, EC_PRE_SHIFT, -128, q), EC_OK);
    CHECK_EQ(ec_quantize_pixels(all, 256, 0.00392156886f, -128, qf), EC_OK);
    CHECK(memcmp(q, qf, sizeof q) == 0);
}

/* A box of more than 2^32 / 255 pixels (a large frame to a tiny input): its sum does not
 * fit 32 bits. The Python twin's integers do not overflow; the C core must not either.
 * Host only: 17 MB are more than the QEMU board's RAM (malloc fails there: skipped). */
void test_preprocess_large_box(void)
{
    const uint16_t w = 4200;
    const uint16_t h = 4100; /* 17,220,000 pixels of 255: the sum is 4,391,100,000 */
    uint8_t *frame = malloc((size_t)w * h);
    uint8_t px[1];
    ec_rect_t c;
    if (frame == NULL) {
        return;
    }
    memset(frame, 255, (size_t)w * h);
    c.x = 0;
    c.y = 0;
    c.w = w;
    c.h = h;
    CHECK_EQ(ec_pre_image(frame, (size_t)w * h, EC_PIX_GRAY8, w, h, &c, 1, 1, 0, px), EC_OK);
    CHECK_EQ(px[0], 255);
    frame[0] = 0; /* one dark pixel in 17 million: the rounded mean stays 255 */
    CHECK_EQ(ec_pre_image(frame, (size_t)w * h, EC_PIX_GRAY8, w, h, &c, 1, 1, 1, px), EC_OK);
    CHECK_EQ(px[0], 0);
    free(frame);
}
