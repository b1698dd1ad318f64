/* ec_preprocess.h - a sensor's output -> the model's int8 input (pure integer code).
 *
 * Camera frames: crop, resize, grayscale, optional inversion, then int8 quantization.
 * IMU windows: raw sensor counts -> the model's int8 window (channels x steps).
 * Parameters come from the registry's input contract through the generated
 * ec_settings.h (EC_PRE_*). Every step is integer arithmetic with its rounding
 * defined here, so the Python twin (edgecascade.models.preprocess) is byte-identical:
 *
 *   gray of RGB (8-bit channels): (77 R + 150 G + 29 B + 128) >> 8  (BT.601 luma);
 *     RGB565 channels widen by bit replication: R8 = R5 << 3 | R5 >> 2,
 *     G8 = G6 << 2 | G6 >> 4; RGB565 pixels are 2 bytes, high byte first (what
 *     esp32-camera's PIXFORMAT_RGB565 frame buffer holds);
 *   resize ("box", an area resize on integer boxes): output pixel (oy, ox) of an
 *     out_h x out_w image from a crop of ch x cw is the mean of the crop's rows
 *     [oy*ch/out_h, (oy+1)*ch/out_h) and columns [ox*cw/out_w, (ox+1)*cw/out_w)
 *     (integer division; a box is widened to 1 pixel when upscaling), computed as
 *     (sum + count / 2) / count on the gray values;
 *   invert: 255 - mean (a model trained on light-on-dark, seeing dark ink on paper);
 *   quantize: q = clamp(zp + floor((x * mult + 2^(shift-1)) / 2^shift), -128, 127),
 *     x the 8-bit gray (image) or the signed raw count (IMU), mult the fixed-point
 *     ratio of the value's unit to the model's input scale (the generator computes
 *     it once: round(2^shift * unit / scale)).
 */
#ifndef EC_PREPROCESS_H
#define EC_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    EC_PIX_GRAY8 = 0,     /* 1 byte per pixel */
    EC_PIX_RGB565_BE = 1, /* 2 bytes per pixel, high byte first */
    EC_PIX_RGB888 = 2     /* 3 bytes per pixel, R G B */
} ec_pixfmt_t;

typedef struct {
    uint16_t x, y, w, h;
} ec_rect_t;

/* Fixed-point shift of every quantization multiplier. */
#define EC_PRE_SHIFT 20

/* Bytes per pixel of a format (0 for an unknown one). */
size_t ec_pre_pixel_bytes(ec_pixfmt_t fmt);

/* The largest centered crop of a src_w x src_h frame with the out_w:out_h aspect
 * ratio (x, y rounded down). EC_ERR_ARG on a zero dimension. */
int ec_pre_center_crop(uint16_t src_w, uint16_t src_h, uint16_t out_w, uint16_t out_h,
                       ec_rect_t *crop);

/* One frame (src_len bytes, rows of src_w pixels of fmt, no padding) -> out_h x out_w
 * uint8 gray pixels of the crop, resized and optionally inverted (rules above).
 * EC_ERR_ARG on NULLs, a zero size or a crop outside the frame; EC_ERR_TRUNCATED when
 * src_len is shorter than src_w * src_h pixels. */
int ec_pre_image(const uint8_t *src, size_t src_len, ec_pixfmt_t fmt, uint16_t src_w,
                 uint16_t src_h, const ec_rect_t *crop, uint16_t out_w, uint16_t out_h,
                 int invert, uint8_t *out);

/* One value -> int8: clamp(zp + floor((x * mult + 2^(shift-1)) / 2^shift)). */
int8_t ec_pre_quantize_one(int32_t x, int32_t mult, int shift, int32_t zero_point);

/* n uint8 gray pixels -> the model's int8 input (one multiplier for all). */
int ec_pre_quantize_u8(const uint8_t *pixels, size_t n, int32_t mult, int shift,
                       int32_t zero_point, int8_t *out);

/* A window of raw IMU counts, interleaved (steps x channels, as a sensor's FIFO gives
 * them) -> the model's int8 window, channels x steps, with one multiplier per channel.
 * EC_ERR_ARG on NULLs or a zero size. */
int ec_pre_imu_window(const int16_t *samples, size_t steps, size_t channels,
                      const int32_t *mult, int shift, int32_t zero_point, int8_t *out);

#endif /* EC_PREPROCESS_H */
